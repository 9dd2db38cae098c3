"""The fused self-attention field against a direct float64 computation of the seed-002 equations."""

import math

import pytest
import torch

from attnflow import FeedForward, SelfAttention, init


def direct_field(x, beta, variant="SA", Q=None, K=None, V=None, causal=False, geometry="sphere", ff=None):
    """ẋ_i = P_{x_i}(Σ_h Σ_j A^h_ij V_h x_j + ff(x_i)) with the n×n matrix formed explicitly."""
    x = x.double()
    n, d = x.shape
    eye = torch.eye(d, dtype=torch.float64)

    def stack(w):
        if w is None:
            return None
        w = w.double()
        return w if w.ndim == 3 else w.unsqueeze(0)

    Qs, Ks, Vs = stack(Q), stack(K), stack(V)
    heads = max((w.shape[0] for w in (Qs, Ks, Vs) if w is not None), default=1)
    total = torch.zeros(n, d, dtype=torch.float64)
    for h in range(heads):
        q = x @ (eye if Qs is None else Qs[h % Qs.shape[0]]).T
        k = x @ (eye if Ks is None else Ks[h % Ks.shape[0]]).T
        v = x @ (eye if Vs is None else Vs[h % Vs.shape[0]]).T
        kernel = torch.exp(beta * q @ k.T)
        if causal:
            kernel = torch.tril(kernel)
        if variant == "SA":
            weights = kernel / kernel.sum(1, keepdim=True)
        elif variant == "USA":
            weights = kernel / n
        else:
            weights = kernel.clone()
            for _ in range(20000):
                weights = weights / weights.sum(1, keepdim=True)
                weights = weights / weights.sum(0, keepdim=True)
            weights = weights / weights.sum(1, keepdim=True)
        total += weights @ v
    if ff is not None:
        total += torch.relu(x @ ff.a.double().T + ff.b.double()) @ ff.w.double().T
    if geometry == "sphere":
        total = total - (total * x).sum(-1, keepdim=True) * x
    return total


@pytest.fixture
def cloud():
    return init.uniform_sphere(9, 4, seed=3, dtype=torch.float64)


@pytest.mark.parametrize("variant", ["SA", "USA", "sinkhorn"])
@pytest.mark.parametrize("beta", [0.0, 1.7, -2.0, 8.0])
def test_identity_weights_match_direct(cloud, variant, beta):
    field = SelfAttention(beta, variant, sinkhorn_iters=20000, sinkhorn_tol=1e-14)
    torch.testing.assert_close(field(0.0, cloud), direct_field(cloud, beta, variant), atol=1e-11, rtol=1e-9)


@pytest.mark.parametrize("variant", ["SA", "USA"])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("geometry", ["sphere", "euclidean"])
def test_general_weights_match_direct(cloud, variant, causal, geometry):
    g = torch.Generator().manual_seed(1)
    Q, K = torch.randn(3, 2, 4, generator=g, dtype=torch.float64), torch.randn(3, 2, 4, generator=g).double()
    V = torch.randn(3, 4, 4, generator=g, dtype=torch.float64)
    ff = FeedForward(
        w=torch.randn(4, 5, dtype=torch.float64), a=torch.randn(5, 4).double(), b=torch.randn(5).double()
    )
    field = SelfAttention(0.9, variant, geometry, Q=Q, K=K, V=V, causal=causal, feedforward=ff)
    assert field.heads == 3
    expected = direct_field(cloud, 0.9, variant, Q, K, V, causal, geometry, ff)
    torch.testing.assert_close(field(0.0, cloud), expected, atol=1e-10, rtol=1e-9)


@pytest.mark.parametrize("variant", ["SA", "USA"])
@pytest.mark.parametrize("beta", [0.0, -1.5, 2.0])
def test_causal_any_beta_matches_direct(cloud, variant, beta):
    field = SelfAttention(beta, variant, causal=True)
    torch.testing.assert_close(field(0.0, cloud), direct_field(cloud, beta, variant, causal=True))


def test_sinkhorn_with_low_rank_weights_matches_direct(cloud):
    Q, K = torch.randn(2, 4, dtype=torch.float64), torch.randn(2, 4, dtype=torch.float64)
    field = SelfAttention(1.3, "sinkhorn", Q=Q, K=K, sinkhorn_iters=20000, sinkhorn_tol=1e-14)
    torch.testing.assert_close(
        field(0.0, cloud), direct_field(cloud, 1.3, "sinkhorn", Q, K), atol=1e-10, rtol=0
    )


def test_blocked_paths_agree_with_unblocked(cloud, monkeypatch):
    import attnflow.dynamics.attention as attention

    cases = {"USA": (2.0, False), "sinkhorn": (2.0, False), "SA": (-1.0, True)}
    full = {v: SelfAttention(beta, v, causal=causal)(0.0, cloud) for v, (beta, causal) in cases.items()}
    monkeypatch.setattr(attention, "_BLOCK_ELEMENTS", 20)  # forces blocks of two query rows
    for variant, (beta, causal) in cases.items():
        blocked = SelfAttention(beta, variant, causal=causal)(0.0, cloud)
        torch.testing.assert_close(blocked, full[variant], atol=1e-9, rtol=1e-7)


@pytest.mark.parametrize("variant", ["SA", "USA", "sinkhorn"])
def test_shared_weights_equal_an_explicit_stack_of_identical_heads(cloud, variant):
    V = torch.randn(4, 4, dtype=torch.float64)
    shared = SelfAttention(1.5, variant, V=V, heads=3)(0.0, cloud)
    stacked = SelfAttention(1.5, variant, V=V.expand(3, 4, 4).clone())(0.0, cloud)
    torch.testing.assert_close(shared, stacked)
    torch.testing.assert_close(shared, 3 * direct_field(cloud, 1.5, variant, V=V), atol=1e-6, rtol=1e-6)


def test_time_dependent_weights_are_evaluated_at_t(cloud):
    layers = [torch.randn(4, 4, dtype=torch.float64) for _ in range(2)]
    field = SelfAttention(1.0, V=lambda t: layers[int(t >= 1.0)])
    for t, V in ((0.5, layers[0]), (1.5, layers[1])):
        torch.testing.assert_close(field(t, cloud), direct_field(cloud, 1.0, V=V))
    assert field.time_dependent


def test_permutation_equivariance(cloud):
    perm = torch.randperm(cloud.shape[0])
    for variant in ("SA", "USA", "sinkhorn"):
        field = SelfAttention(3.0, variant)
        torch.testing.assert_close(field(0.0, cloud[perm]), field(0.0, cloud)[perm])


def test_batched_equals_one_by_one():
    xs = init.uniform_sphere(6, 3, seed=1, batch=4, dtype=torch.float64)
    for variant in ("SA", "USA", "sinkhorn"):
        # Sinkhorn stops on the worst run of a batch: converge fully so both paths agree.
        field = SelfAttention(2.0, variant, sinkhorn_iters=10000, sinkhorn_tol=1e-14)
        torch.testing.assert_close(field(0.0, xs), torch.stack([field(0.0, x) for x in xs]))


def test_tangent_and_large_beta_finite():
    x = init.uniform_sphere(500, 3, seed=0)
    v = SelfAttention(1e4)(0.0, x)
    assert torch.isfinite(v).all()
    assert (v * x).sum(-1).abs().max() < 1e-5


def test_causal_first_token_does_not_move(cloud):
    v = SelfAttention(2.0, causal=True)(0.0, cloud)
    assert v[0].abs().max() == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"beta": math.nan}, "beta"),
        ({"beta": 1.0, "variant": "softmax"}, "variant"),
        ({"beta": 1.0, "geometry": "torus"}, "geometry"),
        ({"beta": 1.0, "variant": "sinkhorn", "causal": True}, "sinkhorn"),
        ({"beta": 1.0, "Q": torch.ones(2, 3, 3), "K": torch.ones(3, 3, 3)}, "heads"),
        ({"beta": 1.0, "Q": torch.ones(2, 3, 3), "heads": 3}, "heads"),
        ({"beta": 1.0, "V": torch.ones(3)}, "V"),
        ({"beta": 1.0, "Q": torch.full((3, 3), math.inf)}, "Q"),
    ],
)
def test_bad_parameters_name_the_argument(kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        SelfAttention(**kwargs)


def test_bad_states_are_rejected():
    field = SelfAttention(1.0, V=torch.eye(3))
    with pytest.raises(ValueError, match="d=4"):
        field.check_state(torch.ones(5, 4))
    with pytest.raises(ValueError, match="d >= 2"):
        SelfAttention(1.0).check_state(torch.ones(5, 1))
    with pytest.raises(ValueError, match="shape"):
        field.check_state(torch.ones(3))
    with pytest.raises(ValueError, match="NaN"):
        field.check_state(torch.full((2, 3), math.nan))
