"""Attention patterns, per-head outputs, norm placement and the additivity audit, against the models."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from attnflow.lm import as_language_model, audit, record
from attnflow.lm._arch import submodule

FAMILIES = ("gpt2", "llama", "gpt_neox", "gemma2", "bert")


@pytest.mark.parametrize("family", FAMILIES)
def test_patterns_are_the_models_own_attention_weights(tiny_models, ids, family):
    model = tiny_models[family]
    rec = record(model, ids, patterns=True)
    before = model.config._attn_implementation
    model.set_attn_implementation("eager")
    try:
        with torch.no_grad():
            reference = model(ids[None], output_attentions=True).attentions
    finally:
        model.set_attn_implementation(before)
    assert model.config._attn_implementation == before  # recording restored the fused kernel
    torch.testing.assert_close(rec.patterns, torch.stack(reference, dim=1)[0], atol=0, rtol=0)
    torch.testing.assert_close(rec.patterns.sum(-1), torch.ones(rec.patterns.shape[:-1]))
    if rec.causal:
        assert float(rec.patterns.triu(diagonal=1).abs().max()) == 0.0


@pytest.mark.parametrize("family", ["gpt2", "llama", "gpt_neox", "bert"])
def test_head_outputs_sum_to_the_attention_output(tiny_models, ids, family):
    lm = as_language_model(tiny_models[family])
    rec = record(lm, ids, heads=True)
    biases = [submodule(block, lm.family.out_projection).bias for block in lm.layers]
    per_layer_bias = torch.stack([torch.zeros(rec.dim) if b is None else b for b in biases])
    assert rec.head_outputs.shape == (rec.n_layers, lm.model.config.num_attention_heads, len(ids), rec.dim)
    torch.testing.assert_close(
        rec.head_outputs.sum(1) + per_layer_bias[:, None], rec.attention, atol=1e-5, rtol=1e-5
    )


@pytest.mark.parametrize(
    ("family", "placement", "parallel", "additive"),
    [
        ("gpt2", "pre", False, True),
        ("llama", "pre", False, True),
        ("gpt_neox", "pre", True, True),
        ("gemma2", "peri", False, True),
        ("bert", "post", False, False),
    ],
)
def test_audit_detects_the_norm_placement(tiny_models, ids, family, placement, parallel, additive):
    report = audit(tiny_models[family], ids)
    assert report.attrs["norm_placement"] == placement
    assert bool(report.attrs["parallel"]) == parallel
    assert bool(report.attrs["additive"]) == additive
    if not additive:  # post-norm: the stream after attention is a LayerNorm output, far from the sum
        assert float(report["attention_error"].min()) > 100 * report.attrs["tolerance"]


def test_audit_flags_a_recording_missing_a_part_of_the_update(tiny_models, ids):
    rec = record(tiny_models["llama"], ids)
    assert audit(rec).attrs["additive"] == 1
    # Rival: a residual stream that is not the sum (one MLP output scaled by 1 %) must be caught.
    mlp = rec.mlp.clone()
    mlp[1] *= 1.01
    report = audit(dataclasses.replace(rec, mlp=mlp))
    assert report.attrs["additive"] == 0
    assert float(report["block_error"][1]) > report.attrs["tolerance"]
    assert float(report["block_error"][0]) <= report.attrs["tolerance"]


def test_patterns_and_heads_round_trip_through_a_store(tiny_models, ids, tmp_path):
    from attnflow.lm import Recording

    rec = record(tiny_models["gpt2"], ids, patterns=True, heads=True)
    back = Recording.load(rec.save(tmp_path / "rec.zarr"))
    assert torch.equal(back.patterns, rec.patterns) and torch.equal(back.head_outputs, rec.head_outputs)
    assert (back.norm_placement, back.parallel) == ("pre", False)
