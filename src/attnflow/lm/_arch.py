"""Where each supported Transformer family keeps its layers, attention, MLP and norms.

The tracing code never re-implements a model: it only needs to know which submodules to hook. One
:class:`Family` entry per supported architecture says where they are.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn


@dataclass(frozen=True)
class Family:
    """The submodule layout of one Transformer family.

    Attributes:
        name: the family's name in messages and params.
        layers: attribute path from the base model to the list of blocks.
        attention: path inside a block to the module whose output (first element) is the attention
            sublayer's contribution to the residual stream, before any post-norm.
        attention_core: path inside a block to the module that calls the attention function
            (used to ablate the attention pattern).
        out_projection: path inside a block to the attention's output projection ``W_O`` (its input
            holds every head's output side by side; used to split the attention output by head).
        mlp: path inside a block to the feed-forward module whose output is added to the residual
            stream (pre-norm families), or ``None`` for post-norm blocks.
        post_attention: path inside a block to the module whose output is the residual stream after
            attention (post-norm blocks only; pre-norm blocks add the attention output to the input).
        final_norm: attribute path from the base model to the final norm, or ``None``.
        causal: whether the family is a left-to-right (decoder) model.
        pre_norm: whether blocks normalise before each sublayer (``x + f(norm(x))``).
    """

    name: str
    layers: str
    attention: str
    attention_core: str
    out_projection: str
    mlp: str | None
    post_attention: str | None
    final_norm: str | None
    causal: bool
    pre_norm: bool


FAMILIES: dict[str, Family] = {
    "gpt2": Family(
        "gpt2", "h", "attn", "attn", "attn.c_proj", "mlp", None, "ln_f", causal=True, pre_norm=True
    ),
    "llama": Family(
        "llama",
        "layers",
        "self_attn",
        "self_attn",
        "self_attn.o_proj",
        "mlp",
        None,
        "norm",
        causal=True,
        pre_norm=True,
    ),
    "gpt_neox": Family(
        "gpt_neox",
        "layers",
        "attention",
        "attention",
        "attention.dense",
        "mlp",
        None,
        "final_layer_norm",
        causal=True,
        pre_norm=True,
    ),
    # Gemma 2 normalises each sublayer's output before adding it (peri-norm): the contribution to the
    # residual stream is the output of the post-sublayer norm, not of the attention or MLP itself.
    "gemma2": Family(
        "gemma2",
        "layers",
        "post_attention_layernorm",
        "self_attn",
        "self_attn.o_proj",
        "post_feedforward_layernorm",
        None,
        "norm",
        causal=True,
        pre_norm=True,
    ),
    "bert": Family(
        "bert",
        "encoder.layer",
        "attention.output.dense",
        "attention.self",
        "attention.output.dense",
        None,
        "attention",
        None,
        causal=False,
        pre_norm=False,
    ),
}


def submodule(root: nn.Module, path: str) -> nn.Module:
    """Follow a dotted attribute path from ``root``."""
    module = root
    for part in path.split("."):
        module = getattr(module, part)
    return module


def family_of(model: nn.Module) -> Family:
    """The :class:`Family` of a HuggingFace model.

    Raises:
        TypeError: if ``model`` is not a HuggingFace ``PreTrainedModel`` of a supported family.
    """
    config = getattr(model, "config", None)
    model_type = getattr(config, "model_type", None)
    if not isinstance(model, nn.Module) or model_type is None or not hasattr(model, "base_model"):
        raise TypeError(
            f"model must be a HuggingFace Transformer (a PreTrainedModel of family "
            f"{', '.join(sorted(FAMILIES))}) or an attnflow.lm.LanguageModel; got {type(model).__name__}"
        )
    if model_type not in FAMILIES:
        raise TypeError(
            f"model has architecture {model_type!r}; supported families are {', '.join(sorted(FAMILIES))}"
        )
    return FAMILIES[model_type]
