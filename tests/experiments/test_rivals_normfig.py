"""normalization-random-weights: the law selection on closed-form curves, the verdict on the quick run,
and named rivals (swapped laws, pre-LN judged as exponential, the exponent of the distance instead of its
square) that must disagree with the same measurements."""

from __future__ import annotations

import numpy as np
import pytest

from attnflow.experiments import get
from attnflow.experiments.normalization import judge_random, law_score

TIMES = np.linspace(5.0, 40.0, 30)


def test_law_score_picks_the_law_of_closed_form_curves():
    assert law_score(TIMES, 3.0 * np.exp(-2.0 * TIMES)) > 0
    assert law_score(TIMES, 3.0 * TIMES**-2.0) < 0


@pytest.fixture(scope="module")
def quick():
    return get("normalization-random-weights").evaluate(quick=True)


def test_quick_run_agrees_with_the_theory_laws(quick):
    assert quick.verdict.status == "agrees", quick.verdict.measured
    assert quick.params["d"] > quick.params["n"]


@pytest.mark.parametrize(
    "rival",
    [
        {"post": ("power", 2.0), "pre": ("exponential", 2.0)},  # the laws swapped
        {"post": ("exponential", 2.0), "pre": ("exponential", 2.0)},  # pre-LN judged as exponential
        {"post": ("exponential", 1.0), "pre": ("power", 1.0)},  # the rate of |θ_i − θ_j|, not its square
    ],
    ids=["swapped-laws", "pre-ln-exponential", "distance-exponent"],
)
def test_rivals_disagree_with_the_quick_run(quick, rival):
    assert judge_random(quick.params, quick.values, rival).status == "disagrees"


def test_too_few_usable_draws_is_inconclusive(quick):
    values = dict(quick.values)
    for scheme in ("post", "pre"):
        scores = values[f"{scheme}_scores"].copy()
        scores[1:] = np.nan
        values[f"{scheme}_scores"] = scores
    predictions = {"post": ("exponential", 2.0), "pre": ("power", 2.0)}
    assert judge_random(quick.params, values, predictions).status == "inconclusive"


def test_band_figure_is_written(tmp_path):
    from attnflow.viz.claims import plot_normalization_band

    curve = np.exp(-2.0 * TIMES)
    bands = {
        "post": (TIMES, curve, 0.5 * curve, 2.0 * curve),
        "pre": (TIMES, TIMES**-2.0, TIMES**-2.5, TIMES**-1.5),
    }
    plot_normalization_band(bands, path=tmp_path / "band.png", title="test")
    assert (tmp_path / "band.png").stat().st_size > 0
