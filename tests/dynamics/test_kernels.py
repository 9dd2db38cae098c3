"""The fused small-d kernel against a float64 direct computation, and how SelfAttention chooses it."""

import math

import pytest
import torch

from attnflow import SelfAttention, init, simulate
from attnflow.dynamics import kernels
from attnflow.dynamics.attention import FUSED_AUTO_MAX_DIM, FUSED_MAX_DIM, FUSED_MIN_TOKENS

EPS32 = torch.finfo(torch.float32).eps


def direct_attention(q, k, v, beta, causal, softmax):
    """Σ_j e^{β⟨q_i,k_j⟩} v_j / Z_i with the (B, n, n) kernel formed in float64 and Z_i its row sum or n."""
    q, k, v = q.double(), k.double(), v.double()
    scores = beta * q @ k.transpose(-1, -2)
    if causal:
        scores = scores.masked_fill(torch.ones_like(scores, dtype=torch.bool).triu(1), -math.inf)
    if softmax:
        return torch.softmax(scores, dim=-1) @ v
    return torch.exp(scores) @ v / k.shape[-2]


def clouds(batch, n, d, dtype, seed=0):
    return torch.stack([init.uniform_sphere(n, d, seed=seed + b, dtype=dtype) for b in range(batch)])


def tolerance(dtype, beta):
    """float32: a few roundings of a score β⟨x_i,x_j⟩ (its error scales with |β|); float64: near exact."""
    return 8 * EPS32 * (1 + abs(beta)) if dtype == torch.float32 else 1e-12 * (1 + abs(beta))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(("n", "d"), [(1, 3), (37, 2), (600, 3), (130, 16)])
@pytest.mark.parametrize("beta", [0.0, 1.5, -3.0, 200.0])
@pytest.mark.parametrize("causal", [False, True])
def test_softmax_kernel_matches_direct(dtype, n, d, beta, causal):
    x = clouds(2, n, d, dtype, seed=n + d)
    out = kernels.fused_attention(x, x, x, beta, causal, softmax=True)
    assert out.dtype == dtype and out.shape == x.shape
    torch.testing.assert_close(
        out.double(), direct_attention(x, x, x, beta, causal, True), atol=tolerance(dtype, beta), rtol=0
    )


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("beta", [0.0, 2.0, -3.0, 40.0])
@pytest.mark.parametrize("causal", [False, True])
def test_unnormalised_kernel_matches_direct(dtype, beta, causal):
    x = clouds(3, 700, 3, dtype, seed=5)
    out = kernels.fused_attention(x, x, x, beta, causal, softmax=False).double()
    ref = direct_attention(x, x, x, beta, causal, False)
    scale = ref.abs().max()
    torch.testing.assert_close(out / scale, ref / scale, atol=tolerance(dtype, beta), rtol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_loose_shift_recomputes_with_exact_maximum(dtype):
    """β = −200 on a tight cluster: the norm bound |β| is ~400 above every score, far past exp's range."""
    centre = torch.tensor([0.0, 0.0, 1.0], dtype=dtype)
    x = centre + 0.05 * clouds(1, 300, 3, dtype)
    x = (x / x.norm(dim=-1, keepdim=True)).to(dtype)
    out = kernels.fused_attention(x, x, x, -200.0, False, softmax=True)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(
        out.double(), direct_attention(x, x, x, -200.0, False, True), atol=tolerance(dtype, 200.0), rtol=0
    )


def test_projected_queries_keys_and_values_of_other_dimensions():
    gen = torch.Generator().manual_seed(1)
    q, k = (2 * torch.randn(2, 530, 5, generator=gen) for _ in range(2))
    v = torch.randn(2, 530, 7, generator=gen)
    out = kernels.fused_attention(q, k, v, 3.0, False, softmax=True)
    assert out.shape == (2, 530, 7)
    torch.testing.assert_close(out.double(), direct_attention(q, k, v, 3.0, False, True), atol=1e-4, rtol=0)


@pytest.mark.parametrize("variant", ["SA", "USA"])
@pytest.mark.parametrize("geometry", ["sphere", "euclidean"])
@pytest.mark.parametrize("causal", [False, True])
def test_field_with_fused_backend_matches_sdpa_in_float64(variant, geometry, causal):
    gen = torch.Generator().manual_seed(2)
    weights = {
        "Q": torch.randn(2, 3, 4, generator=gen, dtype=torch.float64),
        "K": torch.randn(2, 3, 4, generator=gen, dtype=torch.float64),
        "V": torch.randn(2, 4, 4, generator=gen, dtype=torch.float64),
    }
    x = clouds(2, 64, 4, torch.float64)
    fused = SelfAttention(1.3, variant, geometry, causal=causal, backend="fused", **weights)
    reference = SelfAttention(1.3, variant, geometry, causal=causal, backend="sdpa", **weights)
    torch.testing.assert_close(fused(0.0, x), reference(0.0, x), atol=1e-12, rtol=1e-10)
    torch.testing.assert_close(fused(0.0, x[0]), reference(0.0, x[0]), atol=1e-12, rtol=1e-10)


def test_simulate_with_fused_backend_matches_sdpa():
    x0 = init.uniform_sphere(FUSED_MIN_TOKENS, 3, seed=4)
    runs = [
        simulate(SelfAttention(9.0, backend=b), x0, t_end=1.0, dt=0.1, method="rk4").final
        for b in ("fused", "sdpa")
    ]
    torch.testing.assert_close(runs[0], runs[1], atol=2e-5, rtol=0)


def test_backend_is_validated():
    with pytest.raises(ValueError, match="backend"):
        SelfAttention(1.0, backend="gpu")
    with pytest.raises(ValueError, match="sinkhorn"):
        SelfAttention(1.0, variant="sinkhorn", backend="fused")
    assert SelfAttention(1.0, backend="fused").describe()["backend"] == "fused"


def test_auto_backend_chooses_fused_where_it_applies():
    big = init.uniform_sphere(FUSED_MIN_TOKENS, 3, seed=0)
    auto = SelfAttention(1.0)
    assert auto.backend_for(big) == "fused"
    assert auto.backend_for(big.double().expand(2, -1, -1)) == "fused"
    assert SelfAttention(1.0, variant="USA").backend_for(big) == "fused"
    assert auto.backend_for(big[: FUSED_MIN_TOKENS - 1]) == "sdpa"
    assert auto.backend_for(init.uniform_sphere(FUSED_MIN_TOKENS, FUSED_AUTO_MAX_DIM, seed=0)) == "fused"
    assert auto.backend_for(init.uniform_sphere(FUSED_MIN_TOKENS, FUSED_AUTO_MAX_DIM + 1, seed=0)) == "sdpa"
    forced = SelfAttention(1.0, backend="fused")
    assert forced.backend_for(init.uniform_sphere(8, FUSED_MAX_DIM, seed=0)) == "fused"
    assert auto.backend_for(big.half()) == "sdpa"
    assert SelfAttention(1.0, variant="sinkhorn").backend_for(big) == "sdpa"
    assert SelfAttention(1.0, backend="sdpa").backend_for(big) == "sdpa"
    assert SelfAttention(1.0, backend="fused").backend_for(big[:5]) == "fused"
    # The kernel sees projected tokens: queries and keys of rank 4 on d = 8; values stay d-dimensional.
    low_rank = torch.randn(4, 8)
    eligible = SelfAttention(1.0, Q=low_rank, K=low_rank)
    assert eligible.backend_for(init.uniform_sphere(FUSED_MIN_TOKENS, 8, seed=0)) == "fused"


def test_gradients_take_sdpa():
    x = init.uniform_sphere(FUSED_MIN_TOKENS, 3, seed=0).requires_grad_()
    assert SelfAttention(1.0).backend_for(x) == "sdpa"
    with torch.no_grad():
        assert SelfAttention(1.0).backend_for(x) == "fused"
    q = torch.eye(3, requires_grad=True)
    assert SelfAttention(1.0, Q=q).backend_for(x.detach()) == "sdpa"
    with pytest.raises(ValueError, match="autograd"):
        SelfAttention(1.0, backend="fused").backend_for(x)
    with pytest.raises(ValueError, match="dimensions"):
        SelfAttention(1.0, backend="fused").backend_for(init.uniform_sphere(8, FUSED_MAX_DIM + 1, seed=0))
    # The gradient itself flows through the SDPA path.
    SelfAttention(1.0)(0.0, x).pow(2).sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_call_runs_the_kernel_that_backend_for_names(monkeypatch):
    calls = []
    original = kernels.fused_attention

    def spy(*args, **kwargs):
        calls.append(args[0].shape)
        return original(*args, **kwargs)

    monkeypatch.setattr(kernels, "fused_attention", spy)
    field = SelfAttention(2.0)
    field(0.0, init.uniform_sphere(FUSED_MIN_TOKENS, 3, seed=0))
    assert calls == [(1, FUSED_MIN_TOKENS, 3)]
    field(0.0, init.uniform_sphere(FUSED_MIN_TOKENS - 1, 3, seed=0))
    assert len(calls) == 1
