"""The log-domain energy: every way of taking Σ_ij e^{β⟨x_i,x_j⟩} against independent float64/mpmath sums."""

import math

import mpmath
import numpy as np
import pytest
import torch

from attnflow import DensityTrajectory, Trajectory
from attnflow.measure import _pairsum as pairsum
from attnflow.measure import energy, energy_staircase


def cloud(n: int, d: int, seed: int, states: int = 1, dtype=torch.float64) -> torch.Tensor:
    x = torch.randn(states, n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    # Half the tokens gathered near one point, so the sum is not that of a uniform cloud.
    x[:, : n // 2] = x[:, :1] + 0.05 * x[:, : n // 2]
    return (x / x.norm(dim=-1, keepdim=True)).to(dtype)


def shifted_log_sum(x: np.ndarray, beta: float) -> float:
    """Reference: log Σ_ij e^{β⟨x_i,x_j⟩} in float64 with the largest exponent factored out."""
    scores = beta * (x @ x.T)
    top = scores.max()
    return float(top + np.log(np.exp(scores - top).sum()))


def mpmath_log_sum(x: np.ndarray, beta: float) -> float:
    """Reference: the same sum with 50 significant digits (no shift needed)."""
    mpmath.mp.dps = 50
    rows = [[mpmath.mpf(float(v)) for v in row] for row in x]
    total = mpmath.mpf(0)
    for a in rows:
        for b in rows:
            total += mpmath.exp(beta * sum(p * q for p, q in zip(a, b, strict=True)))
    return float(mpmath.log(total))


@pytest.mark.parametrize("d", [2, 3])
@pytest.mark.parametrize("beta", [0.3, 4.0, 40.0])
def test_the_series_match_a_direct_float64_sum(d, beta):
    x = cloud(60, d, seed=d)
    terms = pairsum.series_terms(beta, sphere=d == 3)
    series = pairsum._fourier(x, beta, terms) if d == 2 else pairsum._harmonic(x, beta, terms)
    np.testing.assert_allclose(series, [shifted_log_sum(x[0].numpy(), beta)], rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("d", [2, 3])
def test_a_series_cut_short_of_its_bound_is_visibly_wrong(d):
    # The rival: half the terms the bound asks for. It must miss the direct sum (so the test above can fail).
    beta = 40.0
    x = cloud(60, d, seed=d)
    half = pairsum.series_terms(beta, sphere=d == 3) // 2
    short = pairsum._fourier(x, beta, half) if d == 2 else pairsum._harmonic(x, beta, half)
    assert abs(short[0] - shifted_log_sum(x[0].numpy(), beta)) > 1e-9


@pytest.mark.parametrize("sphere", [False, True])
@pytest.mark.parametrize("beta", [0.5, 9.0, 100.0])
def test_the_truncation_bound_holds_against_mpmath_tails(sphere, beta):
    mpmath.mp.dps = 30
    terms = pairsum.series_terms(beta, sphere)

    def weight(k: int):
        if sphere:
            return (2 * k + 1) * mpmath.besseli(k + mpmath.mpf(1) / 2, beta)
        return (1 if k == 0 else 2) * mpmath.besseli(k, beta)

    tail = mpmath.nsum(weight, [terms, mpmath.inf])
    assert float(tail / weight(0)) <= pairsum.SERIES_RTOL


@pytest.mark.parametrize("d", [2, 3])
@pytest.mark.parametrize("beta", [-3.0, 1e-300, 2.0, 1000.0])
def test_log_energy_matches_mpmath_for_any_beta(d, beta):
    x = cloud(24, d, seed=10 + d)
    out = energy(Trajectory(times=[0.0], x=x), beta, log=True)
    expected = mpmath_log_sum(x[0].numpy(), beta) - math.log(2 * abs(beta) * 24**2)
    assert out.name == "log_energy"
    assert out.item() == pytest.approx(expected, rel=1e-13, abs=1e-12)


def test_chosen_series_paths_agree_with_the_direct_sum_on_large_clouds():
    circle = cloud(400, 2, seed=1, states=2)
    sphere = cloud(1200, 3, seed=2)
    for x, beta, method in [(circle, 9.0, "fourier"), (sphere, 2.0, "harmonic")]:
        out = energy(Trajectory(times=list(range(x.shape[0])), x=x), beta, log=True)
        assert out.attrs["method"] == method
        for k in range(x.shape[0]):
            expected = shifted_log_sum(x[k].numpy(), beta) - math.log(2 * beta * x.shape[1] ** 2)
            assert out.values[k] == pytest.approx(expected, rel=1e-13)


def test_near_unit_float32_clouds_are_measured_by_their_directions_and_others_directly():
    x32 = cloud(500, 2, seed=3, dtype=torch.float32)
    directions = x32.double() / x32.double().norm(dim=-1, keepdim=True)
    beta = 9.0
    out = energy(Trajectory(times=[0.0], x=x32), beta, log=True)
    assert out.attrs["method"] == "fourier"
    expected = shifted_log_sum(directions[0].numpy(), beta) - math.log(2 * beta * 500**2)
    assert out.item() == pytest.approx(expected, rel=1e-13)
    scaled = 1.5 * cloud(500, 2, seed=3)  # off the sphere: the raw inner products count
    out = energy(Trajectory(times=[0.0], x=scaled), beta, log=True)
    assert out.attrs["method"] == "sdpa"
    expected = shifted_log_sum(scaled[0].numpy(), beta) - math.log(2 * beta * 500**2)
    assert out.item() == pytest.approx(expected, rel=1e-13)


def test_energy_out_of_float64_asks_for_log_and_the_staircase_stays_finite():
    traj = Trajectory(times=[0.0], x=cloud(30, 3, seed=5))
    with pytest.raises(ValueError, match="log=True"):
        energy(traj, 1000.0)
    stair = energy_staircase(traj, 1000.0).item()
    assert 0 < stair <= 1
    log_e = energy(traj, 1000.0, log=True).item()
    # staircase = 2β e^{-β} E_β on the sphere, read in the log domain.
    assert math.log(stair) == pytest.approx(math.log(2 * 1000.0) - 1000.0 + log_e, rel=1e-12)


def test_density_log_energy_is_the_log_of_the_energy_and_finite_at_large_beta():
    theta = torch.linspace(0, 2 * math.pi, 257)[:-1].double()
    rho = torch.exp(3 * torch.cos(theta))
    rho = rho / (rho.sum() * (2 * math.pi / 256))
    dens = DensityTrajectory(times=[0.0], density=rho.unsqueeze(0))
    for beta in (2.0, -2.0):
        plain, logged = energy(dens, beta).item(), energy(dens, beta, log=True).item()
        assert logged == pytest.approx(math.log(abs(plain)), rel=1e-13)
    assert math.isfinite(energy(dens, 1000.0, log=True).item())
    with pytest.raises(ValueError, match="log=True"):
        energy(dens, 1000.0)


def test_the_compiled_harmonic_sums_hold_at_the_poles_and_do_not_depend_on_the_thread_count():
    # Several token blocks with a partial last one, tokens exactly at both poles (where x + iy = 0).
    x = cloud(1100, 3, seed=7)
    x[0, :5] = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)
    x[0, 5:9] = torch.tensor([0.0, 0.0, -1.0], dtype=torch.float64)
    beta = 9.0
    terms = pairsum.series_terms(beta, sphere=True)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = pairsum._harmonic(x, beta, terms)
        torch.set_num_threads(2)
        two = pairsum._harmonic(x, beta, terms)
    finally:
        torch.set_num_threads(threads)
    assert one[0] == pytest.approx(shifted_log_sum(x[0].numpy(), beta), rel=1e-13)
    assert one[0] == two[0]
