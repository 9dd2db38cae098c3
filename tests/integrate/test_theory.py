"""simulate() against the closed-form reductions of the theory, solved independently by scipy."""

import math

import numpy as np
import pytest
import torch
from scipy.integrate import solve_ivp

from attnflow import SelfAttention, init, simulate
from attnflow.measure import energy


def two_token_angle_rate(beta, variant, causal):
    if variant == "USA":
        return lambda t, th: -np.exp(beta * np.cos(th)) * np.sin(th)
    factor = 1.0 if causal else 2.0
    return lambda t, th: -factor * np.sin(th) / (1 + np.exp(beta * (1 - np.cos(th))))


@pytest.mark.parametrize(
    ("beta", "variant", "causal"),
    [(1.0, "SA", False), (5.0, "SA", False), (-1.0, "SA", False), (2.0, "USA", False), (3.0, "SA", True)],
)
@pytest.mark.parametrize("d", [2, 5])
def test_two_token_angle(beta, variant, causal, d):
    theta0 = 2.0
    x0 = init.antipodal_pair(d, angle_offset=math.pi - theta0, dtype=torch.float64)
    traj = simulate(SelfAttention(beta, variant, causal=causal), x0, t_end=3.0, dt=0.01, save_every=10)
    angle = torch.arccos((traj.x[:, 0] * traj.x[:, 1]).sum(-1).clamp(-1, 1)).numpy()
    ref = solve_ivp(
        two_token_angle_rate(beta, variant, causal),
        (0, 3.0),
        [theta0],
        t_eval=traj.times.numpy(),
        rtol=1e-12,
        atol=1e-12,
        method="DOP853",
    )
    np.testing.assert_allclose(angle, ref.y[0], atol=1e-7)


def gamma_rate(beta, n, variant):
    def rate(t, g):
        core = np.exp(beta * g) * (1 - g) * ((n - 1) * g + 1)
        if variant == "USA":
            return 2 / n * core
        return 2 * core / (np.exp(beta) + (n - 1) * np.exp(beta * g))

    return rate


def equiangular_error(beta, n, variant, method, dt, t_end=2.0):
    x0 = init.orthogonal(n, n + 1, dtype=torch.float64)
    traj = simulate(SelfAttention(beta, variant), x0, t_end=t_end, dt=dt, method=method)
    gram = traj.final @ traj.final.T
    off = gram[~torch.eye(n, dtype=torch.bool)]
    ref = solve_ivp(gamma_rate(beta, n, variant), (0, t_end), [0.0], rtol=1e-13, atol=1e-14, method="DOP853")
    return (off - ref.y[0, -1]).abs().max().item(), (off.max() - off.min()).item()


@pytest.mark.parametrize("variant", ["SA", "USA"])
@pytest.mark.parametrize(("method", "order", "dts"), [("euler", 1, (0.02, 0.01)), ("rk4", 4, (0.1, 0.05))])
def test_equiangular_curve_and_convergence_order(variant, method, order, dts):
    errors = []
    for dt in dts:
        error, spread = equiangular_error(1.5, 4, variant, method, dt)
        assert spread < 1e-12  # all pairwise inner products stay equal
        errors.append(error)
    observed = math.log2(errors[0] / errors[1])
    assert abs(observed - order) < 0.3, f"observed order {observed:.2f}, expected {order}"


@pytest.mark.parametrize("variant", ["SA", "USA"])
def test_tanh_closed_form_at_beta_zero(variant):
    x0 = init.orthogonal(2, 3, dtype=torch.float64)
    traj = simulate(SelfAttention(0.0, variant), x0, t_end=2.0, dt=0.01, save_every=20)
    gamma = (traj.x[:, 0] * traj.x[:, 1]).sum(-1)
    torch.testing.assert_close(gamma, torch.tanh(traj.times), atol=1e-9, rtol=0)


def test_adaptive_meets_its_tolerance():
    x0 = init.orthogonal(5, 6, dtype=torch.float64)
    traj = simulate(SelfAttention(2.0), x0, t_end=4.0, dt=0.5, method="dopri5", rtol=1e-10, atol=1e-12)
    ref = solve_ivp(
        gamma_rate(2.0, 5, "SA"), (0, 4.0), [0.0], t_eval=traj.times.numpy(), rtol=1e-13, atol=1e-14
    )
    gamma = (traj.x[:, 0] * traj.x[:, 1]).sum(-1).numpy()
    np.testing.assert_allclose(gamma, ref.y[0], atol=1e-8)
    np.testing.assert_allclose(traj.times.numpy(), np.arange(9) * 0.5)


def test_adaptive_rejects_overflowing_trial_steps():
    # ẋ = −x³ from 2: a first trial step of 1000 overflows to NaN; the controller must shrink it.
    x0 = torch.full((1, 1), 2.0, dtype=torch.float64)
    traj = simulate(lambda t, x: -(x**3), x0, 1000.0, 1000.0, "dopri5", rtol=1e-9, atol=1e-12)
    assert traj.final.item() == pytest.approx(2 / math.sqrt(1 + 8 * 1000), rel=1e-7)


@pytest.mark.parametrize("variant", ["SA", "USA"])
@pytest.mark.parametrize("d", [2, 3, 8])
def test_energy_never_decreases(variant, d):
    beta = 3.0
    for seed in range(3):
        x0 = init.uniform_sphere(24, d, seed=seed, dtype=torch.float64)
        traj = simulate(SelfAttention(beta, variant), x0, t_end=6.0, dt=0.05, save_every=2)
        e = energy(traj, beta).values
        assert np.all(np.diff(e) >= -1e-12 * np.abs(e[1:])), f"energy dropped: {np.diff(e).min()}"
        assert e[-1] > e[0]


def test_energy_matches_direct_sum():
    x = init.uniform_sphere(7, 3, seed=2, dtype=torch.float64)
    traj = simulate(SelfAttention(1.0), x, t_end=0.1, dt=0.1)
    expected = torch.exp(2.5 * traj.final @ traj.final.T).sum().item() / (2 * 2.5 * 49)
    assert energy(traj, 2.5).values[-1] == pytest.approx(expected, rel=1e-12)
    assert energy(traj, -2.5).values[-1] < 0
