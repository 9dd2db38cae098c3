"""One recorded forward pass: what it holds, its trajectory, storage, and every analysis reading it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import attnflow
from attnflow.lm import (
    Recording,
    as_language_model,
    as_recording,
    concept_vector,
    context_entropy,
    decompose,
    embedding_lens,
    logit_lens,
    record,
    trace,
)

FAMILIES = ("gpt2", "llama", "gpt_neox", "bert")


@pytest.mark.parametrize("family", FAMILIES)
def test_a_recording_holds_the_whole_pass(tiny_models, ids, family):
    model = tiny_models[family]
    rec = record(model, ids)
    with torch.no_grad():
        out = model(ids[None], output_hidden_states=True)
    n, n_layers = len(ids), len(out.hidden_states) - 1
    assert torch.equal(rec.ids, ids) and rec.labels == tuple(str(int(i)) for i in ids)
    assert rec.residual.shape == (n_layers + 1, n, rec.dim) and rec.n_layers == n_layers
    assert torch.equal(rec.final, out.hidden_states[-1][0])
    assert rec.attention.shape == rec.post_attention.shape == (n_layers, n, rec.dim)
    assert (rec.mlp is None) == (family == "bert")
    if family == "bert":
        assert rec.logits is None and not rec.causal
    else:
        assert torch.equal(rec.logits, out.logits[0]) and rec.causal
    assert rec.family == family and rec.language_model.model is model
    assert rec == rec and rec != record(model, ids)  # eq=False: identity, never elementwise tensors


@pytest.mark.parametrize("sublayers", [False, True])
@pytest.mark.parametrize("final_norm", [False, True])
def test_the_trajectory_of_a_recording_is_the_trace(tiny_models, ids, sublayers, final_norm):
    model = tiny_models["llama"]
    traj = record(model, ids).trajectory(sublayers=sublayers, final_norm=final_norm)
    reference = trace(model, ids, sublayers=sublayers, final_norm=final_norm)
    assert torch.equal(traj.x, reference.x) and torch.equal(traj.times, reference.times)
    assert traj.params == reference.params and traj.labels == reference.labels


@pytest.mark.parametrize("family", ["gpt2", "bert"])
def test_every_analysis_reads_the_recording_without_running_the_model(
    tiny_models, ids, family, forward_passes
):
    model = tiny_models[family]
    readers = {"decompose": decompose, "embedding_lens": embedding_lens}
    if family == "gpt2":
        readers.update(logit_lens=logit_lens, context_entropy=context_entropy)
    rec = record(model, ids)
    with forward_passes() as counted:
        results = {name: reader(rec) for name, reader in readers.items()}
        traj, vector = trace(rec, sublayers=True), concept_vector(rec, layer=2)
    assert counted["passes"] == 0
    for name, reader in readers.items():
        assert results[name].identical(reader(model, ids)), name
    assert torch.equal(traj.x, trace(model, ids, sublayers=True).x)
    assert torch.equal(vector, concept_vector(model, ids, layer=2))


def test_a_recording_round_trips_through_its_store(tiny_models, ids, tmp_path):
    model = tiny_models["gpt2"]
    rec = record(model, ids)
    path = rec.save(tmp_path / "rec.zarr")
    assert attnflow.io.read_kind(path) == "recording"
    back = attnflow.load(path)
    assert isinstance(back, Recording) and back.language_model is None
    for name in ("ids", "residual", "final", "attention", "mlp", "post_attention", "logits"):
        assert torch.equal(getattr(back, name), getattr(rec, name)), name
    assert (back.labels, back.model_name, back.family, back.causal, back.has_final_norm) == (
        rec.labels,
        rec.model_name,
        "gpt2",
        True,
        True,
    )
    assert decompose(back).identical(decompose(rec)) and context_entropy(back).identical(context_entropy(rec))
    with pytest.raises(
        ValueError, match=r"logit_lens needs the model's weights.*Recording.load\(path, model="
    ):
        logit_lens(back)
    attached = Recording.load(path, model=model)
    assert logit_lens(attached).identical(logit_lens(rec))
    with pytest.raises(ValueError, match=r"model is a llama model with 3 layers but .* records a gpt2 model"):
        Recording.load(path, model=tiny_models["llama"])
    np.testing.assert_array_equal(trace(back).x.numpy(), trace(rec).x.numpy())


def test_a_partial_recording_says_what_is_missing(tiny_models, ids):
    model = tiny_models["gpt2"]
    bare = record(model, ids, sublayers=False, logits=False)
    assert bare.attention is None and bare.logits is None
    with pytest.raises(ValueError, match="without sublayers"):
        decompose(bare)
    with pytest.raises(ValueError, match="sublayers=True needs a recording made with sublayers"):
        bare.trajectory(sublayers=True)
    with pytest.raises(ValueError, match="without logits"):
        context_entropy(bare)
    with pytest.raises(ValueError, match="text_or_ids and tokenizer must be omitted"):
        trace(bare, ids)
    with pytest.raises(TypeError, match="text_or_ids is required"):
        as_recording(model)
    with pytest.raises(TypeError, match="logits=True needs a model with an output head"):
        record(tiny_models["bert"], ids, logits=True)


def test_inputs_are_normalised_once(tiny_models, ids):
    lm = as_language_model(tiny_models["gpt2"])
    reference, labels = lm.encode(ids)
    for same in (ids.tolist(), ids.numpy(), ids.to(torch.int32), list(ids)):
        encoded, again = lm.encode(same)
        assert torch.equal(encoded, reference) and again == labels
    assert lm.encode(7)[0].tolist() == [7]
    with pytest.raises(ValueError, match=r"text_or_ids is a batch of 1 sequences; this function reads one"):
        lm.encode(ids[None])
    with pytest.raises(ValueError, match=r"must be token ids of shape \(n,\), got shape \(1, 1, 11\)"):
        trace(lm, ids[None, None])
    with pytest.raises(TypeError, match=r"text_or_ids must hold integer token ids, got dtype torch\.float32"):
        trace(lm, ids.float())
    with pytest.raises(TypeError, match="integer token ids"):
        trace(lm, [1.5, 2.0])
    with pytest.raises(TypeError, match=r"text_or_ids\[1\] must hold integer token ids"):
        trace(lm, [[1, 2], [3.0]])
    with pytest.raises(TypeError, match="text_or_ids must be text, a sequence of token ids"):
        trace(lm, [1, [2]])
    assert lm.dtype == torch.float32
