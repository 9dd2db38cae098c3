"""Euler–Maruyama with retraction: the heat-kernel moment, weak order 1, strong order 1/2, seeds."""

import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats

from attnflow import SelfAttention, Simulation, init
from attnflow.integrate.stochastic import em_step, integrate_sde


class Still:
    """The zero drift on the sphere: pure noise."""

    geometry = "sphere"

    def __call__(self, t, x):
        return torch.zeros_like(x)


def step_contraction(kappa, h, d):
    """m = E⟨R(x + √(2κh) P_x ξ), x⟩ = E[(1 + 2κh χ²_{d−1})^{−1/2}], so E⟨x_k, x_0⟩ = m^k exactly.

    (Rotation invariance makes E[x_{k+1} | x_k] = m x_k.) Computed by quadrature, independently of the code.
    """
    chi2 = stats.chi2(d - 1)
    value, _ = integrate.quad(lambda s: chi2.pdf(s) / math.sqrt(1 + 2 * kappa * h * s), 0, np.inf)
    return value


@pytest.mark.parametrize("d", [2, 3, 5])
def test_heat_kernel_moment(d):
    kappa, t_end, dt, n = 0.4, 1.0, 0.02, 20_000
    x0 = init.uniform_sphere(n, d, seed=5, dtype=torch.float64)
    traj = integrate_sde(Still(), x0, t_end, dt, noise=kappa, seed=11)
    measured = float((traj.x[-1] * x0).sum(-1).mean())
    exact_scheme = step_contraction(kappa, dt, d) ** round(t_end / dt)
    # ⟨x_t, x_0⟩ ∈ [−1, 1] and the tokens are independent: the standard error is at most 1/√n ≈ 0.007;
    # 4 standard errors fail a correct scheme with probability ~6e-5.
    assert measured == pytest.approx(exact_scheme, abs=4 / math.sqrt(n))
    # The SDE's own moment e^{−κ(d−1)t}, within the scheme's exact weak error at this dt (which
    # vanishes like dt: see the weak-order test) plus the same sampling allowance.
    exact_sde = math.exp(-kappa * (d - 1) * t_end)
    assert measured == pytest.approx(exact_sde, abs=abs(exact_scheme - exact_sde) + 4 / math.sqrt(n))


@pytest.mark.parametrize("d", [2, 3, 8])
def test_weak_order_one(d):
    kappa, t_end = 0.5, 1.0
    exact = math.exp(-kappa * (d - 1) * t_end)
    errors = [abs(step_contraction(kappa, t_end / k, d) ** k - exact) for k in (100, 200, 400, 800)]
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    # Weak order 1: the observed order log2(e_h / e_{h/2}) is 1 + O(h); at h ≤ 0.01 the O(h) term is a
    # few hundredths (it is 0.1 at h = 0.05), and order 2 would read 2.
    np.testing.assert_allclose(orders, 1.0, atol=0.05)


def test_strong_order_one_half():
    field = SelfAttention(1.0, "SA")
    n, d, t_end, kappa, finest = 200, 3, 1.0, 0.2, 10
    x0 = init.uniform_sphere(n, d, seed=0, dtype=torch.float64)
    fine = 2**finest
    generator = torch.Generator().manual_seed(1)
    increments = torch.randn(fine, n, d, dtype=torch.float64, generator=generator) * math.sqrt(t_end / fine)

    def solve(level):
        steps = 2**level
        h = t_end / steps
        coarse = increments.reshape(steps, fine // steps, n, d).sum(1)
        x = x0.clone()
        for i in range(steps):
            x = em_step(field, i * h, x, h, math.sqrt(2 * kappa) * coarse[i], sphere=True)
        return x

    reference = solve(finest)
    levels = np.arange(3, 8)
    errors = [float((solve(m) - reference).norm(dim=-1).mean()) for m in levels]
    slope = np.polyfit(np.log(t_end / 2.0**levels), np.log(errors), 1)[0]
    # Strong order 1/2 (non-commuting noise fields P_x e_k); the reference at h/8 of the finest coarse
    # step biases the slope by a few hundredths, and 0.15 separates 1/2 from order 1 decisively.
    assert abs(slope - 0.5) < 0.15


def test_seeds_and_the_spec():
    spec = Simulation.from_flat(
        {"n": 8, "d": 3, "method": "euler", "dt": 0.05, "t_end": 0.5, "noise": 0.3, "common_noise": 0.1}
    )
    a, b = spec.run(), spec.run()
    torch.testing.assert_close(a.x, b.x)
    assert a.params["noise"] == 0.3 and a.params["method"] == "euler_maruyama"
    other = spec.replace(seed=1).run()
    assert not torch.equal(a.x[-1], other.x[-1])
    torch.testing.assert_close(a.x[-1].norm(dim=-1), torch.ones(8))
    # The weights' seed is the same child with or without noise.
    quiet = spec.replace(noise=0.0, common_noise=0.0).run()
    torch.testing.assert_close(quiet.x[0], a.x[0])


def test_common_noise_alone_moves_one_token_like_the_heat_kernel():
    # One token: common and independent noise are the same process.
    runs = 5000
    x0 = init.uniform_sphere(1, 3, seed=2, batch=runs, dtype=torch.float64)
    trajs = integrate_sde(Still(), x0, 0.5, 0.05, common_noise=0.4, seed=3)
    measured = np.mean([float((tr.x[-1] * tr.x[0]).sum()) for tr in trajs])
    # 4 standard errors (≤ 4/√runs = 0.057); a factor 2 in the noise strength moves the moment by > 0.15.
    assert measured == pytest.approx(step_contraction(0.4, 0.05, 3) ** 10, abs=4 / math.sqrt(runs))


@pytest.mark.parametrize(
    ("flat", "message"),
    [
        ({"noise": -0.1, "method": "euler"}, "noise must be >= 0"),
        ({"noise": 0.1}, "method 'euler'"),
        ({"common_noise": float("nan"), "method": "euler"}, "common_noise"),
    ],
)
def test_bad_noise_options(flat, message):
    with pytest.raises(ValueError, match=message):
        Simulation.from_flat(flat)


def test_cli_runs_a_noisy_pre_ln_simulation(tmp_path):
    from typer.testing import CliRunner

    from attnflow import load
    from attnflow.cli import app

    out = tmp_path / "run.zarr"
    flags = ["--n", "6", "--d", "3", "--t-end", "0.4", "--dt", "0.1", "--method", "euler", "--noise", "0.2"]
    flags += ["--normalization", "pre", "--weights", "goe", "--value", "-qk", "--alibi", "0.1"]
    result = CliRunner().invoke(app, ["simulate", "--out", str(out), "--no-progress", *flags])
    assert result.exit_code == 0, result.output
    params = load(out).params["simulation"]["field"]
    assert params["normalization"] == "pre" and params["value"] == "-qk"
    bad = CliRunner().invoke(app, ["simulate", "--out", str(tmp_path / "x.zarr"), "--noise", "0.2"])
    assert bad.exit_code == 2 and "method 'euler'" in bad.output
