import numpy as np
import pytest
import torch
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

from attnflow.measure.transport import cloud_distance


def test_exact_distance_equals_the_optimal_assignment_for_equal_sizes():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(12, 3)), rng.normal(size=(12, 3)) + 0.5
    for p in (1.0, 2.0):
        cost = cdist(x, y) ** p
        rows, cols = linear_sum_assignment(cost)
        expected = cost[rows, cols].mean() ** (1 / p)
        assert cloud_distance(x, y, p=p) == pytest.approx(expected, rel=1e-10)


def test_translation_permutation_and_point_masses():
    x = torch.randn(20, 4, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    shift = torch.tensor([0.3, -0.4, 0.0, 1.2], dtype=torch.float64)
    assert cloud_distance(x, x + shift) == pytest.approx(float(shift.norm()), rel=1e-10)
    assert cloud_distance(x, x[torch.randperm(20)]) == pytest.approx(
        0.0, abs=1e-7
    )  # sqrt of a rounding-level cost
    # One point against two: W2² = (|a-b|² + |a-c|²)/2.
    a, bc = np.zeros((1, 2)), np.array([[3.0, 0.0], [0.0, 4.0]])
    assert cloud_distance(a, bc) == pytest.approx(np.sqrt((9 + 16) / 2))


def test_sliced_is_a_lower_bound_close_to_exact_in_one_dimension():
    x = np.linspace(0, 1, 30)[:, None]
    y = np.linspace(0.5, 2, 30)[:, None]
    exact = cloud_distance(x, y)
    assert cloud_distance(x, y, method="sliced", n_projections=8) == pytest.approx(exact, rel=1e-9)


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="same dimension"):
        cloud_distance(np.zeros((2, 2)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="p must be"):
        cloud_distance(np.zeros((2, 2)), np.zeros((2, 2)), p=0.5)
    with pytest.raises(ValueError, match="method"):
        cloud_distance(np.zeros((2, 2)), np.zeros((2, 2)), method="fast")
    with pytest.raises(ValueError, match="x must be"):
        cloud_distance(np.zeros(3), np.zeros((2, 2)))
