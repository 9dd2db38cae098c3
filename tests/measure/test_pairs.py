import math

import numpy as np
import pytest
import torch

from attnflow import Trajectory
from attnflow.measure.pairs import cosine_histogram, energy_staircase, fraction_close_pairs, min_inner_product


def circle(*angles: float) -> torch.Tensor:
    a = torch.tensor(angles, dtype=torch.float64)
    return torch.stack([a.cos(), a.sin()], dim=1)


def single(x: torch.Tensor, axis: str = "time") -> Trajectory:
    return Trajectory(times=[0.0], x=x.unsqueeze(0), axis=axis)


@pytest.mark.parametrize("beta", [0.5, 4.0, 30.0])
def test_staircase_of_two_point_clusters_is_sum_of_squared_masses_plus_cross_term(beta):
    theta = 2.0
    x = circle(0.0, 0.0, 0.0, theta)  # masses 3/4 and 1/4
    expected = (0.75**2 + 0.25**2) + 2 * 0.75 * 0.25 * math.exp(beta * (math.cos(theta) - 1))
    value = energy_staircase(single(x), beta).item()
    assert value == pytest.approx(expected, rel=1e-12)


def test_staircase_is_one_for_a_single_point_and_labelled_over_layers():
    x = torch.tensor([[0.0, 0.0, 1.0]] * 5).unsqueeze(0).repeat(3, 1, 1)
    traj = Trajectory(times=[0, 1, 2], x=x, axis="layer")
    out = energy_staircase(traj, 7.0)
    assert out.dims == ("layer",)
    np.testing.assert_allclose(out.values, 1.0, rtol=1e-7)
    np.testing.assert_array_equal(out["layer"].values, [0, 1, 2])


def test_staircase_matches_a_brute_force_double_sum():
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(2, 9, 4, generator=gen, dtype=torch.float64)
    x = x / x.norm(dim=-1, keepdim=True)
    traj = Trajectory(times=[0.0, 1.0], x=x)
    beta = 2.5
    for k in range(2):
        brute = sum(math.exp(beta * (float(x[k, i] @ x[k, j]) - 1)) for i in range(9) for j in range(9)) / 81
        assert energy_staircase(traj, beta).values[k] == pytest.approx(brute, rel=1e-12)


def test_fraction_close_pairs_counts_distinct_pairs_above_threshold():
    # Three equal tokens (3 close pairs) and one at 90° (3 far pairs): half the pairs are close.
    x = circle(0.0, 0.0, 0.0, math.pi / 2)
    assert fraction_close_pairs(single(x), 1e-3).item() == pytest.approx(0.5)
    # An angle with cos = 0.9995 is close at eps = 1e-3 but not at eps = 1e-4.
    y = circle(0.0, math.acos(0.9995))
    assert fraction_close_pairs(single(y), 1e-3).item() == 1.0
    assert fraction_close_pairs(single(y), 1e-4).item() == 0.0


def test_min_inner_product_on_the_circle():
    x = circle(0.0, math.pi / 3, 5 * math.pi / 6)
    assert min_inner_product(single(x)).item() == pytest.approx(math.cos(5 * math.pi / 6), abs=1e-12)


def test_cosine_histogram_fractions_and_scale_invariance():
    x = torch.tensor([[1.0, 0.0], [3.0, 0.0], [-2.0, 0.0]], dtype=torch.float64)
    hist = cosine_histogram(single(x), bins=2)
    # Pairs: (0,1) cosine 1, (0,2) and (1,2) cosine -1.
    np.testing.assert_allclose(hist.values[0], [2 / 3, 1 / 3])
    np.testing.assert_allclose(hist["cosine"].values, [-0.5, 0.5])
    edges = cosine_histogram(single(x), bins=[-1.0, 0.0, 0.5, 1.0])
    np.testing.assert_allclose(edges.values[0], [2 / 3, 0.0, 1 / 3])


def test_bad_arguments_are_named():
    traj = single(circle(0.0, 1.0))
    with pytest.raises(ValueError, match="eps"):
        fraction_close_pairs(traj, 0.0)
    with pytest.raises(ValueError, match="eps"):
        fraction_close_pairs(traj, 3.0)
    with pytest.raises(ValueError, match="beta"):
        energy_staircase(traj, float("nan"))
    with pytest.raises(ValueError, match="bins"):
        cosine_histogram(traj, bins=[0.5, 0.2])
    with pytest.raises(ValueError, match="at least 2 tokens"):
        min_inner_product(single(circle(0.0)))
    with pytest.raises(TypeError, match="Trajectory"):
        min_inner_product(circle(0.0, 1.0))


def test_staircase_is_the_rescaled_energy_on_the_sphere():
    from attnflow.measure import energy

    x = torch.randn(3, 7, 3, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    traj = Trajectory(times=[0.0, 1.0, 2.0], x=x / x.norm(dim=-1, keepdim=True))
    beta = 3.0
    np.testing.assert_allclose(
        energy_staircase(traj, beta).values,
        2 * beta * math.exp(-beta) * energy(traj, beta).values,
        rtol=1e-12,
    )
