"""Measurements of token clouds: each takes a Trajectory and returns labelled arrays over its axis.

Every per-state measurement returns an :class:`xarray.DataArray` (or ``Dataset``) whose first
dimension is the trajectory's axis (``"time"`` for a simulated flow, ``"layer"`` for a network), with
the trajectory's times as coordinates. Analysis runs in float64 whatever the trajectory's dtype, and no
measurement forms an n×n matrix (pairwise statistics go through blocks).

:mod:`attnflow.measure.registry` lists them by name for sweeps; :mod:`attnflow.measure.fits` holds the
shared fits (slopes with confidence intervals, crossing times, entropies). ``energy`` and ``clusters``
take a :class:`~attnflow.DensityTrajectory` too; the other measurements of densities on the circle are
in :mod:`attnflow.measure.density`.
"""

from attnflow.measure import fits, registry
from attnflow.measure.attention import attention_entropy
from attnflow.measure.clusters import DEFAULT_TOL, cluster_labels, clusters
from attnflow.measure.density import (
    distance_to_particles,
    fourier_modes,
    particle_angles,
    wasserstein1_circle,
)
from attnflow.measure.energy import energy
from attnflow.measure.metastability import plateaus
from attnflow.measure.pairs import cosine_histogram, energy_staircase, fraction_close_pairs, min_inner_product
from attnflow.measure.particles import context_travel, fit_dynamics, particle_measures, to_sphere
from attnflow.measure.rank import collapse_residual, effective_rank
from attnflow.measure.transport import cloud_distance

# The registry, explicitly: which measurements a sweep may name and which run parameters each reads.
registry.register("energy", energy, takes=("trajectory", "density"), uses=("beta",))
registry.register("energy_staircase", energy_staircase, uses=("beta",))
registry.register("attention_entropy", attention_entropy, uses=("beta", "causal"))
registry.register("clusters", clusters, takes=("trajectory", "density"))
registry.register("fraction_close_pairs", fraction_close_pairs)
registry.register("min_inner_product", min_inner_product)
registry.register("cosine_histogram", cosine_histogram)
registry.register("effective_rank", effective_rank)
registry.register("collapse_residual", collapse_residual)
registry.register("particle_measures", particle_measures, uses=("beta",))
registry.register("fit_dynamics", fit_dynamics, uses=("causal",))
registry.register("context_travel", context_travel)
registry.register("fourier_modes", fourier_modes, takes="density")

__all__ = [
    "DEFAULT_TOL",
    "attention_entropy",
    "cloud_distance",
    "cluster_labels",
    "clusters",
    "collapse_residual",
    "context_travel",
    "cosine_histogram",
    "distance_to_particles",
    "effective_rank",
    "energy",
    "energy_staircase",
    "fit_dynamics",
    "fits",
    "fourier_modes",
    "fraction_close_pairs",
    "min_inner_product",
    "particle_angles",
    "particle_measures",
    "plateaus",
    "registry",
    "to_sphere",
    "wasserstein1_circle",
]
