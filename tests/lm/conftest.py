"""Tiny random Transformers built from configs (no download), and the real shipped models."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
import torch

transformers = pytest.importorskip("transformers")

VOCAB = 61
N_LAYERS = 3


def _tiny(family: str) -> torch.nn.Module:
    torch.manual_seed({"gpt2": 1, "llama": 2, "gpt_neox": 3, "bert": 4, "gemma2": 6}[family])
    common = dict(vocab_size=VOCAB, initializer_range=0.2)
    ends = dict(bos_token_id=0, eos_token_id=0)
    body = dict(
        hidden_size=16, intermediate_size=32, num_hidden_layers=N_LAYERS, max_position_embeddings=32, **common
    )
    config_class, model_class, kwargs = {
        "gpt2": (
            transformers.GPT2Config,
            transformers.GPT2LMHeadModel,
            dict(n_positions=32, n_embd=16, n_layer=N_LAYERS, n_head=2, **ends, **common),
        ),
        "llama": (
            transformers.LlamaConfig,
            transformers.LlamaForCausalLM,
            dict(num_attention_heads=4, num_key_value_heads=2, pad_token_id=0, **ends, **body),
        ),
        "gpt_neox": (
            transformers.GPTNeoXConfig,
            transformers.GPTNeoXForCausalLM,
            dict(num_attention_heads=2, **ends, **body),
        ),
        "gemma2": (
            transformers.Gemma2Config,
            transformers.Gemma2ForCausalLM,
            dict(num_attention_heads=2, num_key_value_heads=1, head_dim=8, pad_token_id=0, **ends, **body),
        ),
        "bert": (transformers.BertConfig, transformers.BertModel, dict(num_attention_heads=2, **body)),
    }[family]
    return model_class(config_class(**kwargs)).eval()


@pytest.fixture(scope="session")
def tiny_models() -> dict[str, torch.nn.Module]:
    """One tiny random model per supported family, keyed by family name."""
    return {family: _tiny(family) for family in ("gpt2", "llama", "gpt_neox", "gemma2", "bert")}


@pytest.fixture(scope="session")
def ids() -> torch.Tensor:
    """Eleven token ids (1-D)."""
    return torch.randint(1, VOCAB, (11,), generator=torch.Generator().manual_seed(7))


@pytest.fixture(scope="session")
def smollm2():
    """SmolLM2-135M, loaded once per session (the first load ever dequantises the GGUF, ~30 s)."""
    from attnflow.lm import load

    return load("smollm2-135m")


@pytest.fixture(scope="session")
def minilm():
    """all-MiniLM-L6-v2, loaded once per session."""
    from attnflow.lm import load

    return load("minilm-l6")


@pytest.fixture(scope="session")
def tiny_text_model(tiny_text_model_dir):
    """The tiny Llama of the ``tiny_text_model_dir`` fixture, loaded by :func:`attnflow.lm.load`."""
    from attnflow.lm import load

    return load(str(tiny_text_model_dir))


@contextmanager
def _counting_forward_passes():
    """Count the forward passes of every HuggingFace model body (with or without its head) inside."""
    counter = {"passes": 0}

    def hook(module: torch.nn.Module, _args: object) -> None:
        if isinstance(module, transformers.PreTrainedModel) and module.base_model is module:
            counter["passes"] += 1

    handle = torch.nn.modules.module.register_module_forward_pre_hook(hook)
    try:
        yield counter
    finally:
        handle.remove()


@pytest.fixture
def forward_passes():
    """A context manager yielding ``{"passes": k}``: the model forward passes run inside it."""
    return _counting_forward_passes
