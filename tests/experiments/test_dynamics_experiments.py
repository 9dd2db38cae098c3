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
