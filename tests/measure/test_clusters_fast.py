"""Clusters by sorting angles (circle) and on a grid (d ≤ 3) are exactly single linkage over close pairs."""

import importlib

import numpy as np
import pytest
import torch
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from attnflow import Trajectory
from attnflow.measure import cluster_labels, clusters


def reference_labels(x: np.ndarray, tol: float) -> np.ndarray:
    """Single linkage from the list of every pair at distance ≤ tol, labels by size then lowest index."""
    n = x.shape[0]
    pairs = cKDTree(x).query_pairs(r=tol, output_type="ndarray")
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    raw = connected_components(graph, directed=False)[1]
    sizes = np.bincount(raw)
    first = np.full(sizes.size, n)
    np.minimum.at(first, raw, np.arange(n))
    order = np.lexsort((first, -sizes))
    relabel = np.empty_like(order)
    relabel[order] = np.arange(order.size)
    return relabel[raw]


def module():
    """The module itself (the package exports a function named clusters)."""
    return importlib.import_module("attnflow.measure.clusters")


def circle_clouds(rng: np.random.Generator, states: int, n: int, tol: float) -> np.ndarray:
    """Clustered angles of random widths around tol; some states exactly on the tie spacing."""
    out = np.empty((states, n, 2))
    alpha = 2 * np.arcsin(tol / 2)  # chord of this angle is tol
    for k in range(states):
        if k % 4 == 0:  # consecutive tokens at the tie distance, some shifted by a few ulps
            theta = alpha * np.arange(n) + rng.integers(-2, 3, n) * np.spacing(alpha) * 4
        else:
            centres = rng.uniform(-np.pi, np.pi, rng.integers(1, 12))
            theta = rng.choice(centres, n) + rng.normal(0, rng.uniform(0.1, 3) * tol, n)
        out[k] = np.stack([np.cos(theta), np.sin(theta)], axis=1)
    return out


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_circle_by_sorting_equals_single_linkage_over_pairs(dtype):
    rng = np.random.default_rng(0)
    tol = 0.05
    x = torch.tensor(circle_clouds(rng, 40, 150, tol)).to(dtype)
    # Both ways are exercised: most states are decided by sorting, the tie-spaced ones fall back to the grid.
    decided = module()._circle_components(x.double().numpy(), tol)[1]
    assert 20 <= decided.sum() < 40
    out = clusters(Trajectory(times=list(range(40)), x=x), tol=tol)
    for k in range(40):
        expected = reference_labels(x[k].double().numpy(), tol)
        np.testing.assert_array_equal(out["labels"].values[k], expected, err_msg=f"state {k}")


@pytest.mark.parametrize("d", [1, 2, 3])
def test_grid_equals_single_linkage_on_lattices_with_exact_ties_and_dense_cells(d):
    rng = np.random.default_rng(d)
    tol = 0.25  # lattice steps of 0.25: distances of exactly tol (binary-exact) everywhere
    for _ in range(15):
        sites = rng.integers(0, 6, size=(rng.integers(5, 40), d)) * 0.25
        # Repeat some sites many times: cells with more tokens than the dense threshold.
        x = sites[rng.integers(0, len(sites), size=rng.integers(20, 200))]
        np.testing.assert_array_equal(cluster_labels(x, tol), reference_labels(x, tol))


@pytest.mark.parametrize("d", [2, 3, 5])
def test_grid_equals_single_linkage_on_clustered_clouds(d):
    rng = np.random.default_rng(10 + d)
    tol = 0.05
    for _ in range(10):
        centres = rng.normal(size=(rng.integers(1, 8), d))
        centres /= np.linalg.norm(centres, axis=1, keepdims=True)
        x = centres[rng.integers(0, len(centres), 300)] + rng.normal(0, rng.uniform(0.002, 0.05), (300, d))
        x = np.concatenate([x, rng.normal(size=(30, d))])  # and some strays
        np.testing.assert_array_equal(cluster_labels(x, tol), reference_labels(x, tol))


def test_a_dense_cloud_is_not_listed_pair_by_pair(monkeypatch):
    # 20 000 tokens in one tight blob have 2·10⁸ close pairs; the grid never lists them.
    class Counting(cKDTree):
        listed = 0

        def query_pairs(self, *args, **kwargs):
            pairs = super().query_pairs(*args, **kwargs)
            Counting.listed += len(pairs)
            return pairs

    monkeypatch.setattr(module(), "cKDTree", Counting)
    x = np.random.default_rng(3).normal(0, 1e-3, size=(20_000, 3))
    x[:, 0] += 1.0
    assert set(cluster_labels(x, 0.05)) == {0}
    assert Counting.listed < 20_000


def test_states_measured_side_by_side_on_two_threads_match_single_linkage(monkeypatch):
    generator = torch.Generator().manual_seed(3)
    centres = torch.nn.functional.normalize(
        torch.randn(7, 3, generator=generator, dtype=torch.float64), dim=-1
    )
    noise = 0.02 * torch.randn(5, 600, 3, generator=generator, dtype=torch.float64)
    x = torch.nn.functional.normalize(
        centres[torch.randint(0, 7, (5, 600), generator=generator)] + noise, dim=-1
    )
    traj = Trajectory(torch.arange(5.0, dtype=torch.float64), x)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)  # the suite runs on one thread
    labels = clusters(traj, tol=0.05)["labels"].values
    for k in range(5):
        np.testing.assert_array_equal(labels[k], reference_labels(x[k].numpy(), 0.05))
