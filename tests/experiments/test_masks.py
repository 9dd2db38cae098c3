"""Masked rank collapse: the theory against a direct eigen-solve, the verdict, and its rivals."""

from __future__ import annotations

import numpy as np
import pytest

from attnflow.experiments import get
from attnflow.experiments.masks import judge
from attnflow.theory.masks import band_averaging_matrix, collapse_factor, collapse_rate, small_window_gap


@pytest.mark.parametrize(("n", "window"), [(5, 1), (16, 2), (30, 7), (12, 11)])
def test_the_collapse_factor_is_the_second_eigenvalue_of_the_band_average(n, window):
    moduli = np.sort(np.abs(np.linalg.eigvals(band_averaging_matrix(n, window))))
    assert moduli[-1] == pytest.approx(1.0)
    assert collapse_factor(n, window) == pytest.approx(moduli[-2], abs=1e-12)


def test_narrow_windows_collapse_slower_and_the_gap_is_quadratic_in_the_window():
    n = 200
    gaps = [1 - collapse_factor(n, w) for w in (1, 2, 4)]
    assert gaps[0] < gaps[1] < gaps[2]
    for w, gap in zip((1, 2, 4), gaps, strict=True):
        assert gap == pytest.approx(small_window_gap(n, w), rel=0.1)


@pytest.fixture(scope="module")
def quick_run():
    experiment = get("masked-rank-collapse")
    params = {**experiment.defaults, **experiment.quick}
    return params, experiment.compute(params)


def test_quick_run_agrees(quick_run):
    params, values = quick_run
    assert judge(params, values).status == "agrees"


def test_a_rate_that_ignores_the_window_disagrees(quick_run):
    params, values = quick_run
    widest = max(params["windows"])
    assert judge(params, values, rate=lambda n, w: collapse_rate(n, widest)).status == "disagrees"


def test_a_gap_linear_in_the_window_disagrees(quick_run):
    params, values = quick_run
    widest = max(params["windows"])

    def linear(n, w):
        return float(np.log1p(-(1 - collapse_factor(n, widest)) * w / widest))

    assert judge(params, values, rate=linear).status == "disagrees"


def test_too_few_layers_is_inconclusive_not_a_disagreement():
    experiment = get("masked-rank-collapse")
    params = {**experiment.defaults, **experiment.quick, "windows": [1], "max_layers": 100}
    assert judge(params, experiment.compute(params)).status == "inconclusive"
