"""The real-model experiments: compute checked against direct computations on a tiny model, and the
verdict logic run on the claim and on a named rival (which must disagree)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from attnflow.experiments import get
from attnflow.experiments.lm_frontier import PASSAGES

TEXTS = list(PASSAGES[:3])


def _hidden_states(model_dir, text):
    from attnflow.lm import load

    lm = load(str(model_dir))
    ids = torch.tensor([lm.tokenizer(text)["input_ids"]])
    with torch.no_grad():
        out = lm.model(ids, output_hidden_states=True, output_attentions=False)
    return lm, ids, out


def test_layer_cosines_are_the_pairwise_cosines_of_each_layer(tiny_text_model_dir, tmp_path):
    experiment = get("layer-cosine-histograms")
    overrides = {"models": [str(tiny_text_model_dir)], "passages": TEXTS}
    evaluation = experiment.evaluate(overrides=overrides)
    values = evaluation.values
    per_prompt = []
    for text in TEXTS:
        _, _, out = _hidden_states(tiny_text_model_dir, text)
        # Reference: float64 NumPy on the model's own hidden states (the last without the final norm).
        means = []
        for h in [h[0].double().numpy() for h in out.hidden_states[:-1]]:
            z = h / np.linalg.norm(h, axis=-1, keepdims=True)
            gram = z @ z.T
            means.append((gram.sum() - np.trace(gram)) / (len(z) * (len(z) - 1)))
        per_prompt.append(means)
    np.testing.assert_allclose(values["model0.mean_cosine"][:-1], np.mean(per_prompt, axis=0), rtol=1e-6)
    counts = values["figure.model0.counts"]
    assert (counts.sum(1) == counts[0].sum()).all()  # every pair of every layer is binned once
    assert evaluation.verdict.status == "inconclusive"  # three prompts cannot decide
    assert experiment.figures(evaluation.params, values, tmp_path)[0].stat().st_size > 1000


@pytest.mark.parametrize(
    ("differences", "status"),
    [
        ([0.1, 0.2, 0.05, 0.3, 0.1, 0.2], "agrees"),
        ([-0.1, -0.2, -0.05, -0.3, -0.1, -0.2], "disagrees"),  # rival: the cloud spreads with depth
        ([0.1, 0.2, 0.3], "inconclusive"),  # three prompts cannot reach α = 0.05
    ],
)
def test_layer_cosine_verdict(differences, status):
    experiment = get("layer-cosine-histograms")
    params = experiment.params(overrides={"models": ["m"]})
    values = {"model0.mean_cosine": np.array([0.1, 0.5]), "model0.first_to_last": np.array(differences)}
    assert experiment.verdict(params, values).status == status


def test_sinks_are_the_attention_on_the_first_token(tiny_text_model_dir):
    experiment = get("massive-activations-sinks")
    params = experiment.params(overrides={"model": str(tiny_text_model_dir), "passages": TEXTS[:2]})
    values = experiment.compute(params)
    sinks, ratios = [], []
    for text in TEXTS[:2]:
        lm, ids, _ = _hidden_states(tiny_text_model_dir, text)
        lm.model.set_attn_implementation("eager")
        with torch.no_grad():
            out = lm.model(ids, output_attentions=True, output_hidden_states=True)
        lm.model.set_attn_implementation("sdpa")
        sinks.append([a[0, :, 1:, 0].double().mean().item() for a in out.attentions])
        blocks = [h[0].abs().double() for h in out.hidden_states[1:-1]]
        ratios.append(max(float(b.max() / b.median()) for b in blocks))
    np.testing.assert_allclose(values["sink_per_layer"], np.mean(sinks, axis=0), rtol=1e-6)
    # the last hidden state is normed in HF, so only the blocks before it are compared
    assert values["largest_over_median"].min() >= min(ratios) * (1 - 1e-9)


@pytest.mark.parametrize(
    ("ratio", "first", "status"),
    [
        (5000.0, 1.0, "agrees"),
        (20.0, 0.0, "disagrees"),  # rival: no massive activation at all
        (5000.0, 0.0, "inconclusive"),  # massive, but not on the first token
    ],
)
def test_sinks_verdict(ratio, first, status):
    experiment = get("massive-activations-sinks")
    params = experiment.params()
    values = {
        "largest_over_median": np.full(8, ratio),
        "largest_at_first_token": np.full(8, first),
        "sink_per_layer": np.array([0.2, 0.6]),
        "uniform_share": 0.02,
    }
    assert experiment.verdict(params, values).status == status


@pytest.mark.parametrize(
    ("correct", "n", "status"),
    [(16, 20, "agrees"), (25, 100, "disagrees"), (2, 8, "inconclusive")],  # 25/100: the chance rival
)
def test_concept_verdict(correct, n, status):
    experiment = get("concept-vectors")
    values = {
        "concept_correct": np.r_[np.ones(correct), np.zeros(n - correct)],
        "chance": 0.25,
        "likelihood_accuracy": 0.5,
    }
    verdict = experiment.verdict(experiment.params(), values)
    assert verdict.status == status
    # An undecided verdict says how many items would decide: 6/20 = 0.30 sits 0.05 from both edges.
    assert ("decide" in verdict.measured) == (status == "inconclusive")


def test_concept_verdict_says_what_size_would_decide():
    experiment = get("concept-vectors")
    values = {"concept_correct": np.r_[np.ones(6), np.zeros(14)], "chance": 0.25, "likelihood_accuracy": 0.5}
    verdict = experiment.verdict(experiment.params(), values)
    assert verdict.status == "inconclusive" and "about 326 items would decide" in verdict.measured


def test_speed_slope_is_the_within_layer_regression(tiny_text_model_dir):
    from attnflow.lm import load, record

    experiment = get("normalisation-as-speed")
    params = experiment.params(overrides={"models": [str(tiny_text_model_dir)], "passages": TEXTS[:2]})
    values = experiment.evaluate(
        overrides={"models": [str(tiny_text_model_dir)], "passages": TEXTS[:2]}
    ).values
    lm = load(str(tiny_text_model_dir))
    for i, text in enumerate(TEXTS[:2]):
        h = record(lm, text).residual.double().numpy()
        r = np.linalg.norm(h, axis=-1)
        angle = np.arccos(np.clip((h[1:] * h[:-1]).sum(-1) / (r[1:] * r[:-1]), -1, 1))
        x, y = np.log(r[:-1]), np.log(angle)
        # Reference: least squares with one intercept per layer (dummy columns), float64 lstsq.
        n_layers, n = x.shape
        design = np.column_stack([x.ravel(), np.kron(np.eye(n_layers), np.ones((n, 1)))])
        slope = np.linalg.lstsq(design, y.ravel(), rcond=None)[0][0]
        assert values["model0.slope"][i] == pytest.approx(slope, rel=1e-8)
    assert values["model0.pre_norm"] == 1.0 and params["width"] == 0.25


@pytest.mark.parametrize(
    ("pre_slopes", "post_slopes", "status"),
    [
        ([-1.05, -0.95, -1.0, -0.98, -1.02], [0.1, 0.0, -0.1, 0.05, 0.0], "agrees"),
        ([0.02, -0.05, 0.0, 0.03, -0.01], [0.1, 0.0, -0.1, 0.05, 0.0], "disagrees"),  # rival: speed ⟂ r
        ([-1.0, 0.5], [0.1, 0.0], "inconclusive"),
    ],
)
def test_speed_verdict(pre_slopes, post_slopes, status):
    experiment = get("normalisation-as-speed")
    values = {
        "model0.slope": np.array(pre_slopes),
        "model0.pre_norm": 1.0,
        "model1.slope": np.array(post_slopes),
        "model1.pre_norm": 0.0,
    }
    assert experiment.verdict(experiment.params(), values).status == status
