"""The exchangeability experiments run at their quick size and report a complete outcome."""

from pathlib import Path

import numpy as np
import pytest

from attnflow.experiments import available, get

NAMES = ("attention-conditional-mean", "erm-generalisation")


def test_experiments_are_registered_with_quick_and_full_sizes():
    for name in NAMES:
        assert name in available()
        experiment = get(name)
        assert experiment.citation.arxiv == "2212.14852"
        assert experiment.quick and set(experiment.quick) <= set(experiment.defaults)


@pytest.mark.parametrize("name", NAMES)
def test_quick_run_gives_prediction_measurement_verdict_and_figures(name, tmp_path: Path):
    result = get(name).run(tmp_path, quick=True)
    outcome = result.verdict
    assert outcome.prediction and outcome.measured and outcome.tolerance
    assert result.figures and all(f.exists() and f.stat().st_size > 10_000 for f in result.figures)
    values = result.values
    for key, value in values.items():
        assert np.isfinite(np.asarray(value, dtype=float)).all(), key
    # The verdict's logic, and its power against rivals, is tested in tests/experiments/test_rivals.py.
    assert outcome.status in ("agrees", "inconclusive"), outcome.measured
    if name == "attention-conditional-mean":
        # Even the quick size resolves the falling error.
        assert values["slope_ci[attention, right parameters]"][1] < 0
