"""The long-context transition: closed forms against a direct computation, the verdict and its rivals."""

from __future__ import annotations

import math

import numpy as np
import pytest

from attnflow.experiments import get
from attnflow.experiments.long_context import judge, layer_output_cosine, simplex_cloud
from attnflow.theory.long_context import (
    correction_exponent,
    critical_gamma,
    limit_cosine,
    output_cosine,
    self_weight,
)


def direct_output_cosine(n: int, gamma: float, rho: float) -> float:
    """The layer on the Gram matrix alone, in float64 NumPy: softmax rows, outputs' Gram, cosine."""
    gram = np.full((n, n), rho)
    np.fill_diagonal(gram, 1.0)
    scores = gamma * math.log(n) * gram
    weights = np.exp(scores - scores.max(axis=1, keepdims=True))
    weights /= weights.sum(axis=1, keepdims=True)
    outputs = weights @ gram @ weights.T
    norms = np.sqrt(np.diag(outputs))
    return float((outputs / np.outer(norms, norms))[0, 1])


@pytest.mark.parametrize("n", [2, 3, 17, 200])
@pytest.mark.parametrize("ratio", [0.3, 1.0, 2.5])
def test_the_closed_form_matches_a_direct_float64_computation(n: int, ratio: float) -> None:
    rho = 0.3
    gamma = ratio * critical_gamma(rho)
    assert output_cosine(n, gamma, rho) == pytest.approx(direct_output_cosine(n, gamma, rho), abs=1e-12)


def test_the_limits_and_rates_are_the_theorems() -> None:
    rho = 0.5
    assert critical_gamma(rho) == 2.0
    assert limit_cosine(2.0, rho) == pytest.approx(4 * rho / (1 + 3 * rho))
    assert (limit_cosine(1.0, rho), limit_cosine(3.0, rho)) == (1.0, rho)
    assert self_weight(1000, 2.0, rho) == pytest.approx(1000 / 1999)
    huge = 1e14
    for gamma in (1.0, 2.0, 3.0):
        assert output_cosine(huge, gamma, rho) == pytest.approx(limit_cosine(gamma, rho), abs=1e-5)
    assert correction_exponent(1.5, rho) == pytest.approx(-0.5)
    assert correction_exponent(3.0, rho) == pytest.approx(-0.5)


def test_the_library_layer_on_an_explicit_cloud_matches_the_closed_form() -> None:
    cloud = simplex_cloud(100, 0.4)
    gram = cloud @ cloud.T
    assert np.allclose(gram.numpy(), np.where(np.eye(100, dtype=bool), 1.0, 0.4))
    gamma = 1.3 * critical_gamma(0.4)
    measured = layer_output_cosine(cloud, gamma * math.log(100))
    assert measured == pytest.approx(output_cosine(100, gamma, 0.4), abs=1e-12)


@pytest.fixture(scope="module")
def quick() -> tuple[dict, dict]:
    experiment = get("long-context-transition")
    evaluation = experiment.evaluate(quick=True)
    return evaluation.params, evaluation.values


def test_the_quick_size_agrees(quick: tuple[dict, dict]) -> None:
    params, values = quick
    verdict = judge(params, values)
    assert verdict.status == "agrees", verdict.measured


def test_a_wrong_threshold_is_rejected(quick: tuple[dict, dict]) -> None:
    """Rival: the transition at γ = 1/(1−ρ)² instead of 1/(1−ρ) (same laws, wrong constant)."""
    params, values = quick

    def rival_threshold(rho: float) -> float:
        return 1 / (1 - rho) ** 2

    def rival_limit(gamma: float, rho: float) -> float:
        scaled = gamma / rival_threshold(rho)
        return 4 * rho / (1 + 3 * rho) if math.isclose(scaled, 1.0) else (1.0 if scaled < 1 else rho)

    def rival_exponent(gamma: float, rho: float) -> float:
        scaled = gamma / rival_threshold(rho)
        return -1.0 if math.isclose(scaled, 1.0) else (-2 * (1 - scaled) if scaled < 1 else -(scaled - 1))

    verdict = judge(params, values, limit=rival_limit, exponent=rival_exponent, threshold=rival_threshold)
    assert verdict.status == "disagrees"


def test_a_wrong_critical_value_is_rejected(quick: tuple[dict, dict]) -> None:
    """Rival: at the threshold the cosine tends to the midpoint (1+ρ)/2 of the neighbouring limits."""
    params, values = quick

    def rival_limit(gamma: float, rho: float) -> float:
        if math.isclose(gamma, critical_gamma(rho)):
            return (1 + rho) / 2
        return limit_cosine(gamma, rho)

    assert judge(params, values, limit=rival_limit).status == "disagrees"


def test_too_few_sizes_are_inconclusive(quick: tuple[dict, dict]) -> None:
    params, values = quick
    narrow = {"sizes": values["sizes"][:2], "cosine": values["cosine"][:, :2]}
    assert judge(params, narrow).status == "inconclusive"


def test_bad_levels_are_refused() -> None:
    with pytest.raises(ValueError, match="rho"):
        critical_gamma(1.0)
    with pytest.raises(ValueError, match="gamma"):
        output_cosine(10, -1.0, 0.5)


def test_the_figure_is_drawn(quick: tuple[dict, dict], tmp_path) -> None:
    params, values = quick
    paths = get("long-context-transition").figures(params, values, tmp_path)
    assert all(p.exists() and p.stat().st_size > 10_000 for p in paths)
