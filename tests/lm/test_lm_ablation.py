"""Attention ablation: only the ablated layers change, and they change to the direct formula."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from attnflow.lm import ablate, as_language_model, attention_ablated, attention_redundancy, record


@pytest.mark.parametrize("family", ["gpt2", "llama", "gpt_neox", "bert"])
@pytest.mark.parametrize("pattern", ["uniform", "identity"])
def test_ablation_changes_only_the_ablated_layer_and_after(tiny_models, ids, family, pattern):
    lm = as_language_model(tiny_models[family])
    intact = record(lm, ids, sublayers=True)
    with attention_ablated(lm, [1], pattern):
        ablated = record(lm, ids, sublayers=True)
    assert torch.equal(ablated.residual[:2], intact.residual[:2])  # inputs of layers 0 and 1
    assert torch.equal(ablated.attention[0], intact.attention[0])
    assert not torch.allclose(ablated.attention[1], intact.attention[1], atol=1e-3)
    assert not torch.allclose(ablated.residual[2], intact.residual[2], atol=1e-3)


def test_uniform_ablation_of_gpt2_is_the_causal_mean_of_values(tiny_models, ids):
    model = tiny_models["gpt2"]
    lm = as_language_model(model)
    with attention_ablated(lm, [2], "uniform"):
        rec = record(lm, ids, sublayers=True)
    block = model.transformer.h[2]
    with torch.no_grad():
        values = block.attn.c_attn(block.ln_1(rec.residual[2]))[:, 32:]  # q, k, v each of width 16
        counts = torch.arange(1, len(ids) + 1, dtype=values.dtype)[:, None]
        expected = block.attn.c_proj(values.cumsum(0) / counts)  # heads are contiguous slices of v
    torch.testing.assert_close(rec.attention[2], expected, atol=1e-6, rtol=1e-6)


def test_identity_ablation_of_llama_is_each_tokens_own_value(tiny_models, ids):
    model = tiny_models["llama"]
    lm = as_language_model(model)
    with attention_ablated(lm, [0], "identity"):
        rec = record(lm, ids, sublayers=True)
    layer = model.model.layers[0]
    with torch.no_grad():
        v = layer.self_attn.v_proj(layer.input_layernorm(rec.residual[0]))  # (n, kv_heads * head_dim)
        per_head = v.reshape(len(ids), 2, 4).repeat_interleave(2, dim=1).reshape(len(ids), 16)
        expected = layer.self_attn.o_proj(per_head)
    torch.testing.assert_close(rec.attention[0], expected, atol=1e-6, rtol=1e-6)


def test_uniform_ablation_of_bert_gives_every_token_the_same_attention_part(tiny_models, ids):
    lm = as_language_model(tiny_models["bert"])
    with attention_ablated(lm, [0], "uniform"):
        rec = record(lm, ids, sublayers=True)
    part = rec.attention[0]
    torch.testing.assert_close(part, part[:1].expand_as(part), atol=1e-6, rtol=0)


def test_the_model_is_restored_after_the_block(tiny_models, ids):
    model = tiny_models["llama"]
    implementation = model.config._attn_implementation
    with torch.no_grad():
        before = model(ids[None]).logits
        with attention_ablated(model, [0, 1, 2], "identity"):
            during = model(ids[None]).logits
        after = model(ids[None]).logits
    assert model.config._attn_implementation == implementation
    assert torch.equal(before, after) and not torch.allclose(before, during, atol=1e-3)


def test_ablate_reports_loss_and_kl(tiny_models, ids):
    model = tiny_models["gpt2"]
    result = ablate(model, ids, [0, 2], "uniform")
    with torch.no_grad():
        logits = model(ids[None]).logits[0].double()
        with attention_ablated(model, [0, 2], "uniform"):
            ablated_logits = model(ids[None]).logits[0].double()
    assert result["loss"] == pytest.approx(float(F.cross_entropy(logits[:-1], ids[1:])), rel=1e-9)
    assert result["ablated_loss"] == pytest.approx(
        float(F.cross_entropy(ablated_logits[:-1], ids[1:])), rel=1e-9
    )
    kl = F.kl_div(ablated_logits.log_softmax(-1), logits.log_softmax(-1), log_target=True, reduction="none")
    assert result["kl"] == pytest.approx(float(kl.sum(-1).mean()), rel=1e-9)
    assert result["delta_loss"] == pytest.approx(result["ablated_loss"] - result["loss"])


def test_redundancy_scan(tiny_models, ids):
    scan = attention_redundancy(tiny_models["llama"], ids)
    assert scan.kl.dims == ("pattern", "layer") and scan.kl.shape == (2, 3)
    for pattern in ("uniform", "identity"):
        alone = ablate(tiny_models["llama"], ids, [1], pattern)
        every = ablate(tiny_models["llama"], ids, [0, 1, 2], pattern)
        assert float(scan.kl.sel(pattern=pattern, layer=1)) == pytest.approx(alone["kl"], rel=1e-9)
        assert float(scan.delta_loss.sel(pattern=pattern, layer=1)) == pytest.approx(alone["delta_loss"])
        assert float(scan.kl_all.sel(pattern=pattern)) == pytest.approx(every["kl"], rel=1e-9)
    assert float(scan.loss) == pytest.approx(every["loss"], rel=1e-12)
    assert (scan.kl.values >= 0).all() and (scan.kl_all.values > 0).all()


def test_ablation_errors(tiny_models, ids):
    with pytest.raises(ValueError, match="pattern must be one of"):
        ablate(tiny_models["gpt2"], ids, [0], "random")
    with pytest.raises(ValueError, match=r"layers must be a non-empty set of layer indices in \[0, 2\]"):
        ablate(tiny_models["gpt2"], ids, [3])
    with pytest.raises(ValueError, match="at least two tokens"):
        ablate(tiny_models["gpt2"], ids[:1], [0])
    with pytest.raises(TypeError, match="causal LM"):
        ablate(tiny_models["bert"], ids, [0])


def test_redundancy_runs_the_intact_model_once(tiny_models, ids, forward_passes):
    model = tiny_models["llama"]
    with forward_passes() as counted:
        scan = attention_redundancy(model, ids)
    assert counted["passes"] == 1 + 2 * (3 + 1)  # intact, then each layer alone and all, per pattern
    with forward_passes() as counted:
        ablate(model, ids, [1], "uniform")
    assert counted["passes"] == 2  # intact and ablated
    rec = record(model, ids)
    with forward_passes() as counted:
        again = attention_redundancy(rec, patterns=["uniform"])
    assert counted["passes"] == 3 + 1  # the recording's logits are the intact pass
    np.testing.assert_array_equal(again.kl.values[0], scan.kl.sel(pattern="uniform").values)
    with pytest.raises(ValueError, match="pattern must be one of"):
        attention_redundancy(rec, patterns=["random"])
