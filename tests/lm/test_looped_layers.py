"""Looped layers: the loop against the model's own blocks applied by hand, the diversity against a direct
float64 computation, and the verdict on the claim and on a rival whose tokens spread with depth."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from attnflow.experiments import get
from attnflow.experiments.lm_frontier import PASSAGES
from attnflow.experiments.lm_looped import diversity, plateau_span

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


def test_loop_from_random_weights_uses_the_models_own_initialisation(minilm):
    from attnflow.lm import loop

    state = torch.random.get_rng_state()
    traj = loop(minilm, TEXT, repeats=2, weights="random", seed=3)
    assert torch.equal(torch.random.get_rng_state(), state)  # the global stream is left as it was
    assert traj.params["weights"] == "random"
    torch.manual_seed(3)
    fresh = type(minilm.model)(minilm.model.config).eval()  # the reference: HF's own init, seeded by hand
    trained = loop(minilm, TEXT, repeats=1)
    x = trained.x[0][None]  # both loops start from the trained model's embeddings
    np.testing.assert_allclose(traj.x[0].numpy(), x[0].numpy())
    with torch.no_grad():
        for _ in range(2):
            for block in fresh.encoder.layer:
                out = block(x)
                x = out[0] if isinstance(out, tuple) else out
    np.testing.assert_allclose(traj.x[-1].numpy(), x[0].numpy(), atol=1e-5)
    other = loop(minilm, TEXT, repeats=2, weights="random", seed=4)
    assert not torch.allclose(other.x[-1], traj.x[-1])
    with pytest.raises(ValueError, match="weights"):
        loop(minilm, TEXT, repeats=2, weights="fresh")
    with pytest.raises(TypeError, match="seed"):
        loop(minilm, TEXT, repeats=2, weights="random", seed=-1)


def test_plateau_span_is_the_widest_run_of_one_count_above_one():
    repeats = np.array([0, 1, 2, 5, 10, 20, 50, 100])
    assert plateau_span(repeats, [9, 9, 6, 4, 4, 4, 4, 1]) == pytest.approx(10.0)  # 4 clusters, 5 → 50
    assert plateau_span(repeats, [3, 3, 3, 2, 2, 1, 1, 1]) == pytest.approx(
        2.0
    )  # 1 → 2: repeat 0 never counts
    assert plateau_span(repeats, [9, 8, 7, 6, 5, 4, 3, 2]) == 1.0  # merging at every step
    assert plateau_span(repeats, [9, 1, 1, 1, 1, 1, 1, 1]) == 1.0  # one cluster is the end, not a plateau
    assert plateau_span(repeats, [9, 5, 5, 7, 7, 7, 7, 7]) == pytest.approx(20.0)  # 7 from 5 to 100


def _plateau_values(counts: np.ndarray) -> dict:
    repeats = np.array([0.0, 1, 2, 3, 5, 8, 12, 19, 28, 43, 66, 100])
    values = {"repeats": repeats}
    for name in ("with_mlp", "attention_only"):
        values[f"{name}.clusters"] = counts
        values[f"{name}.diversity"] = np.tile(np.linspace(0.9, 0.1, repeats.size), (len(counts), 1))
    return values


def test_looped_plateaus_verdict_and_its_rivals():
    experiment = get("looped-plateaus")
    params = experiment.params()
    # The claim: 40 clusters, then 3 from repeat 5 to 66 (a 13-fold span), then one.
    plateau = np.tile([60.0, 40, 20, 10, 3, 3, 3, 3, 3, 3, 3, 1], (8, 1))
    assert experiment.verdict(params, _plateau_values(plateau)).status == "agrees"
    # Rival 1: a stack that merges steadily, one cluster fewer at every kept repeat count.
    merging = np.tile(np.arange(13.0, 1.0, -1), (8, 1))
    assert experiment.verdict(params, _plateau_values(merging)).status == "disagrees"
    # Rival 2: the same counts in a shuffled order of repeats: the plateau is gone.
    rng = np.random.default_rng(0)
    shuffled = np.array(
        [rng.permutation(row) for row in np.tile([60.0, 40, 20, 10, 9, 8, 7, 6, 5, 4, 3, 1], (8, 1))]
    )
    assert all(plateau_span(_plateau_values(shuffled)["repeats"], row) < 10 for row in shuffled)
    assert experiment.verdict(params, _plateau_values(shuffled)).status == "disagrees"
    # Two prompts cannot reach α either way.
    assert experiment.verdict(params, _plateau_values(plateau[:2])).status == "inconclusive"
    assert experiment.verdict(params, _plateau_values(merging[:2])).status == "inconclusive"


def test_looped_plateaus_quick_run_loops_the_trained_and_the_random_stack(minilm, tmp_path):
    experiment = get("looped-plateaus")
    evaluation = experiment.evaluate(overrides={"passages": list(PASSAGES[:2]), "repeats": 3})
    for name in ("with_mlp", "attention_only", "random_with_mlp", "random_attention_only"):
        assert evaluation.values[f"{name}.clusters"].shape == (2, 4)
    assert evaluation.verdict.status == "inconclusive"
    assert "random_with_mlp" in evaluation.verdict.notes
    (figure,) = experiment.figures(evaluation.params, evaluation.values, tmp_path)
    assert figure.stat().st_size > 1000
