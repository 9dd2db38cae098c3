"""simulate(grad=True): gradients through the steps against central finite differences in float64."""

import pytest
import torch

from attnflow import SelfAttention, init, simulate
from attnflow.dynamics.attention import FUSED_MIN_TOKENS

_N, _D = 6, 3


def _parameters(seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    eye = torch.eye(_D, dtype=torch.float64)
    return {
        "beta": torch.tensor(1.3, dtype=torch.float64),
        "Q": eye + 0.3 * torch.randn(_D, _D, generator=g, dtype=torch.float64),
        "K": eye + 0.3 * torch.randn(_D, _D, generator=g, dtype=torch.float64),
        "V": eye + 0.3 * torch.randn(_D, _D, generator=g, dtype=torch.float64),
    }


def _loss(params, variant, method, x0, weights, **options):
    field = SelfAttention(
        params["beta"], variant, Q=params["Q"], K=params["K"], V=params["V"], backend="sdpa"
    )
    traj = simulate(field, x0, t_end=0.5, dt=0.1, method=method, save_every=2, **options)
    # Every saved state enters the loss, so the gradient runs through the whole stack of states.
    return (traj.x * weights).sum()


@pytest.mark.parametrize("variant", ["SA", "USA"])
@pytest.mark.parametrize("method", ["euler", "rk4"])
def test_gradients_match_central_differences(variant, method):
    x0 = init.uniform_sphere(_N, _D, seed=1, dtype=torch.float64)
    weights = torch.randn(4, _N, _D, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    params = {k: v.requires_grad_() for k, v in _parameters(0).items()}
    grads = torch.autograd.grad(_loss(params, variant, method, x0, weights, grad=True), list(params.values()))
    g = torch.Generator().manual_seed(3)
    # Central differences have error O(ε²·|L'''|) + O(u·|L|/ε) with u = 1.1e-16: at ε = 1e-5 both are
    # ~1e-10 against directional derivatives of order 1, so 1e-7 (relative) leaves three decades of room.
    eps = 1e-5
    for (name, value), grad in zip(params.items(), grads, strict=True):
        direction = torch.randn(value.shape, generator=g, dtype=torch.float64)
        with torch.no_grad():
            shifted = [
                _loss({**params, name: value + s * eps * direction}, variant, method, x0, weights)
                for s in (1, -1)
            ]
        finite_difference = float((shifted[0] - shifted[1]) / (2 * eps))
        assert float((grad * direction).sum()) == pytest.approx(finite_difference, rel=1e-7, abs=1e-9), name


@pytest.mark.parametrize("method", ["euler", "rk4"])
def test_checkpointed_gradients_equal_plain_ones(method):
    x0 = init.uniform_sphere(_N, _D, seed=4, dtype=torch.float64).requires_grad_()
    weights = torch.randn(4, _N, _D, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    params = {k: v.requires_grad_() for k, v in _parameters(6).items()}
    inputs = [x0, *params.values()]
    plain = torch.autograd.grad(_loss(params, "SA", method, x0, weights, grad=True), inputs)
    lean = torch.autograd.grad(_loss(params, "SA", method, x0, weights, grad=True, checkpoint=True), inputs)
    for a, b in zip(plain, lean, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)


def test_batched_gradient_is_the_sum_of_single_run_gradients():
    xs = init.uniform_sphere(_N, _D, seed=7, batch=3, dtype=torch.float64)
    beta = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    runs = simulate(SelfAttention(beta), xs, t_end=0.3, dt=0.1, grad=True)
    (batched,) = torch.autograd.grad(sum(run.final.sum() for run in runs), beta)
    single = sum(
        torch.autograd.grad(
            simulate(SelfAttention(beta), x0, t_end=0.3, dt=0.1, grad=True).final.sum(), beta
        )[0]
        for x0 in xs
    )
    torch.testing.assert_close(batched, single, rtol=1e-12, atol=0)


def test_auto_backend_takes_the_autograd_path_where_the_fused_kernel_would_run():
    x0 = init.uniform_sphere(FUSED_MIN_TOKENS, 3, seed=8)
    beta = torch.tensor(1.0, requires_grad=True)
    assert SelfAttention(1.0).backend_for(x0) == "fused"  # the shape the fused kernel takes without autograd
    traj = simulate(SelfAttention(beta), x0, t_end=0.2, dt=0.1, method="euler", grad=True)
    (auto,) = torch.autograd.grad(traj.final.sum(), beta)
    traj = simulate(SelfAttention(beta, backend="sdpa"), x0, t_end=0.2, dt=0.1, method="euler", grad=True)
    torch.testing.assert_close(auto, torch.autograd.grad(traj.final.sum(), beta)[0])


def test_without_grad_the_states_carry_no_graph():
    beta = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
    traj = simulate(SelfAttention(beta), init.uniform_sphere(5, 3, dtype=torch.float64), t_end=0.2, dt=0.1)
    assert not traj.x.requires_grad
    assert SelfAttention(beta).beta == 1.0 and isinstance(SelfAttention(beta).beta, float)


@pytest.mark.parametrize(
    ("field", "kwargs", "message"),
    [
        (SelfAttention(1.0), {"checkpoint": True}, "needs grad=True"),
        (SelfAttention(1.0), {"grad": True, "checkpoint": True, "method": "dopri5"}, "checkpoint.*dopri5"),
        (SelfAttention(1.0), {"grad": "yes"}, "grad must be True or False"),
        (SelfAttention(1.0), {"grad": True, "checkpoint": 1}, "checkpoint must be True or False"),
        (SelfAttention(torch.tensor(1.0, requires_grad=True), backend="fused"), {"grad": True}, "autograd"),
    ],
)
def test_bad_gradient_options_name_the_argument(field, kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        simulate(field, init.uniform_sphere(4, 3), t_end=0.2, dt=0.1, **kwargs)


@pytest.mark.parametrize(
    ("beta", "message"),
    [(torch.ones(2, 2), "0-dim"), (torch.tensor(float("nan")), "beta"), (torch.tensor(1), "beta")],
)
def test_bad_tensor_beta_names_beta(beta, message):
    with pytest.raises((ValueError, TypeError), match=message):
        SelfAttention(beta)
