"""Looped layers: the loop against the model's own blocks applied by hand, the diversity against a direct
float64 computation, and the verdict on the claim and on a rival whose tokens spread with depth."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from attnflow.experiments import get
from attnflow.experiments.lm_frontier import PASSAGES
from attnflow.experiments.lm_looped import diversity

TEXT = "The river rose slowly through the night."


def test_loop_applies_the_blocks_again_and_again(minilm):
    from attnflow.lm import loop

    traj = loop(minilm, TEXT, repeats=3, keep=[0, 1, 3])
    ids = torch.tensor([minilm.tokenizer(TEXT)["input_ids"]])
    with torch.no_grad():
        hidden = minilm.model(ids, output_hidden_states=True).hidden_states
        np.testing.assert_allclose(traj.x[0].numpy(), hidden[0][0].numpy(), atol=1e-5)
        np.testing.assert_allclose(
            traj.x[1].numpy(), hidden[-1][0].numpy(), atol=1e-4
        )  # one pass = the model
        x = hidden[-1]
        for _ in range(2):
            for block in minilm.layers:
                out = block(x)
                x = out[0] if isinstance(out, tuple) else out
    np.testing.assert_allclose(traj.x[2].numpy(), x[0].numpy(), atol=1e-4)
    attention_only = loop(minilm, TEXT, repeats=1, layer=0, mlp=False)
    with torch.no_grad():
        out = minilm.layers[0].attention(hidden[0])
    np.testing.assert_allclose(attention_only.x[1].numpy(), out[0][0].numpy(), atol=1e-5)
    assert attention_only.times.tolist() == [0.0, 1.0]
    with pytest.raises(ValueError, match="keep"):
        loop(minilm, TEXT, repeats=2, keep=[5])
    with pytest.raises(ValueError, match="layer"):
        loop(minilm, TEXT, repeats=2, layer=6)


def test_diversity_is_one_minus_the_mean_absolute_cosine():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 5, 3))
    for state, value in zip(x, diversity(x), strict=True):
        cosines = [
            abs(state[i] @ state[j]) / np.linalg.norm(state[i]) / np.linalg.norm(state[j])
            for i in range(5)
            for j in range(5)
            if i != j
        ]
        assert value == pytest.approx(1 - np.mean(cosines))


def test_looped_layers_quick_run_is_inconclusive(minilm):
    experiment = get("looped-layers")
    evaluation = experiment.evaluate(overrides={"passages": list(PASSAGES[:2]), "repeats": 3})
    assert evaluation.values["with_mlp.diversity"].shape == (2, 4)  # repeats 0, 1, 2, 3
    assert evaluation.verdict.status == "inconclusive"  # two prompts cannot reach α


@pytest.mark.parametrize(
    ("after", "status"),
    [(0.05, "agrees"), (0.9, "disagrees"), (None, "inconclusive")],  # 0.9: rival, tokens spread
)
def test_looped_layers_verdict(after, status):
    experiment = get("looped-layers")
    prompts = 6 if after is not None else 3
    spread = np.tile([0.9, 0.4, 0.2, 0.05 if after is None else after], (prompts, 1))
    spread[:, -1] += 0.001 * np.arange(prompts)
    values = {"repeats": np.array([0.0, 1.0, 10.0, 100.0])}
    for name in ("with_mlp", "attention_only"):
        values[f"{name}.diversity"] = spread
        values[f"{name}.clusters"] = np.tile([20.0, 10.0, 2.0, 1.0], (prompts, 1))
    assert experiment.verdict(experiment.params(), values).status == status
