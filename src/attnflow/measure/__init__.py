"""Measurements of token clouds: each takes a Trajectory and returns labelled arrays over its axis.

Every per-state measurement returns an :class:`xarray.DataArray` (or ``Dataset``) whose first
dimension is the trajectory's axis (``"time"`` for a simulated flow, ``"layer"`` for a network), with
the trajectory's times as coordinates. Analysis runs in float64 whatever the trajectory's dtype.
"""

from attnflow.measure.attention import attention_entropy
from attnflow.measure.clusters import DEFAULT_TOL, cluster_labels, clusters
from attnflow.measure.energy import energy
from attnflow.measure.metastability import plateaus
from attnflow.measure.pairs import cosine_histogram, energy_staircase, fraction_close_pairs, min_inner_product
from attnflow.measure.rank import collapse_residual, effective_rank
from attnflow.measure.transport import cloud_distance

__all__ = [
    "DEFAULT_TOL",
    "attention_entropy",
    "cloud_distance",
    "cluster_labels",
    "clusters",
    "collapse_residual",
    "cosine_histogram",
    "effective_rank",
    "energy",
    "energy_staircase",
    "fraction_close_pairs",
    "min_inner_product",
    "plateaus",
]
