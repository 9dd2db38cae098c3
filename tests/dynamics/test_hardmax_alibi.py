"""Hardmax attention and ALiBi biases against a direct float64 computation with the n×n matrix formed."""

import numpy as np
import pytest
import torch

from attnflow import SelfAttention, init


def direct(x, beta, variant, causal=False, alibi=0.0, Q=None, K=None, geometry="sphere"):
    """ẋ_i = P(Σ_j A_ij x_j) with A formed explicitly in NumPy float64 (V = I)."""
    x = x.double().numpy()
    n = x.shape[0]
    q = x if Q is None else x @ Q.double().numpy().T
    k = x if K is None else x @ K.double().numpy().T
    i, j = np.indices((n, n))
    scores = beta * q @ k.T - alibi * np.abs(i - j)
    if causal:
        scores = np.where(j > i, -np.inf, scores)
    if variant == "hardmax":
        # Ties designed into the inputs are exact up to a few ulps of the scores.
        weights = (scores >= scores.max(1, keepdims=True) - 1e-12).astype(float)
        weights /= weights.sum(1, keepdims=True)
    else:
        kernel = np.exp(scores)
        weights = kernel / (kernel.sum(1, keepdims=True) if variant == "SA" else n)
    out = weights @ x
    if geometry == "sphere":
        out = out - (out * x).sum(1, keepdims=True) * x
    return torch.from_numpy(out)


@pytest.fixture
def cloud_with_ties():
    x = init.uniform_sphere(8, 3, seed=4, dtype=torch.float64)
    # Tokens 5 and 6 repeat tokens 1 and 2: every token that prefers 1 (or 2) ties with its copy.
    x[5], x[6] = x[1], x[2]
    return x


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("beta", [1.0, -3.0])
def test_hardmax_matches_direct(cloud_with_ties, causal, beta):
    Q = torch.tensor([[1.0, 0.2, 0.0], [0.0, 0.5, 0.3], [0.1, 0.0, 2.0]], dtype=torch.float64)
    field = SelfAttention(beta, "hardmax", Q=Q, causal=causal)
    expected = direct(cloud_with_ties, beta, "hardmax", causal=causal, Q=Q)
    torch.testing.assert_close(field(0.0, cloud_with_ties), expected, atol=1e-13, rtol=1e-12)


def test_hardmax_shares_weight_between_tied_maximisers():
    # Euclidean, Q = K = I: token 0 at the origin sees all scores 0 (a full tie): the mean of all tokens.
    x = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]], dtype=torch.float64)
    velocity = SelfAttention(1.0, "hardmax", geometry="euclidean")(0.0, x)
    torch.testing.assert_close(velocity[0], x.mean(0))
    # Token 1 maximises ⟨x_1, x_j⟩ at j = 1 alone.
    torch.testing.assert_close(velocity[1], x[1])


def test_hardmax_is_the_large_beta_limit_of_softmax():
    x = init.uniform_sphere(12, 4, seed=9, dtype=torch.float64)
    K = torch.randn(4, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    scores = (x @ (x @ K.T).T).sort(dim=1, descending=True).values
    gap = float((scores[:, 0] - scores[:, 1]).min())
    # At β = 40/gap every non-maximiser has weight ≤ e^{−40}: softmax is within 2n·e^{−40} of hardmax.
    beta = 40.0 / gap
    hard = SelfAttention(1.0, "hardmax", K=K)(0.0, x)
    soft = SelfAttention(beta, "SA", K=K)(0.0, x)
    torch.testing.assert_close(SelfAttention(beta, "hardmax", K=K)(0.0, x), hard)  # only β's sign matters
    torch.testing.assert_close(soft, hard, atol=1e-12, rtol=0)


@pytest.mark.parametrize("variant", ["SA", "USA", "hardmax"])
@pytest.mark.parametrize("causal", [False, True])
def test_alibi_matches_direct(variant, causal):
    x = init.uniform_sphere(10, 3, seed=6, dtype=torch.float64)
    field = SelfAttention(2.0, variant, causal=causal, alibi=0.35)
    expected = direct(x, 2.0, variant, causal=causal, alibi=0.35)
    torch.testing.assert_close(field(0.0, x), expected, atol=1e-12, rtol=1e-10)


def test_blocked_paths_agree_with_one_block(monkeypatch):
    import attnflow.dynamics.attention as attention

    x = init.uniform_sphere(40, 3, seed=1, dtype=torch.float64)
    fields = [SelfAttention(3.0, "hardmax", causal=True, alibi=0.1), SelfAttention(3.0, "SA", alibi=0.2)]
    whole = [f(0.0, x) for f in fields]
    monkeypatch.setattr(attention, "_BLOCK_ELEMENTS", 40 * 7)  # blocks of 7 rows
    for f, w in zip(fields, whole, strict=True):
        torch.testing.assert_close(f(0.0, x), w)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"variant": "hardmax", "backend": "fused"}, "backend='fused'"),
        ({"alibi": -1.0}, "alibi must be a slope >= 0"),
        ({"alibi": 0.5, "variant": "sinkhorn"}, "alibi is not supported"),
    ],
)
def test_bad_options(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SelfAttention(1.0, **kwargs)
