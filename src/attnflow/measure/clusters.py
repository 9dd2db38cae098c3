"""Clusters at every state: how many, who belongs where, and how heavy each is (tokens or a density)."""

from __future__ import annotations

import numpy as np
import xarray as xr
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from attnflow._validate import check_trajectory, positive_number
from attnflow.measure._common import states
from attnflow.measure.density import DEFAULT_PROMINENCE, density_clusters
from attnflow.trajectory import DensityTrajectory, Trajectory

DEFAULT_TOL = 0.05


def cluster_labels(x: np.ndarray, tol: float = DEFAULT_TOL) -> np.ndarray:
    """Single-linkage cluster labels of one cloud ``(n, d)``: tokens chained by steps of length ≤ ``tol``.

    Labels are ``0, 1, ...`` in order of decreasing cluster size (ties broken by the lowest token index).

    Args:
        x: the cloud, shape ``(n, d)``.
        tol: the linking distance (Euclidean), > 0.

    Returns:
        Integer labels, shape ``(n,)``.
    """
    tol = positive_number("tol", tol)
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[0]
    pairs = cKDTree(x).query_pairs(r=tol, output_type="ndarray")
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, raw = connected_components(graph, directed=False)
    sizes = np.bincount(raw)
    first = np.full(sizes.size, n)
    np.minimum.at(first, raw, np.arange(n))
    order = np.lexsort((first, -sizes))
    relabel = np.empty_like(order)
    relabel[order] = np.arange(order.size)
    return relabel[raw]


def clusters(
    data: Trajectory | DensityTrajectory, tol: float | None = None, prominence: float | None = None
) -> xr.Dataset:
    """Clusters at every state: of tokens by single linkage at Euclidean distance ``tol``, of a density as
    its peaks of relative height ``prominence``.

    Two tokens are in the same cluster when a chain of tokens joins them with every step
    ``|x_i − x_j| ≤ tol``. The tolerance is a Euclidean distance in both geometries; on the unit sphere
    ``|x_i − x_j|² = 2 − 2⟨x_i, x_j⟩``, so a link means ``⟨x_i, x_j⟩ ≥ 1 − tol²/2``, i.e. an angle of at
    most ``2 arcsin(tol/2)`` (the default ``tol = 0.05`` links tokens within 0.05 rad ≈ 2.9°, inner
    product ≥ 0.99875). Choose ``tol`` below the gap between clusters and above their width.

    For a :class:`~attnflow.DensityTrajectory` the clusters are the density's peaks whose prominence is at
    least ``prominence`` uniform densities (default 0.5), with their arcs' masses
    (:func:`attnflow.measure.density.density_clusters`).

    Args:
        data: the token clouds, or the densities.
        tol: tokens only: the linking distance, > 0 (default :data:`DEFAULT_TOL`).
        prominence: densities only: the peak threshold in units of the uniform density ``1/(2π)``.

    Returns:
        For tokens, a ``Dataset`` over the trajectory's axis with ``count`` (number of clusters),
        ``labels`` (``(axis, token)``: cluster index of each token, 0 = the largest cluster) and ``mass``
        (``(axis, cluster)``: the fraction of tokens in each cluster, largest first, 0 past ``count``).
        For a density, ``count`` and ``position``, ``height``, ``mass`` over ``(time, cluster)``.

    Raises:
        ValueError: ``tol`` or ``prominence`` is not > 0.
        TypeError: ``tol`` given for a density or ``prominence`` for tokens.
    """
    if isinstance(data, DensityTrajectory):
        if tol is not None:
            raise TypeError("tol links tokens; the clusters of a density take prominence")
        return density_clusters(data, DEFAULT_PROMINENCE if prominence is None else prominence)
    if prominence is not None:
        raise TypeError("prominence applies to densities; the clusters of tokens take tol")
    traj = check_trajectory(data, "data")
    tol = positive_number("tol", DEFAULT_TOL if tol is None else tol)
    labels = np.stack([cluster_labels(x.numpy(), tol) for x in states(traj)])
    counts = labels.max(axis=1) + 1
    masses = np.zeros((traj.n_states, int(counts.max())))
    for k, row in enumerate(labels):
        masses[k, : counts[k]] = np.bincount(row) / traj.n_tokens
    axis = traj.axis
    return xr.Dataset(
        {
            "count": ((axis,), counts),
            "labels": ((axis, "token"), labels),
            "mass": ((axis, "cluster"), masses),
        },
        coords={
            axis: traj.times.numpy(),
            "token": np.arange(traj.n_tokens),
            "cluster": np.arange(masses.shape[1]),
        },
        attrs={"tol": tol, "linkage": "single", "inner_product_threshold": 1 - tol**2 / 2},
    )
