"""Removing the first-token sink: the ablated attention against a direct computation of the masked
softmax, and the verdict on the claim and on a rival where the tokens spread without the sink."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from attnflow.experiments import get
from attnflow.experiments.lm_frontier import PASSAGES


def test_no_sink_attention_is_the_softmax_without_the_first_key(tiny_text_model):
    from attnflow.lm import attention_ablated, record

    text = PASSAGES[0][:60]
    intact = record(tiny_text_model, text, patterns=True)
    with attention_ablated(tiny_text_model, [0], "no-sink"):
        removed = record(tiny_text_model, text)
    # Reference: block 0's attention output recomputed from the intact weights with key 0 dropped for
    # every query after the first (float64 renormalisation of the recorded pattern; block 0's input is
    # the same in both passes).
    p = intact.patterns[0].double()  # (H, n, n)
    masked = p.clone()
    masked[:, 1:, 0] = 0
    masked = masked / masked.sum(-1, keepdim=True)
    block = tiny_text_model.layers[0]
    with torch.no_grad():
        u = block.input_layernorm(intact.residual[0][None])
        heads = p.shape[0]
        value = block.self_attn.v_proj(u)[0].double().view(len(intact.labels), heads, -1)
        mixed = torch.einsum("hqk,khd->qhd", masked, value).reshape(len(intact.labels), -1)
        expected = block.self_attn.o_proj(mixed.float()).double()
    np.testing.assert_allclose(removed.attention[0].double().numpy(), expected.numpy(), atol=1e-5)
    assert not torch.allclose(removed.attention[0], intact.attention[0])  # the sink did carry weight
    np.testing.assert_allclose(removed.attention[0][0].numpy(), intact.attention[0][0].numpy(), atol=1e-6)


def test_sink_removal_quick_run_is_inconclusive(tiny_text_model_dir):
    experiment = get("sink-removal")
    overrides = {"model": str(tiny_text_model_dir), "passages": list(PASSAGES[:2])}
    evaluation = experiment.evaluate(overrides=overrides)
    assert evaluation.values["intact"].shape == evaluation.values["removed"].shape == (2, 3)
    assert evaluation.verdict.status == "inconclusive"
    assert (
        "would decide" in evaluation.verdict.measured or "no number of prompts" in evaluation.verdict.measured
    )


@pytest.mark.parametrize(("shift", "status"), [(0.1, "agrees"), (-0.1, "disagrees")])  # −0.1: rival
def test_sink_removal_verdict(shift, status):
    experiment = get("sink-removal")
    intact = np.tile([0.1, 0.3, 0.5], (6, 1))
    removed = intact.copy()
    removed[:, -1] += shift + 0.001 * np.arange(6)
    assert experiment.verdict(experiment.params(), {"intact": intact, "removed": removed}).status == status
