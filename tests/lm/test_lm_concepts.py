"""Concept vectors: pooling formulas, the shipped multiple-choice set, and its evaluation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from attnflow.lm import (
    ChoiceItem,
    concept_similarity,
    concept_vector,
    evaluate_multiple_choice,
    multiple_choice_items,
    pool,
    score_path,
)


def test_pooling_formulas():
    states = torch.randn(5, 3, generator=torch.Generator().manual_seed(0))
    x = states.double().numpy()
    np.testing.assert_allclose(pool(states, "mean").numpy(), x.mean(0))
    t = np.arange(1, 6)[:, None]
    np.testing.assert_allclose(pool(states, "position").numpy(), (t * x).sum(0) / t.sum())
    with pytest.raises(ValueError, match="pooling must be one of"):
        pool(states, "max")


def test_concept_vector_pools_the_chosen_layer(tiny_models, ids):
    model = tiny_models["bert"]
    with torch.no_grad():
        hidden = model(ids[None], output_hidden_states=True).hidden_states
    np.testing.assert_allclose(
        concept_vector(model, ids, layer=2, pooling="position").numpy(),
        pool(hidden[2][0], "position").numpy(),
    )
    with pytest.raises(ValueError, match=r"layer must be in \[-4, 3\]"):
        concept_vector(model, ids, layer=4)


def test_shipped_multiple_choice_set():
    items = multiple_choice_items()
    assert len(items) >= 20
    for item in items:
        assert item.context and len(item.choices) >= 2 and 0 <= item.answer < len(item.choices)


def test_evaluation_scores_by_similarity_and_likelihood(tiny_text_model):
    items = [
        ChoiceItem("the dog barked at the", ("cat", "moon sky"), 0),
        ChoiceItem("she drank some", ("water", "rock"), 1),
    ]
    result = evaluate_multiple_choice(tiny_text_model, items, layer=1)
    sim = concept_similarity(tiny_text_model, "she drank some", "rock", layer=1)
    assert float(result.concept_score[1, 1]) == pytest.approx(sim, rel=1e-12)
    path = score_path(tiny_text_model, "the dog barked at the", " moon sky")
    assert float(result.likelihood_score[0, 1]) == pytest.approx(
        path.logprob / len(path.token_ids), rel=1e-12
    )
    correct = np.argmax(result.concept_score.values, axis=1) == [0, 1]
    np.testing.assert_array_equal(result.concept_correct.values, correct)
    assert result.attrs["concept_accuracy"] == pytest.approx(correct.mean())
    likely = np.argmax(result.likelihood_score.values, axis=1) == [0, 1]
    np.testing.assert_array_equal(result.likelihood_correct.values, likely)
    assert result.attrs["likelihood_accuracy"] == pytest.approx(likely.mean())
