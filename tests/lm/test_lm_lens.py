"""Logit lens and embedding lens against direct computations from the models' own outputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.special import log_softmax, rel_entr

from attnflow.lm import embedding_lens, logit_lens


@pytest.mark.parametrize("family", ["gpt2", "llama", "gpt_neox"])
def test_last_layer_lens_is_the_models_output(tiny_models, ids, family):
    model = tiny_models[family]
    lens = logit_lens(model, ids)
    with torch.no_grad():
        logits = model(ids[None]).logits[0].double().numpy()
    log_p = log_softmax(logits, axis=-1)
    last = lens.isel(layer=-1)
    np.testing.assert_array_equal(last.top_id.values, logits.argmax(-1))
    np.testing.assert_allclose(last.top_prob.values, np.exp(log_p.max(-1)), rtol=1e-6)
    np.testing.assert_allclose(last.entropy.values, -(np.exp(log_p) * log_p).sum(-1), rtol=1e-6)
    np.testing.assert_allclose(last.kl_to_final.values, 0.0, atol=1e-12)
    assert (last.final_top_rank.values == 0).all()


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_intermediate_layers_apply_the_final_norm_once(tiny_models, ids, family):
    model = tiny_models[family]
    lens = logit_lens(model, ids)
    with torch.no_grad():
        out = model(ids[None], output_hidden_states=True)
        norm = model.transformer.ln_f if family == "gpt2" else model.model.norm
        final = log_softmax(out.logits[0].double().numpy(), axis=-1)
        for layer in range(len(out.hidden_states) - 1):  # the last hidden state is already normed
            logits = model.lm_head(norm(out.hidden_states[layer][0])).double().numpy()
            log_p = log_softmax(logits, axis=-1)
            kl = rel_entr(np.exp(final), np.exp(log_p)).sum(-1)
            np.testing.assert_allclose(lens.kl_to_final.values[layer], kl, rtol=1e-5, atol=1e-9)
            rank = (log_p > np.take_along_axis(log_p, final.argmax(-1)[:, None], -1)).sum(-1)
            np.testing.assert_array_equal(lens.final_top_rank.values[layer], rank)


def test_logit_lens_needs_an_output_head(tiny_models, ids):
    with pytest.raises(TypeError, match="embedding_lens"):
        logit_lens(tiny_models["bert"], ids)


@pytest.mark.parametrize("family", ["llama", "bert"])
def test_embedding_lens_matches_brute_force(tiny_models, ids, family):
    model = tiny_models[family]
    lens = embedding_lens(model, ids)
    table = model.get_input_embeddings().weight.detach().double().numpy()
    table /= np.maximum(np.linalg.norm(table, axis=-1, keepdims=True), 1e-12)  # a padding row is zero
    with torch.no_grad():
        states = model(ids[None], output_hidden_states=True).hidden_states
    for layer in range(len(states) - 1):  # the last one: raw residual vs normed, compared in test_trace
        h = states[layer][0].double().numpy()
        cos = (h / np.linalg.norm(h, axis=-1, keepdims=True)) @ table.T
        np.testing.assert_array_equal(lens.nearest_id.values[layer], cos.argmax(-1))
        own = cos[np.arange(len(ids)), ids.numpy()]
        np.testing.assert_allclose(lens.input_cosine.values[layer], own, rtol=1e-9)
        np.testing.assert_array_equal(lens.input_rank.values[layer], (cos > own[:, None]).sum(-1))


def test_llama_layer_zero_is_the_input_embedding(tiny_models, ids):
    lens = embedding_lens(tiny_models["llama"], ids)
    np.testing.assert_allclose(lens.input_cosine.values[0], 1.0, rtol=1e-12)
    assert (lens.input_rank.values[0] == 0).all()


def test_lens_after_attention_reads_the_post_attention_states(tiny_models, ids):
    from attnflow.lm import record

    model = tiny_models["llama"]
    rec = record(model, ids)
    fine, coarse = logit_lens(rec, sublayers=True), logit_lens(rec)
    n_layers = rec.n_layers
    assert fine["layer"].values.tolist() == [i / 2 for i in range(2 * n_layers + 1)]
    assert fine["stage"].values[1] == "attn.0" and fine["stage"].values[-1] == f"mlp.{n_layers - 1}"
    np.testing.assert_array_equal(fine.top_id.values[::2], coarse.top_id.values)
    with torch.no_grad():
        after_attention = model.lm_head(model.model.norm(rec.residual[1] + rec.attention[1]))
    np.testing.assert_array_equal(fine.top_id.values[3], after_attention.argmax(-1).numpy())


@pytest.mark.parametrize(
    ("ranks", "expected"), [([3, 0, 2, 0, 0], 1.5), ([0, 0, 0, 0, 0], 0.0), ([4, 1, 0, 2, 0], 2.0)]
)
def test_answer_layer_is_where_the_answer_stays_on_top(ranks, expected):
    import xarray as xr

    from attnflow.lm import answer_layer

    lens = xr.Dataset(
        {"final_top_rank": (("layer", "token"), np.array([[9] * 5, ranks]).T)},
        coords={"layer": np.arange(5) / 2},
    )
    assert answer_layer(lens) == expected
    assert answer_layer(lens, token=0) == 2.0  # rank 9 until the output
