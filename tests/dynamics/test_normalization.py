"""Normalisation schemes: the field against a float64 direct computation, and the equiangular reduced ODE."""

import math

import numpy as np
import pytest
import torch

from attnflow import SelfAttention, Simulation, init
from attnflow.dynamics import Normalized
from attnflow.integrate import simulate
from attnflow.theory import normalization as theory


def direct_velocity(x, beta, scheme, scale):
    """ẋ_i from the table of the module doc, with the softmax matrix formed in float64 NumPy."""
    x = x.double().numpy()
    r = np.linalg.norm(x, axis=1, keepdims=True)
    theta = x / r
    scores = beta * theta @ theta.T
    weights = np.exp(scores - scores.max(1, keepdims=True))
    a = (weights / weights.sum(1, keepdims=True)) @ theta
    along = (a * theta).sum(1, keepdims=True)
    size = np.linalg.norm(a, axis=1, keepdims=True)
    theta_dot = {"post": scale * (a - along * theta), "pre": scale * (a - along * theta) / r}
    theta_dot["peri"] = scale * (a - along * theta) / (r * size)
    theta_dot["ngpt"] = scale * (a - along * theta) / size
    r_dot = {"post": 0 * r, "ngpt": 0 * r, "pre": scale * along, "peri": scale * along / size}
    # x = r θ, so ẋ = ṙ θ + r θ̇.
    return r_dot[scheme] * theta + r * theta_dot[scheme]


@pytest.mark.parametrize("scheme", ["post", "pre", "peri", "ngpt"])
def test_field_matches_direct_computation(scheme):
    directions = init.uniform_sphere(7, 4, seed=1, dtype=torch.float64)
    norms = 1.0 if scheme in ("post", "ngpt") else torch.linspace(0.5, 3.0, 7, dtype=torch.float64)[:, None]
    x = directions * norms
    field = Normalized(SelfAttention(2.5, geometry="euclidean"), scheme, residual_scale=0.7)
    expected = torch.from_numpy(direct_velocity(x, 2.5, scheme, 0.7))
    torch.testing.assert_close(field(0.0, x), expected, atol=1e-12, rtol=1e-10)


@pytest.mark.parametrize("scheme", ["post", "pre", "peri", "ngpt"])
def test_equiangular_start_follows_the_reduced_ode(scheme):
    n, d, beta, scale = 5, 8, 1.5, 0.8
    x0 = init.orthogonal(n, d, seed=2, dtype=torch.float64)
    field = Normalized(SelfAttention(beta, geometry="euclidean"), scheme, residual_scale=scale)
    traj = simulate(field, x0, t_end=4.0, dt=0.01, method="rk4", save_every=50)
    x = traj.x.numpy()
    norms = np.linalg.norm(x, axis=-1)
    directions = x / norms[..., None]
    gram = np.einsum("tid,tjd->tij", directions, directions)
    rho_measured = gram[:, 0, 1]
    rho, r = theory.equiangular(traj.times.numpy(), n, beta, scheme, scale)
    # RK4 at dt = 0.01 has a global error ~ dt⁴ ≈ 1e-8 on this smooth flow: 1e-6 leaves room.
    np.testing.assert_allclose(rho_measured, rho, atol=1e-6)
    np.testing.assert_allclose(norms[:, 0], r, rtol=1e-6)
    # The cloud stays equiangular with equal norms.
    off = gram[:, ~np.eye(n, dtype=bool)]
    assert np.ptp(off, axis=1).max() < 1e-9
    assert np.ptp(norms, axis=1).max() < 1e-9


def test_post_and_pre_asymptotic_laws():
    """1 − ρ ~ e^{−2t} (post) and ~ t^{−2} (pre): the local exponents of the reduced ODE."""
    times = np.array([0.0, 20.0, 40.0, 80.0, 160.0])
    # Post-LN: 1 − ρ ≈ 1e-5 by t = 6, where the O(1 − ρ) corrections to the rate 2 are ~1e-4.
    rho_post, _ = theory.equiangular([0.0, 3.0, 6.0], 4, 1.0, "post")
    rate = -np.log((1 - rho_post[2]) / (1 - rho_post[1])) / 3.0
    assert rate == pytest.approx(2.0, rel=1e-2)
    rho_pre, _ = theory.equiangular(times, 4, 1.0, "pre")
    exponent = -np.log((1 - rho_pre[4]) / (1 - rho_pre[3])) / math.log(2)
    assert exponent == pytest.approx(2.0, abs=0.05)


def test_simulation_spec_builds_the_scheme_and_keeps_norms():
    spec = Simulation.from_flat(
        {"n": 6, "d": 3, "beta": 1.0, "normalization": "pre", "t_end": 1.0, "dt": 0.1, "dtype": "float64"}
    )
    traj = spec.run()
    assert traj.params["normalization"] == "pre"
    assert float(traj.x[-1].norm(dim=-1).min()) > 1.1  # norms grow under pre-LN
    assert Simulation.from_dict(spec.to_dict()) == spec
    plain = Simulation.from_flat({"n": 6, "d": 3})
    assert isinstance(plain.field.build(3, 0, torch.float64, "cpu"), SelfAttention)


@pytest.mark.parametrize(
    ("flat", "message"),
    [
        ({"normalization": "layer"}, "normalization"),
        ({"residual_scale": 0.0}, "residual_scale"),
        ({"normalization": "pre", "geometry": "euclidean"}, "geometry 'sphere'"),
    ],
)
def test_bad_options_name_the_argument(flat, message):
    with pytest.raises(ValueError, match=message):
        Simulation.from_flat(flat)


def test_normalized_needs_euclidean_attention():
    with pytest.raises(ValueError, match="geometry='euclidean'"):
        Normalized(SelfAttention(1.0), "pre")


def test_a_token_without_direction_is_refused():
    field = Normalized(SelfAttention(1.0, geometry="euclidean"), "pre")
    with pytest.raises(ValueError, match="norm 0"):
        field.check_state(torch.zeros(3, 2))
