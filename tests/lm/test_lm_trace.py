"""trace / record / decompose on tiny random models of every supported family."""

from __future__ import annotations

import pytest
import torch

from attnflow import Trajectory
from attnflow.lm import as_language_model, decompose, record, trace

FAMILIES = ("gpt2", "llama", "gpt_neox", "bert")


@pytest.mark.parametrize("family", FAMILIES)
def test_trace_equals_output_hidden_states(tiny_models, ids, family):
    model = tiny_models[family]
    traj = trace(model, ids)
    with torch.no_grad():
        hidden = model(ids[None], output_hidden_states=True).hidden_states
    assert (
        traj.axis == "layer"
        and traj.n_states == len(hidden)
        and traj.times.tolist() == list(range(len(hidden)))
    )
    for state, reference in zip(traj.x, hidden, strict=True):
        assert torch.equal(state, reference[0])
    assert traj.labels == tuple(str(int(i)) for i in ids)


@pytest.mark.parametrize("family", FAMILIES)
def test_sublayer_trace_interleaves_the_layer_trace(tiny_models, ids, family):
    model = tiny_models[family]
    layers, fine = trace(model, ids), trace(model, ids, sublayers=True)
    n_layers = layers.n_states - 1
    assert fine.times.tolist() == [i / 2 for i in range(2 * n_layers + 1)]
    assert torch.equal(fine.x[::2], layers.x)
    assert (
        fine.params["stages"][:3] == ["embed", "attn.0", "mlp.0"]
        and len(fine.params["stages"]) == fine.n_states
    )


@pytest.mark.parametrize("family", ["gpt2", "llama", "gpt_neox"])
def test_attention_plus_mlp_is_the_residual_update(tiny_models, ids, family):
    rec = record(as_language_model(tiny_models[family]), ids, sublayers=True)
    update = rec.residual[1:] - rec.residual[:-1]
    torch.testing.assert_close(rec.attention + rec.mlp, update, atol=1e-5, rtol=0)


def test_gpt2_attention_part_equals_the_attention_module_called_alone(tiny_models, ids):
    model = tiny_models["gpt2"]
    rec = record(as_language_model(model), ids, sublayers=True)
    for i, block in enumerate(model.transformer.h):
        with torch.no_grad():
            alone = block.attn(block.ln_1(rec.residual[i][None]))[0][0]
        torch.testing.assert_close(rec.attention[i], alone, atol=1e-6, rtol=1e-6)
        torch.testing.assert_close(rec.post_attention[i], rec.residual[i] + alone, atol=1e-6, rtol=1e-6)


def test_bert_post_attention_state_is_the_first_layernorm_of_input_plus_attention(tiny_models, ids):
    model = tiny_models["bert"]
    rec = record(as_language_model(model), ids, sublayers=True)
    for i, block in enumerate(model.encoder.layer):
        with torch.no_grad():
            expected = block.attention.output.LayerNorm(rec.residual[i] + rec.attention[i])
        torch.testing.assert_close(rec.post_attention[i], expected, atol=1e-6, rtol=1e-6)


def test_final_norm_applies_only_to_the_last_state(tiny_models, ids):
    model = tiny_models["llama"]
    raw, normed = trace(model, ids, final_norm=False), trace(model, ids)
    assert torch.equal(raw.x[:-1], normed.x[:-1])
    with torch.no_grad():
        torch.testing.assert_close(model.model.norm(raw.x[-1]), normed.x[-1])
    assert normed.params["final_norm"] and not raw.params["final_norm"]


@pytest.mark.parametrize("family", FAMILIES)
def test_decomposition_parts_and_shares(tiny_models, ids, family):
    model = tiny_models[family]
    parts = decompose(model, ids)
    rec = record(as_language_model(model), ids, sublayers=True)
    update = (rec.residual[1:] - rec.residual[:-1]).double()
    torch.testing.assert_close(torch.from_numpy(parts.update_norm.values), update.norm(dim=-1))
    torch.testing.assert_close(
        torch.from_numpy(parts.attention_norm.values), rec.attention.double().norm(dim=-1)
    )
    if rec.mlp is not None:  # pre-norm: the filtering part is exactly what the MLP added
        torch.testing.assert_close(
            torch.from_numpy(parts.filtering_norm.values), rec.mlp.double().norm(dim=-1), atol=1e-5, rtol=1e-5
        )
    a_norm, f_norm = rec.attention.double().norm(dim=-1), (update - rec.attention.double()).norm(dim=-1)
    torch.testing.assert_close(torch.from_numpy(parts.attention_share.values), a_norm / (a_norm + f_norm))
    share = parts.attention_share.values
    assert ((share >= 0) & (share <= 1)).all()
    filtering_projection = ((update - rec.attention.double()) * update).sum(-1) / (update**2).sum(-1)
    torch.testing.assert_close(
        torch.from_numpy(parts.attention_projection.values) + filtering_projection,
        torch.ones_like(filtering_projection),
    )
    assert parts.sizes == {"layer": 3, "token": ids.numel()}


def test_trace_round_trips_through_zarr(tiny_models, ids, tmp_path):
    traj = trace(tiny_models["gpt2"], ids, sublayers=True)
    back = Trajectory.load(traj.save(tmp_path / "t.zarr"))
    assert (
        torch.equal(back.x, traj.x)
        and back.labels == traj.labels
        and back.params["stages"] == traj.params["stages"]
    )


def test_clear_errors(tiny_models, ids):
    model = tiny_models["gpt2"]
    with pytest.raises(TypeError, match="model must be a HuggingFace Transformer"):
        trace(torch.nn.Linear(3, 3), ids)
    with pytest.raises(ValueError, match="non-empty text"):
        trace(model, "   ")
    with pytest.raises(ValueError, match="at least one token"):
        trace(model, [])
    with pytest.raises(ValueError, match="context is at most 32 tokens"):
        trace(model, torch.ones(33, dtype=torch.long))
    with pytest.raises(ValueError, match=r"token ids must lie in \[0, 60\]"):
        trace(model, [1, 2, 61])
    with pytest.raises(TypeError, match="no tokenizer"):
        trace(model, "some text")


def test_unsupported_architecture_is_refused():
    transformers = pytest.importorskip("transformers")
    config = transformers.OPTConfig(
        vocab_size=20,
        hidden_size=8,
        num_hidden_layers=1,
        num_attention_heads=2,
        ffn_dim=16,
        max_position_embeddings=16,
        word_embed_proj_dim=8,
    )
    with pytest.raises(TypeError, match="architecture 'opt'"):
        trace(transformers.OPTForCausalLM(config), [1, 2, 3])
