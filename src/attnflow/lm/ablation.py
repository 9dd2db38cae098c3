"""Association-bias ablation: replace the attention pattern by uniform averaging or the identity.

Seed 000 calls attention an association bias that may be redundant. Here the attention weights of
chosen layers are swapped for uniform weights over the tokens each query may see (``"uniform"``) or
for the identity (``"identity"``: every token keeps its own value vector), while everything else in
the model (projections, norms, MLPs, other layers) runs unchanged, and the next-token loss and the KL
divergence to the intact model are measured.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
import xarray as xr
from torch import nn

from attnflow._validate import one_of
from attnflow.lm._arch import submodule
from attnflow.lm.models import LanguageModel, as_language_model
from attnflow.lm.recording import Recording, causal_recording
from attnflow.lm.walk import next_token_log_probs
from attnflow.measure.fits import kl_from_log

PATTERNS = ("uniform", "identity")
#: Every change :func:`attention_ablated` can make: the :data:`PATTERNS`, and ``"no-sink"`` (the first
#: token removed from every later query's keys, its weight spread over the others; Barbero et al.'s sink).
ABLATIONS = (*PATTERNS, "no-sink")
_IMPLEMENTATION = "attnflow_ablation"
_PATTERN_ATTR = "_attnflow_pattern"
_ORIGINAL_ATTR = "_attnflow_original_implementation"


def _visible(
    module: nn.Module, query: torch.Tensor, key: torch.Tensor, mask: torch.Tensor | None
) -> torch.Tensor:
    """Boolean ``(batch or 1, 1 or heads, q, k)`` mask of the keys each query may attend to."""
    if mask is None:
        q, k = query.shape[2], key.shape[2]
        if getattr(module, "is_causal", True):
            return torch.ones(q, k, dtype=torch.bool, device=query.device).tril(k - q)[None, None]
        return torch.ones(1, 1, q, k, dtype=torch.bool, device=query.device)
    if mask.dtype == torch.bool:
        return mask
    return mask == 0  # additive float masks hold 0 where attention is allowed


def _ablation_attention(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    **kwargs: Any,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """An attention function for transformers' ``AttentionInterface`` that ablates marked modules."""
    pattern = getattr(module, _PATTERN_ATTR, None)
    original = getattr(module, _ORIGINAL_ATTR)
    if pattern is None:
        from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

        eager = sys.modules[type(module).__module__].eager_attention_forward
        function = ALL_ATTENTION_FUNCTIONS.get_interface(original, eager)
        return function(module, query, key, value, attention_mask, **kwargs)
    heads = query.shape[1]
    value = value.repeat_interleave(heads // value.shape[1], dim=1)  # grouped-query attention
    if pattern == "identity":
        if query.shape[2] != key.shape[2]:
            raise ValueError("the identity ablation needs as many queries as keys (no KV cache)")
        return value.transpose(1, 2).contiguous(), None
    visible = _visible(module, query, key, attention_mask)
    if pattern == "no-sink":
        if query.shape[2] != key.shape[2]:
            raise ValueError("removing the sink needs as many queries as keys (no KV cache)")
        visible = visible.expand(query.shape[0], heads, -1, -1).clone()
        visible[..., 1:, 0] = False
        key = key.repeat_interleave(heads // key.shape[1], dim=1)
        scores = (query @ key.transpose(2, 3)) * kwargs.get("scaling", module.scaling)
        weights = scores.masked_fill(~visible, float("-inf")).softmax(-1).to(value.dtype)
        return (weights @ value).transpose(1, 2).contiguous(), None
    weights = visible.to(value.dtype)
    weights = weights / weights.sum(-1, keepdim=True)
    return (weights @ value).transpose(1, 2).contiguous(), None


def _register(original: str) -> None:
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

    ALL_ATTENTION_FUNCTIONS.register(_IMPLEMENTATION, _ablation_attention)
    # The masks are built exactly as for the model's own implementation, so intact layers are unchanged.
    ALL_MASK_ATTENTION_FUNCTIONS.register(_IMPLEMENTATION, ALL_MASK_ATTENTION_FUNCTIONS[original])


def _check_layers(layers: Iterable[int], n_layers: int) -> list[int]:
    chosen = sorted({int(i) for i in layers})
    if not chosen or chosen[0] < 0 or chosen[-1] >= n_layers:
        raise ValueError(
            f"layers must be a non-empty set of layer indices in [0, {n_layers - 1}], got {chosen}"
        )
    return chosen


@contextmanager
def attention_ablated(
    model: LanguageModel | nn.Module, layers: Iterable[int], pattern: str = "uniform"
) -> Iterator[LanguageModel]:
    """Within the ``with`` block, the chosen layers attend uniformly (or to themselves only).

    ``"uniform"``: each query averages the value vectors of all tokens it may see (causal models:
    itself and earlier tokens; encoders: all tokens). ``"identity"``: each query takes its own value
    vector. ``"no-sink"``: the model's own softmax with the first token hidden from every later query
    (the attention sink removed). The output projection and everything else run unchanged.

    Args:
        model: a :class:`~attnflow.lm.LanguageModel` or a supported HuggingFace model.
        layers: indices of the blocks to ablate.
        pattern: one of :data:`ABLATIONS`.

    Yields:
        The model (as a :class:`~attnflow.lm.LanguageModel`), ablated.

    Raises:
        ValueError: for an unknown pattern or layer index.
    """
    lm = as_language_model(model)
    one_of("pattern", pattern, ABLATIONS)
    chosen = _check_layers(layers, lm.n_layers)
    original = lm.model.config._attn_implementation
    if original not in ("eager", "sdpa"):
        raise ValueError(f"attention ablation supports eager and sdpa attention, the model uses {original!r}")
    _register(original)
    cores = [submodule(block, lm.family.attention_core) for block in lm.layers]
    for i, core in enumerate(cores):
        setattr(core, _ORIGINAL_ATTR, original)
        setattr(core, _PATTERN_ATTR, pattern if i in chosen else None)
    lm.model.set_attn_implementation(_IMPLEMENTATION)
    try:
        yield lm
    finally:
        lm.model.set_attn_implementation(original)
        for core in cores:
            delattr(core, _ORIGINAL_ATTR)
            delattr(core, _PATTERN_ATTR)


@torch.no_grad()
def ablate(
    model: LanguageModel | nn.Module,
    text_or_ids: str | Sequence[int] | torch.Tensor,
    layers: Iterable[int],
    pattern: str = "uniform",
    *,
    tokenizer: Any = None,
) -> dict[str, float]:
    """Next-token loss and KL to the intact model when the attention of ``layers`` is ablated.

    Two forward passes: the intact model and the ablated one.

    Args:
        model: a causal language model.
        text_or_ids: the input text, or token ids (at least two tokens).
        layers: indices of the blocks to ablate.
        pattern: ``"uniform"`` or ``"identity"``.
        tokenizer: a tokenizer for a bare HuggingFace model given text.

    Returns:
        ``{"loss": intact mean next-token NLL (nats), "ablated_loss": the same ablated,
        "delta_loss": their difference, "kl": mean over positions of KL(intact ‖ ablated)}``.

    Raises:
        TypeError: for a model without a language-model head.
        ValueError: for fewer than two tokens, an unknown pattern or a bad layer index.
    """
    lm = as_language_model(model, tokenizer)
    if not lm.is_causal_lm:
        raise TypeError(f"ablate measures next-token loss, so model must be a causal LM; {lm.name!r} is not")
    ids, _ = lm.encode(text_or_ids)
    _check_two_tokens(ids)
    return _ablation_scores(lm, ids, next_token_log_probs(lm, ids[None]), layers, pattern)


def _check_two_tokens(ids: torch.Tensor) -> None:
    if ids.numel() < 2:
        raise ValueError("text_or_ids must hold at least two tokens to measure a next-token loss")


@torch.no_grad()
def _ablation_scores(
    lm: LanguageModel, ids: torch.Tensor, intact: torch.Tensor, layers: Iterable[int], pattern: str
) -> dict[str, float]:
    """:func:`ablate`'s scores given the intact log-probabilities ``(n, vocab)``: one ablated pass."""
    with attention_ablated(lm, layers, pattern):
        ablated = next_token_log_probs(lm, ids[None].to(lm.device))
    targets = ids[1:, None].cpu()
    loss = float(-intact[:-1].gather(-1, targets).mean())
    ablated_loss = float(-ablated[:-1].gather(-1, targets).mean())
    kl = float(kl_from_log(intact, ablated).mean())
    return {"loss": loss, "ablated_loss": ablated_loss, "delta_loss": ablated_loss - loss, "kl": kl}


def attention_redundancy(
    source: Recording | LanguageModel | nn.Module,
    text_or_ids: str | Sequence[int] | torch.Tensor | None = None,
    patterns: Sequence[str] = PATTERNS,
    *,
    tokenizer: Any = None,
) -> xr.Dataset:
    """Ablate each layer alone, then all layers, with each pattern: how much does attention matter?

    The intact model runs once (or not at all, given a Recording with logits), then once per ablation:
    ``1 + len(patterns) · (L + 1)`` forward passes.

    Args:
        source: a causal language model, or a :class:`~attnflow.lm.Recording` of one (with logits and
            its model).
        text_or_ids: the input text, or token ids (at least two tokens; omitted with a Recording).
        patterns: the ablation patterns to try.
        tokenizer: a tokenizer for a bare HuggingFace model given text.

    Returns:
        A Dataset with ``delta_loss`` and ``kl`` over ``(pattern, layer)`` (one layer ablated at a time),
        ``delta_loss_all`` and ``kl_all`` over ``pattern`` (every layer ablated) and the intact ``loss``.
    """
    for pattern in patterns:
        one_of("pattern", pattern, PATTERNS)
    rec = causal_recording(source, text_or_ids, tokenizer, "attention_redundancy")
    lm = rec.model_for("attention_redundancy")
    _check_two_tokens(rec.ids)
    intact = torch.log_softmax(rec.logits.double().cpu(), dim=-1)
    n_layers = lm.n_layers
    per_layer = {
        p: [_ablation_scores(lm, rec.ids, intact, [i], p) for i in range(n_layers)] for p in patterns
    }
    every = {p: _ablation_scores(lm, rec.ids, intact, range(n_layers), p) for p in patterns}

    def table(key: str) -> np.ndarray:
        return np.array([[r[key] for r in per_layer[p]] for p in patterns])

    return xr.Dataset(
        {
            "delta_loss": (("pattern", "layer"), table("delta_loss")),
            "kl": (("pattern", "layer"), table("kl")),
            "delta_loss_all": ("pattern", np.array([every[p]["delta_loss"] for p in patterns])),
            "kl_all": ("pattern", np.array([every[p]["kl"] for p in patterns])),
            "loss": every[patterns[0]]["loss"],
        },
        coords={"pattern": list(patterns), "layer": np.arange(n_layers)},
        attrs={"model": rec.model_name},
    )
