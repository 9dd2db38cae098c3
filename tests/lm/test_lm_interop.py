"""A TransformerLens TransformerBridge traces through the same recording as the model it wraps."""

from __future__ import annotations

import pytest
import torch

from attnflow.lm import record


def test_a_transformer_lens_bridge_is_recorded_like_its_model(tiny_models, ids, tmp_path, monkeypatch):
    pytest.importorskip("transformer_lens")
    from transformer_lens.model_bridge import TransformerBridge

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = tiny_models["gpt2"]
    model.save_pretrained(tmp_path)  # the bridge reads the config from a local directory
    bridge = TransformerBridge.boot_transformers(str(tmp_path), hf_model=model, tokenizer=None, device="cpu")
    rec = record(bridge, ids)
    _, cache = bridge.run_with_cache(ids[None])
    for layer in range(rec.n_layers):
        torch.testing.assert_close(rec.residual[layer + 1], cache[f"blocks.{layer}.hook_resid_post"][0])
        torch.testing.assert_close(rec.attention[layer], cache[f"blocks.{layer}.hook_attn_out"][0])
        torch.testing.assert_close(rec.mlp[layer], cache[f"blocks.{layer}.hook_mlp_out"][0])
    torch.testing.assert_close(rec.residual[0], cache["blocks.0.hook_resid_pre"][0])
    with pytest.raises(TypeError, match="needs a model that returns its attention weights"):
        record(bridge, ids, patterns=True)  # the bridge's attention modules do not return weights


def test_a_wrapper_keeping_original_model_is_unwrapped(tiny_models, ids):
    """What the bridge support relies on, without TransformerLens installed."""

    class Wrapper(torch.nn.Module):
        def __init__(self, model: torch.nn.Module) -> None:
            super().__init__()
            self.__dict__["original_model"] = model
            self.tokenizer = None

    model = tiny_models["llama"]
    torch.testing.assert_close(record(Wrapper(model), ids).residual, record(model, ids).residual)
