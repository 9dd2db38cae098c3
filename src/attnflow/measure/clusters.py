"""Clusters at every state: how many, who belongs where, and how heavy each is (tokens or a density)."""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
import xarray as xr
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from attnflow._validate import check_trajectory, positive_number
from attnflow.measure.density import DEFAULT_PROMINENCE, density_clusters
from attnflow.trajectory import DensityTrajectory, Trajectory

DEFAULT_TOL = 0.05
# Coordinates converted to float64 at once (32 MB), whatever the number of states.
_CHUNK_ENTRIES = 1 << 22


# Relative margin under which a computed distance is too close to ``tol`` to decide without cKDTree's own
# comparison: far above float64 rounding of a distance (1e-16), far below any meaningful tolerance.
_TIE_MARGIN = 1e-9
# Grid cells with more tokens than this are linked to their neighbours through a tree of their own, so no
# dense region ever lists all its pairs (the cause of O(n²) memory on a clustered cloud).
_DENSE_CELL = 8
# Above this dimension a grid has too many neighbouring cells; clusters come from the list of close pairs.
_GRID_MAX_DIM = 3


def cluster_labels(x: np.ndarray, tol: float = DEFAULT_TOL) -> np.ndarray:
    """Single-linkage cluster labels of one cloud ``(n, d)``: tokens chained by steps of length ≤ ``tol``.

    Labels are ``0, 1, ...`` in order of decreasing cluster size (ties broken by the lowest token index).
    The components are those of the graph linking every pair at distance ≤ ``tol`` (as
    :meth:`scipy.spatial.cKDTree.query_pairs` decides it), found without listing the pairs of dense regions:
    in d ≤ 3 on a grid of cells of diagonal < ``tol`` (tokens sharing a cell are linked; a cell with more
    than 8 tokens is linked to nearby tokens through its own tree), which takes O(n log n) time and O(n)
    memory for a cloud of bounded density at scale ``tol``; above d = 3 from the list of close pairs.

    Args:
        x: the cloud, shape ``(n, d)``.
        tol: the linking distance (Euclidean), > 0.

    Returns:
        Integer labels, shape ``(n,)``.
    """
    tol = positive_number("tol", tol)
    x = np.asarray(x, dtype=np.float64)
    return _by_size(_components(x, tol)[None, :])[0]


def _by_size(raw: np.ndarray) -> np.ndarray:
    """Relabel component ids ``(states, n)`` (each row's ids in ``0..n-1``) ``0, 1, ...`` by decreasing size,
    ties by the lowest token index, all states at once."""
    states, n = raw.shape
    flat = raw + n * np.arange(states)[:, None]
    sizes = np.bincount(flat.reshape(-1), minlength=states * n).reshape(states, n)
    first = np.full(states * n, n)
    np.minimum.at(first, flat.reshape(-1), np.tile(np.arange(n), states))
    # One sort key per id: larger clusters first, then the lowest token index; absent ids last.
    key = np.where(sizes > 0, (n - sizes) * (n + 1) + first.reshape(states, n), (n + 1) ** 2)
    order = np.argsort(key, axis=1, kind="stable")
    relabel = np.empty_like(order)
    np.put_along_axis(relabel, order, np.arange(n)[None, :].repeat(states, axis=0), axis=1)
    return np.take_along_axis(relabel, raw, axis=1)


def _components(x: np.ndarray, tol: float) -> np.ndarray:
    """Connected-component ids of the graph of pairs at distance ≤ ``tol`` (any ids, one per component)."""
    n, d = x.shape
    if d > _GRID_MAX_DIM:
        pairs = cKDTree(x).query_pairs(r=tol, output_type="ndarray")
        return _connected(n, pairs)
    # Cells of side tol/√d (shrunk by the tie margin) have diagonal < tol: tokens in one cell are linked.
    side = tol / math.sqrt(d) * (1 - _TIE_MARGIN)
    cells = np.floor((x - x.min(axis=0)) / side).astype(np.int64)
    # Group tokens by cell: a lexicographic sort of the cell indices, cut where they change.
    order = np.lexsort(cells.T[::-1])
    changes = np.any(np.diff(cells[order], axis=0) != 0, axis=1)
    starts = np.flatnonzero(np.concatenate(([True], changes, [True])))
    cell_sizes = np.diff(starts)
    cell_of = np.empty(n, dtype=np.int64)
    cell_of[order] = np.repeat(np.arange(cell_sizes.size), cell_sizes)
    head = order[starts[:-1]]  # one token per cell
    edges = [np.stack([np.arange(n), head[cell_of]], axis=1)]
    dense = cell_sizes[cell_of] > _DENSE_CELL
    sparse = np.flatnonzero(~dense)
    if sparse.size > 1:
        edges.append(sparse[cKDTree(x[sparse]).query_pairs(r=tol, output_type="ndarray")])
    dense_cells = np.flatnonzero(cell_sizes > _DENSE_CELL)
    tree = cKDTree(x) if dense_cells.size else None
    # A cell's tokens lie within half its diagonal (< tol/2) of its centre: every token that can link
    # to one of them lies within 1.5·tol of the centre.
    for cell in dense_cells:
        members = order[starts[cell] : starts[cell + 1]]
        centre = (cells[members[0]] + 0.5) * side + x.min(axis=0)
        near = np.asarray(tree.query_ball_point(centre, 1.5 * tol), dtype=np.int64)
        near = near[cell_of[near] != cell]
        if near.size:
            linked = _any_within(cKDTree(x[members]), x[near], tol)
            edges.append(np.stack([near[linked], np.full(int(linked.sum()), members[0])], axis=1))
    return _connected(n, np.concatenate(edges))


def _any_within(tree: cKDTree, points: np.ndarray, tol: float) -> np.ndarray:
    """Whether each point has a tree point within ``tol``: a nearest-neighbour query (O(log n) each), with
    the near-ties re-decided by the tree's own ball query so the answer is exactly cKDTree's comparison."""
    nearest, _ = tree.query(points, k=1, distance_upper_bound=tol * (1 + 2 * _TIE_MARGIN))
    linked = nearest < tol * (1 - _TIE_MARGIN)
    close_call = np.flatnonzero(~linked & (nearest <= tol * (1 + _TIE_MARGIN)))
    if close_call.size:
        linked[close_call] = tree.query_ball_point(points[close_call], tol, return_length=True) > 0
    return linked


def _connected(n: int, pairs: np.ndarray) -> np.ndarray:
    graph = coo_matrix((np.ones(len(pairs), dtype=np.int8), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def _circle_components(x: np.ndarray, tol: float) -> tuple[np.ndarray, np.ndarray]:
    """Components of clouds on (or near) the unit circle ``(states, n, 2)`` by sorting their angles.

    Two tokens with radii in ``[1 − δ, 1 + δ]`` (δ the largest deviation of a norm from 1) and angle ψ ≤ π
    between them are at a distance between ``(1 − δ)·2 sin(ψ/2)`` and ``√((2δ)² + ((1 + δ)·2 sin(ψ/2))²)``.
    Between consecutive tokens in angle order, an upper bound below ``tol·(1 − margin)`` is a link, and a
    lower bound above ``tol·(1 + margin)`` makes the gap a cut: two tokens with a cut on each way round
    between them are farther apart than that. When every gap is one or the other, the components are the
    arcs between the cuts (all one arc with fewer than two cuts). Returns the ids (``0..`` per state) and
    which states were decided that way (the others go through :func:`_components`).
    """
    deviation = np.abs(np.linalg.norm(x, axis=-1) - 1).max(axis=1, keepdims=True)
    angle = np.arctan2(x[..., 1], x[..., 0])
    order = np.argsort(angle, axis=1)
    angle = np.take_along_axis(angle, order, axis=1)
    gap = np.diff(angle, axis=1, append=angle[:, :1] + 2 * np.pi)
    chord = 2 * np.sin(np.minimum(gap, np.pi) / 2)
    link = np.hypot(2 * deviation, (1 + deviation) * chord) < tol * (1 - _TIE_MARGIN)
    cut = np.maximum(1 - deviation, 0) * chord > tol * (1 + _TIE_MARGIN)
    decided = (link | cut).all(axis=1)
    cuts = cut.sum(axis=1)
    # Arc ids along the sorted order; the arc after the last cut continues into the first one.
    ids = np.concatenate([np.zeros((x.shape[0], 1), dtype=np.int64), np.cumsum(cut[:, :-1], axis=1)], axis=1)
    wraps = ~cut[:, -1:]
    ids = np.where(wraps & (ids == ids[:, -1:]), 0, ids)
    ids = np.where(cuts[:, None] < 2, 0, ids)
    raw = np.empty_like(ids)
    np.put_along_axis(raw, order, ids, axis=1)
    return raw, decided


def _labels_of_states(x: np.ndarray, tol: float) -> np.ndarray:
    """Size-ordered labels of every state of ``x`` ``(states, n, d)``: the circle by sorting when it can."""
    if x.shape[-1] == 2:
        raw, decided = _circle_components(x, tol)
    else:
        raw, decided = np.zeros(x.shape[:2], dtype=np.int64), np.zeros(x.shape[0], dtype=bool)
    undecided = np.flatnonzero(~decided)
    workers = min(torch.get_num_threads(), undecided.size)
    if workers > 1:  # cKDTree's build and queries release the GIL: states run side by side
        with ThreadPoolExecutor(workers) as pool:
            for k, ids in zip(undecided, pool.map(lambda k: _components(x[k], tol), undecided), strict=True):
                raw[k] = ids
    else:
        for k in undecided:
            raw[k] = _components(x[k], tol)
    return _by_size(raw)


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
    chunk = max(1, _CHUNK_ENTRIES // (traj.n_tokens * traj.x.shape[-1]))
    parts = traj.x.detach().split(chunk)
    labels = np.concatenate([_labels_of_states(p.to("cpu", torch.float64).numpy(), tol) for p in parts])
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
