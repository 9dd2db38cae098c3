import math

import numpy as np
import pytest
import torch

from attnflow import Trajectory
from attnflow.measure.clusters import clusters


def test_two_clusters_of_known_masses_on_the_circle():
    angles = torch.tensor([1.0, 1.01, 1.02, 1.0 + math.pi / 2, 1.005], dtype=torch.float64)
    x = torch.stack([angles.cos(), angles.sin()], dim=1)
    out = clusters(Trajectory(times=[0.0], x=x.unsqueeze(0)), tol=0.05)
    assert int(out["count"][0]) == 2
    np.testing.assert_allclose(out["mass"].values[0], [0.8, 0.2])
    np.testing.assert_array_equal(out["labels"].values[0], [0, 0, 0, 1, 0])


def test_single_linkage_chains_and_the_tolerance_is_a_euclidean_distance():
    # Collinear points 0.04 apart: one chain at tol 0.05, all apart at tol 0.03.
    x = torch.zeros(6, 3, dtype=torch.float64)
    x[:, 0] = 0.04 * torch.arange(6)
    traj = Trajectory(times=[0.0], x=x.unsqueeze(0))
    assert int(clusters(traj, tol=0.05)["count"][0]) == 1
    assert int(clusters(traj, tol=0.03)["count"][0]) == 6


def test_sphere_threshold_matches_the_documented_inner_product():
    tol = 0.05
    threshold = 1 - tol**2 / 2
    # An inner product just above the threshold links the pair, just below it does not.
    for cos, expected in ((threshold + 1e-4, 1), (threshold - 1e-4, 2)):
        angle = math.acos(cos)
        x = torch.tensor([[1.0, 0.0], [math.cos(angle), math.sin(angle)]], dtype=torch.float64)
        assert int(clusters(Trajectory(times=[0.0], x=x.unsqueeze(0)), tol=tol)["count"][0]) == expected


def test_masses_over_time_are_padded_and_labels_ordered_by_size():
    a = torch.tensor([[0.0, 1.0], [0.0, 1.0], [1.0, 0.0], [0.0, -1.0]], dtype=torch.float64)
    b = torch.tensor([[0.0, 1.0]] * 4, dtype=torch.float64)
    out = clusters(Trajectory(times=[0.0, 5.0], x=torch.stack([a, b])))
    np.testing.assert_array_equal(out["count"].values, [3, 1])
    np.testing.assert_allclose(out["mass"].values, [[0.5, 0.25, 0.25], [1.0, 0.0, 0.0]])
    # Ties (two singletons) are ordered by their lowest token index.
    np.testing.assert_array_equal(out["labels"].values[0], [0, 0, 1, 2])


def test_bad_tolerance_is_named():
    traj = Trajectory(times=[0.0], x=torch.eye(2).unsqueeze(0))
    with pytest.raises(ValueError, match="tol"):
        clusters(traj, tol=0.0)
