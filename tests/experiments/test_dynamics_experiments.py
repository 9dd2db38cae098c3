"""The experiments of issue 14 at their quick size, and their verdict logic on named rivals."""

import pytest

from attnflow.experiments import get


@pytest.fixture(scope="module")
def normalization():
    experiment = get("normalization-decay")
    return experiment, experiment.evaluate(quick=True)


def test_normalization_decay_agrees(normalization):
    _, evaluation = normalization
    assert evaluation.verdict.status == "agrees", evaluation.verdict


@pytest.mark.parametrize(
    "rival",
    [
        {"post_rate": 1.0},  # wrong constant: e^{−t} instead of e^{−2t}
        {"pre_exponent": 1.0},  # rival scaling law: 1 − ρ ~ 1/t under pre-LN
        {"pre_exponent": 3.0},
    ],
)
def test_normalization_decay_rejects_rivals(normalization, rival):
    experiment, evaluation = normalization
    params = {**evaluation.params, **rival}
    assert experiment.verdict(params, evaluation.values).status == "disagrees"


def test_normalization_decay_too_short_is_inconclusive(normalization):
    experiment, evaluation = normalization
    values = {**evaluation.values, "pre_points": 0}
    assert experiment.verdict(evaluation.params, values).status == "inconclusive"


@pytest.fixture(scope="module")
def noisy():
    experiment = get("noisy-threshold")
    return experiment, experiment.evaluate(quick=True)


def test_noisy_threshold_agrees(noisy):
    _, evaluation = noisy
    assert evaluation.verdict.status == "agrees", evaluation.verdict
    assert evaluation.values["below.rate"] > 0 > evaluation.values["above.rate"]


@pytest.mark.parametrize(
    "rival",
    [
        {"threshold_factor": 0.5},  # noise read with generator Δ/2 (κ_# too small by 2)
        {"threshold_factor": 2.0},  # the paper's coupling convention taken as κ: κ_# too large by 2
    ],
)
def test_noisy_threshold_rejects_rivals(noisy, rival):
    experiment, evaluation = noisy
    assert experiment.verdict({**evaluation.params, **rival}, evaluation.values).status == "disagrees"


def test_noisy_threshold_without_power_is_inconclusive(noisy):
    experiment, evaluation = noisy
    values = {**evaluation.values, "above.rate": float("nan"), "below.rate": 0.0}
    assert experiment.verdict(evaluation.params, values).status == "inconclusive"


def test_hardmax_straight_lines_agrees_and_softmax_rival_disagrees():
    experiment = get("hardmax-straight-lines")
    evaluation = experiment.evaluate(quick=True)
    assert evaluation.verdict.status == "agrees", evaluation.verdict
    assert evaluation.values["tokens_checked"] > 0
    # The rival: softmax at β = 5 bends the paths (the β → ∞ limit is what makes them straight).
    rival = experiment.evaluate(quick=True, overrides={"attention": "softmax", "n": 20, "vertices": 6})
    assert rival.verdict.status == "disagrees", rival.verdict
