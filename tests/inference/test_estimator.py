"""The attention estimator against an explicit softmax, its error against n, and the slope fit."""

import numpy as np
import pytest
import torch
from scipy import stats

from attnflow.inference import (
    AttentionParameters,
    GaussianWorld,
    MixtureWorld,
    RegressionWorld,
    attend,
    attention_estimator,
    error_curve,
)
from attnflow.measure.fits import fit_loglog_slope, fit_slope
from attnflow.random import spawn


def _random_parameters(d: int = 4, d_a: int = 3, d_v: int = 2, beta: float = 0.7) -> AttentionParameters:
    g = torch.Generator().manual_seed(0)
    draw = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64)  # noqa: E731
    return AttentionParameters(draw(d_a, d), draw(d_a, d), draw(d_v, d), beta)


def test_attend_matches_explicit_softmax_average_with_and_without_mask():
    params = _random_parameters()
    g = torch.Generator().manual_seed(1)
    tokens = torch.randn(3, 5, 4, generator=g, dtype=torch.float64)
    queries = torch.randn(3, 2, 4, generator=g, dtype=torch.float64)
    mask = torch.tensor([[True, False, True, True, False], [False, True, True, True, True]])
    for attn_mask in (None, mask):
        out = attend(params, queries, tokens, attn_mask).numpy()
        for b in range(3):
            for m in range(2):
                allowed = range(5) if attn_mask is None else np.flatnonzero(mask[m].numpy())
                scores = np.array(
                    [0.7 * (params.query @ queries[b, m]) @ (params.key @ tokens[b, i]) for i in allowed]
                )
                weights = np.exp(scores - scores.max())
                weights /= weights.sum()
                expected = sum(
                    w * (params.value @ tokens[b, i]).numpy() for w, i in zip(weights, allowed, strict=True)
                )
                np.testing.assert_allclose(out[b, m], expected, rtol=1e-12)


def test_bilinear_is_beta_wq_transpose_wk():
    params = _random_parameters()
    np.testing.assert_allclose(params.bilinear(), 0.7 * params.query.T @ params.key)


def test_right_parameters_beat_misspecified_ones():
    gaussian = GaussianWorld(query_scale=0.5)
    mixture = MixtureWorld(np.random.default_rng(0).standard_normal((3, 2, 2)), query_scale=0.5)
    for world in (gaussian, mixture):
        right = world.right_parameters(1)
        hot = AttentionParameters(right.query, right.key, right.value, right.beta * 4)
        swapped = AttentionParameters(right.query.flip(0), right.key, right.value, right.beta)
        sizes = {"n_sets": 64, "n_queries": 4, "seeds": (0, 1)}
        good = error_curve(world, [256], **sizes).errors
        for wrong in (hot, swapped):
            bad = error_curve(world, [256], attention_estimator(world, wrong), **sizes).errors
            assert (good < 0.5 * bad).all()


def test_error_decreases_with_n_with_a_negative_slope_ci():
    world = GaussianWorld(query_scale=0.5)
    curve = error_curve(world, [8, 32, 128, 512], n_sets=48, n_queries=4, seeds=range(4))
    fit = fit_loglog_slope(curve.ns, curve.errors)
    assert fit.ci_high < 0
    assert (np.diff(curve.mean) < 0).all()


def test_error_curve_rows_are_reproducible_per_seed_and_take_spawned_children():
    world = GaussianWorld(query_scale=0.5)
    sizes = {"n_sets": 8, "n_queries": 2}
    children = spawn(0, 2)
    curve = error_curve(world, [4, 16], seeds=[*children, 7], **sizes)
    np.testing.assert_array_equal(
        curve.errors[2], error_curve(world, [4, 16], seeds=[7, 8], **sizes).errors[0]
    )
    np.testing.assert_array_equal(
        curve.errors[:2], error_curve(world, [4, 16], seeds=children, **sizes).errors
    )
    assert not np.array_equal(curve.errors[0], curve.errors[1])


def test_bayes_prediction_beats_attention_and_both_converge():
    world = GaussianWorld(query_scale=0.5)
    sizes = {"n_sets": 48, "n_queries": 4, "seeds": (0, 1, 2)}
    bayes = error_curve(world, [16, 256], world.predictive_mean, **sizes)
    attention = error_curve(world, [16, 256], **sizes)
    assert (bayes.errors < attention.errors).all()
    assert fit_loglog_slope(bayes.ns, bayes.errors).ci_high < 0


def test_attention_at_fixed_beta_converges_to_the_quadrature_kernel_mean():
    world = RegressionWorld(lambda k: torch.cos(2 * torch.atan2(k[..., 1], k[..., 0]))[..., None])
    generator = torch.Generator().manual_seed(3)
    right = world.right_parameters(1)
    params = AttentionParameters(right.query, right.key, right.value, beta=5.0)
    queries = world.sample_queries(4, 2, generator)
    target = world.kernel_mean(queries, 5.0)
    errors = []
    for n in (100, 20000):
        sets = world.sample(4, n, generator)
        estimate = attention_estimator(world, params)(queries, sets).numpy()
        errors.append(np.sqrt(np.mean((estimate - target) ** 2)))
    assert errors[1] < 0.02 < errors[0]


def test_fit_slope_matches_per_seed_linregress_and_covers_a_known_rate():
    rng = np.random.default_rng(0)
    ns = np.array([10.0, 40, 160, 640, 2560])
    errors = 3.0 * ns**-0.5 * np.exp(0.05 * rng.standard_normal((6, ns.size)))
    fit = fit_loglog_slope(ns, errors)
    slopes = [stats.linregress(np.log(ns), np.log(row)).slope for row in errors]
    np.testing.assert_allclose(fit.per_seed, slopes, rtol=1e-10)
    half = stats.t.ppf(0.975, 5) * np.std(slopes, ddof=1) / np.sqrt(6)
    assert fit.ci_high - fit.slope == pytest.approx(half)
    assert fit.contains(-0.5)
    assert np.exp(fit.intercept) == pytest.approx(3.0, rel=0.1)


def test_slope_fit_rejects_bad_input():
    with pytest.raises(ValueError, match="2 seeds"):
        fit_slope(np.arange(3.0), np.ones((1, 3)))
    with pytest.raises(ValueError, match="positive"):
        fit_loglog_slope(np.array([1.0, 2.0]), np.array([[1.0, 0.0], [1.0, 1.0]]))
    with pytest.raises(ValueError, match="shape"):
        fit_slope(np.arange(3.0), np.ones((2, 4)))


def test_parameter_and_input_errors_name_the_argument():
    params = _random_parameters()
    with pytest.raises(ValueError, match="beta"):
        AttentionParameters(params.query, params.key, params.value, beta=0.0)
    with pytest.raises(ValueError, match="query and key"):
        AttentionParameters(params.query, params.key[:, :3], params.value)
    with pytest.raises(ValueError, match="value"):
        AttentionParameters(params.query, params.key, params.value[:, :3])
    queries = torch.zeros(2, 1, 4, dtype=torch.float64)
    with pytest.raises(ValueError, match="tokens"):
        attend(params, queries, torch.zeros(2, 3, 5, dtype=torch.float64))
    with pytest.raises(ValueError, match="n >= 1"):
        attend(params, queries, torch.zeros(2, 0, 4, dtype=torch.float64))
    with pytest.raises(ValueError, match="query_tokens"):
        attend(params, torch.zeros(3, 1, 4, dtype=torch.float64), torch.zeros(2, 3, 4, dtype=torch.float64))
    with pytest.raises(ValueError, match="attn_mask"):
        attend(
            params, queries, torch.zeros(2, 3, 4, dtype=torch.float64), torch.zeros(1, 3, dtype=torch.bool)
        )
    with pytest.raises(ValueError, match="ns entries"):
        error_curve(GaussianWorld(), [0, 4])
    with pytest.raises(ValueError, match="reference"):
        error_curve(GaussianWorld(), [4], reference="bayes")
