"""Decoding as a random walk: exact path scores, exact sampling, entropy and travel of the context."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from attnflow.lm import context_entropy, record, sample_paths, score_path, trace
from attnflow.measure import context_travel


def _stepwise_logprobs(model, context: torch.Tensor, continuation: torch.Tensor) -> list[float]:
    """log p(token | everything before it), one separate forward pass per token."""
    out = []
    for t in range(len(continuation)):
        prefix = torch.cat([context, continuation[:t]])
        with torch.no_grad():
            log_p = torch.log_softmax(model(prefix[None]).logits[0, -1].double(), -1)
        out.append(float(log_p[continuation[t]]))
    return out


@pytest.mark.parametrize("family", ["gpt2", "llama", "gpt_neox"])
def test_path_score_is_the_sum_of_per_token_logprobs(tiny_models, ids, family):
    model = tiny_models[family]
    context, continuation = ids[:6], ids[6:]
    path = score_path(model, context, continuation)
    expected = _stepwise_logprobs(model, context, continuation)
    np.testing.assert_allclose(path.token_logprobs, expected, rtol=1e-5)
    assert path.logprob == pytest.approx(sum(expected), rel=1e-5)
    assert path.token_ids == tuple(continuation.tolist())


def test_sampled_paths_carry_their_exact_logprobs_and_are_reproducible(tiny_models, ids):
    model = tiny_models["llama"]
    paths = sample_paths(model, ids[:4], k=3, max_new_tokens=5, seed=11)
    assert paths == sample_paths(model, ids[:4], k=3, max_new_tokens=5, seed=11)
    assert paths != sample_paths(model, ids[:4], k=3, max_new_tokens=5, seed=12)
    for path in paths:
        assert len(path.token_ids) == 5
        rescored = score_path(model, ids[:4], list(path.token_ids))
        np.testing.assert_allclose(path.token_logprobs, rescored.token_logprobs, rtol=1e-4, atol=1e-5)


def test_sampling_follows_the_models_distribution(tiny_models, ids):
    model = tiny_models["gpt2"]
    paths = sample_paths(model, ids[:5], k=4000, max_new_tokens=1, seed=0)
    counts = np.bincount([p.token_ids[0] for p in paths], minlength=61) / 4000
    with torch.no_grad():
        probs = torch.softmax(model(ids[None, :5]).logits[0, -1].double(), -1).numpy()
    assert 0.5 * np.abs(counts - probs).sum() < 0.06  # total variation; ~0.04 expected at k = 4000


def test_context_entropy_per_prefix(tiny_models, ids):
    model = tiny_models["gpt_neox"]
    entropy = context_entropy(model, ids)
    for n in (1, 4, len(ids)):
        with torch.no_grad():
            log_p = torch.log_softmax(model(ids[None, :n]).logits[0, -1].double(), -1)
        assert float(entropy.sel(context_length=n)) == pytest.approx(
            float(-(log_p.exp() * log_p).sum()), rel=1e-5
        )


def test_context_travel_follows_the_last_tokens_state(tiny_models, ids):
    model = tiny_models["gpt2"]
    traj = trace(model, ids)
    travel = context_travel(traj, layer=2)
    c = traj.x[2].double()
    steps = (c[1:] - c[:-1]).norm(dim=-1).numpy()
    np.testing.assert_allclose(travel.step.values[1:], steps, rtol=1e-9)
    np.testing.assert_allclose(travel.distance.values[-1], steps.sum(), rtol=1e-9)
    assert travel.step.values[0] == 0 and travel.cosine_step.values[0] == 1
    from_recording = context_travel(record(model, ids), layer=2)  # its layer trajectory
    np.testing.assert_array_equal(from_recording.distance.values, travel.distance.values)
    with pytest.raises(ValueError, match=r"layer must be in \[-4, 3\]"):
        context_travel(traj, layer=4)


def test_walk_errors(tiny_models, ids):
    with pytest.raises(TypeError, match="causal language model"):
        score_path(tiny_models["bert"], ids[:3], ids[3:])
    with pytest.raises(ValueError, match="continuation must hold at least one token"):
        score_path(tiny_models["gpt2"], ids[:3], [])
    with pytest.raises(ValueError, match="k must be an integer >= 1"):
        sample_paths(tiny_models["gpt2"], ids[:3], k=0)
    with pytest.raises(ValueError, match="exceeds the model's context"):
        sample_paths(tiny_models["gpt2"], ids[:3], k=1, max_new_tokens=40)
    with pytest.raises(TypeError, match="seed must be a non-negative integer"):
        sample_paths(tiny_models["gpt2"], ids[:3], k=1, seed=-1)
    with pytest.raises(TypeError, match="causal language model"):
        context_entropy(record(tiny_models["bert"], ids))


def test_text_paths_with_a_tokenizer(tiny_text_model):
    path = score_path(tiny_text_model, "the cat sat on the", " mat")
    assert path.tokens == ("mat",) and path.logprob < 0
