"""One β per run of a batched state: the same velocities and runs as one field per β."""

import pytest
import torch

import attnflow as af
from attnflow.dynamics import SelfAttention

BETAS = [-1.5, 0.5, 4.0]


def states(n: int = 40, d: int = 3) -> torch.Tensor:
    x = torch.randn(len(BETAS), n, d, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    return x / x.norm(dim=-1, keepdim=True)


@pytest.mark.parametrize(
    "options",
    [
        {"variant": "SA"},
        {"variant": "SA", "backend": "fused"},
        {"variant": "SA", "causal": True},
        {"variant": "USA"},
        {"variant": "hardmax"},
        # Batched runs iterate until every run meets the tolerance: a tight one makes both exact.
        {"variant": "sinkhorn", "sinkhorn_tol": 1e-13, "sinkhorn_iters": 20_000},
        {"variant": "SA", "Q": "random", "K": "random"},
    ],
    ids=["sa", "fused", "causal", "usa", "hardmax", "sinkhorn", "weights"],
)
def test_the_velocity_of_each_run_is_that_of_its_own_beta(options):
    x = states()
    if options.get("Q") == "random":
        gen = torch.Generator().manual_seed(1)
        weights = {name: torch.randn(2, 3, generator=gen, dtype=torch.float64) for name in ("Q", "K")}
        options = {**options, **weights}
    batched = SelfAttention(torch.tensor(BETAS, dtype=torch.float64), **options)(0.0, x)
    for b, beta in enumerate(BETAS):
        alone = SelfAttention(beta, **options)(0.0, x[b])
        torch.testing.assert_close(batched[b], alone, rtol=1e-12, atol=1e-12)


def test_a_rival_with_the_betas_in_the_wrong_order_differs():
    x = states()
    batched = SelfAttention(torch.tensor(BETAS[::-1], dtype=torch.float64))(0.0, x)
    assert (batched[0] - SelfAttention(BETAS[0])(0.0, x[0])).abs().max() > 1e-3


def test_a_batched_run_over_beta_equals_separate_runs():
    x = states(24)
    field = SelfAttention(torch.tensor(BETAS, dtype=torch.float64))
    trajs = af.simulate(field, x, t_end=1.0, dt=0.1, method="rk4")
    for b, beta in enumerate(BETAS):
        alone = af.simulate(SelfAttention(beta), x[b], t_end=1.0, dt=0.1, method="rk4")
        torch.testing.assert_close(trajs[b].x, alone.x, rtol=1e-12, atol=1e-12)
    assert [traj.params["beta"] for traj in trajs] == BETAS


def test_per_run_beta_errors_name_beta():
    field = SelfAttention(torch.tensor(BETAS))
    with pytest.raises(ValueError, match=r"beta holds one value per run \(3\)"):
        field(0.0, states()[0].float())
    with pytest.raises(ValueError, match="beta holds one value per run"):
        field.check_state(states()[:2].float())
    with pytest.raises(ValueError, match="one beta per run"):
        _ = field.beta
    assert field.betas == pytest.approx(BETAS)
    assert "beta=[-1.5, 0.5, 4]" in repr(field)
    with pytest.raises(ValueError, match="beta must be a number"):
        SelfAttention(torch.zeros(2, 2))
    with pytest.raises(ValueError, match="beta must be a number"):
        SelfAttention(torch.zeros(0))
