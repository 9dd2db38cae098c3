"""The two-token diffusion under random value matrices, against independent references: one step of the
layer map with whole Gaussian matrices (float64, antithetic pairs), the boundary exponents as limits of
the coefficients, and the exit probability by direct quadrature in ``c``."""

import math

import numpy as np
import pytest
from scipy.integrate import quad

from attnflow.theory.random_values import (
    antipodal_exponent,
    antipodal_probability,
    antipodal_threshold,
    collapse_exponent,
    pair_coefficients,
)


def _one_step_moments(c, beta, d, h, samples, seed=0):
    """Mean and second moment of Δc / h for one layer x ← N(x + √h G m_x) with whole matrices G."""
    rng = np.random.default_rng(seed)
    x = np.zeros(d)
    x[0] = 1.0
    y = np.zeros(d)
    y[0], y[1] = c, math.sqrt(1 - c * c)
    p = math.exp(beta) / (math.exp(beta) + math.exp(beta * c))
    mx, my = p * x + (1 - p) * y, p * y + (1 - p) * x
    g = rng.standard_normal((samples, d, d)) / math.sqrt(d)
    changes = []
    for sign in (1.0, -1.0):  # antithetic: the √h terms cancel in the mean of the pair
        xs = x + sign * math.sqrt(h) * g @ mx
        ys = y + sign * math.sqrt(h) * g @ my
        xs /= np.linalg.norm(xs, axis=1, keepdims=True)
        ys /= np.linalg.norm(ys, axis=1, keepdims=True)
        changes.append((xs * ys).sum(1) - c)
    drift = (changes[0] + changes[1]) / (2 * h)
    square = changes[0] ** 2 / h
    return drift.mean(), drift.std() / math.sqrt(samples), square.mean(), square.std() / math.sqrt(samples)


@pytest.mark.parametrize(("c", "beta", "d"), [(-0.7, 0.0, 4), (0.3, 2.0, 4), (-0.2, 1.0, 7)])
def test_drift_and_diffusion_match_one_layer_with_whole_matrices(c, beta, d):
    drift, drift_se, square, square_se = _one_step_moments(c, beta, d, h=1e-6, samples=100_000)
    mu, sigma2 = pair_coefficients(c, beta, d)
    # 5 standard errors; the O(h) = 1e-6 remainder of the expansion is far below them.
    assert abs(drift - mu) < 5 * drift_se + 1e-4
    assert abs(square - sigma2) < 5 * square_se + 1e-4


@pytest.mark.parametrize(("beta", "d"), [(0.0, 3), (0.5, 4), (2.0, 8), (3.0, 12)])
def test_boundary_exponents_are_the_limits_of_the_coefficients(beta, d):
    for w in (1e-4, 1e-5):
        mu, sigma2 = pair_coefficients(-1 + w, beta, d)
        assert mu / w - sigma2 / (2 * w * w) == pytest.approx(antipodal_exponent(beta, d), abs=20 * w)
        mu, sigma2 = pair_coefficients(1 - w, beta, d)
        # v = 1 − c: drift −μ, same diffusion
        assert -mu / w - sigma2 / (2 * w * w) == pytest.approx(collapse_exponent(d), abs=20 * w)


@pytest.mark.parametrize("d", [4, 6, 12, 40])
def test_threshold_is_where_the_antipodal_exponent_changes_sign(d):
    beta_c = antipodal_threshold(d)
    assert antipodal_exponent(beta_c, d) == pytest.approx(0.0, abs=1e-12)
    assert antipodal_exponent(beta_c - 0.05, d) > 0 > antipodal_exponent(beta_c + 0.05, d)
    assert antipodal_probability(0.0, beta_c - 0.05, d) == 0.0 < antipodal_probability(0.0, beta_c + 0.5, d)


@pytest.mark.parametrize("c0", [-0.5, 0.0, 0.7])
def test_circle_probability_is_arccos_over_pi_for_every_beta(c0):
    # d = 2: the scale density is sech y alone, so P = (π/2 − arcsin c₀)/π.
    for beta in (0.3, 2.0):
        assert antipodal_probability(c0, beta, 2) == pytest.approx(math.acos(c0) / math.pi, abs=1e-6)


@pytest.mark.parametrize(("c0", "beta", "d"), [(0.0, 1.0, 3), (-0.4, 3.0, 6), (0.2, 2.5, 5)])
def test_probability_matches_the_scale_function_by_quadrature_in_c(c0, beta, d):
    def ratio(c):
        mu, sigma2 = pair_coefficients(c, beta, d)
        return 2 * mu / sigma2

    def density(c):
        inner, _ = quad(ratio, 0.0, c, limit=200)
        return math.exp(-inner)

    total = quad(density, -1, 1, limit=400, points=[0.0])[0]
    above = quad(density, c0, 1, limit=400)[0]
    assert antipodal_probability(c0, beta, d) == pytest.approx(above / total, abs=2e-3)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="c0"):
        antipodal_probability(1.0, 1.0, 3)
    with pytest.raises(ValueError, match="d"):
        antipodal_exponent(1.0, 1)
    with pytest.raises(ValueError, match="c must"):
        pair_coefficients(1.5, 1.0, 3)
