"""common-noise-synchronises at its quick size, and its verdict logic on named rivals."""

import pytest

from attnflow.experiments import get


@pytest.fixture(scope="module")
def common_noise():
    experiment = get("common-noise-synchronises")
    return experiment, experiment.evaluate(quick=True)


def test_common_noise_synchronises_agrees(common_noise):
    _, evaluation = common_noise
    assert evaluation.verdict.status == "agrees", evaluation.verdict
    assert evaluation.values["rate"] < 0


@pytest.mark.parametrize(
    "rival",
    [
        {"rate_factor": 0.0},  # common noise moves tokens rigidly: no synchronisation
        {"rate_factor": 0.5},  # noise read with generator κ₀Δ/2: the rate κ₀(d − 1)
        {"rate_factor": 2.0},  # the Itô drift −κ₀(d − 1)x counted twice
    ],
)
def test_common_noise_synchronises_rejects_rivals(common_noise, rival):
    experiment, evaluation = common_noise
    assert experiment.verdict({**evaluation.params, **rival}, evaluation.values).status == "disagrees"


def test_common_noise_without_power_is_inconclusive(common_noise):
    experiment, evaluation = common_noise
    values = {**evaluation.values, "rate": -0.05, "rate_error": 0.5}
    assert experiment.verdict(evaluation.params, values).status == "inconclusive"


def test_common_noise_figure(common_noise, tmp_path):
    experiment, evaluation = common_noise
    paths = experiment.figures(evaluation.params, evaluation.values, tmp_path)
    assert all(path.stat().st_size > 0 for path in paths)
