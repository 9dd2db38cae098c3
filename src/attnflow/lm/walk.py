"""Decoding as a random walk (seed 000): sampled paths with exact log-probabilities, exact path scores,
and how context narrows the next-token distribution."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import xarray as xr
from torch import nn

from attnflow._validate import positive_int
from attnflow.lm.models import LanguageModel, as_language_model
from attnflow.lm.recording import Recording, causal_recording
from attnflow.measure.fits import entropy_from_log
from attnflow.random import Seed, torch_generator


@dataclass(frozen=True)
class Path:
    """A continuation of a context and its exact probability under the model.

    Attributes:
        token_ids: the continuation's token ids.
        tokens: the decoded token strings.
        token_logprobs: ``log p(token_t | context, tokens_<t)`` for every token (nats).
    """

    token_ids: tuple[int, ...]
    tokens: tuple[str, ...]
    token_logprobs: tuple[float, ...]

    @property
    def logprob(self) -> float:
        """The path's log-probability given the context: the sum of its token log-probs."""
        return float(sum(self.token_logprobs))

    @property
    def text(self) -> str:
        """The continuation as text."""
        return "".join(self.tokens)


def _causal(model: LanguageModel | nn.Module, tokenizer: Any, what: str) -> LanguageModel:
    lm = as_language_model(model, tokenizer)
    if not lm.is_causal_lm:
        raise TypeError(f"{what} needs a causal language model with an output head; {lm.name!r} is not one")
    return lm


def next_token_log_probs(lm: LanguageModel, ids: torch.Tensor) -> torch.Tensor:
    """``(n, vocab)`` float64 log-probabilities of the next token after each position of ids ``(1, n)``."""
    return torch.log_softmax(lm.model(input_ids=ids).logits[0].double().cpu(), dim=-1)


@torch.no_grad()
def score_path(
    model: LanguageModel | nn.Module,
    context: str | Sequence[int] | torch.Tensor,
    continuation: str | Sequence[int] | torch.Tensor,
    *,
    tokenizer: Any = None,
) -> Path:
    """The exact log-probability of ``continuation`` after ``context``, from one forward pass.

    The context is tokenized as by :func:`~attnflow.lm.trace` (with the tokenizer's special tokens), the
    continuation without special tokens, and the two id sequences are concatenated.

    Args:
        model: a causal language model.
        context: text or token ids.
        continuation: text or token ids (at least one token).
        tokenizer: a tokenizer for a bare HuggingFace model given text.

    Returns:
        The :class:`Path` with every token's log-probability.
    """
    lm = _causal(model, tokenizer, "score_path")
    ctx, _ = lm.encode(context, argument="context")
    cont, tokens = lm.encode(continuation, argument="continuation", special_tokens=False)
    ids = torch.cat([ctx, cont])
    if lm.max_length is not None and ids.numel() > lm.max_length:
        raise ValueError(f"context + continuation has {ids.numel()} tokens; the model takes {lm.max_length}")
    log_p = next_token_log_probs(lm, ids[None])
    start = ctx.shape[0]
    picked = log_p[start - 1 : -1].gather(-1, cont[:, None].cpu())[:, 0]
    return Path(tuple(int(i) for i in cont), tokens, tuple(picked.tolist()))


@torch.no_grad()
def sample_paths(
    model: LanguageModel | nn.Module,
    context: str | Sequence[int] | torch.Tensor,
    k: int = 8,
    max_new_tokens: int = 16,
    *,
    seed: Seed = 0,
    tokenizer: Any = None,
) -> list[Path]:
    """Sample ``k`` continuations by ancestral sampling at temperature 1, with exact log-probabilities.

    Every path has exactly ``max_new_tokens`` tokens (sampling does not stop at an end-of-text token),
    so each log-probability is that of the path as scored by :func:`score_path`.

    Args:
        model: a causal language model.
        context: text or token ids.
        k: number of paths.
        max_new_tokens: length of every path.
        seed: the seed of the draws (:mod:`attnflow.random`: same seed, same paths).
        tokenizer: a tokenizer for a bare HuggingFace model given text.

    Returns:
        ``k`` :class:`Path` objects.
    """
    lm = _causal(model, tokenizer, "sample_paths")
    k = positive_int("k", k)
    max_new_tokens = positive_int("max_new_tokens", max_new_tokens)
    generator = torch_generator(seed)
    ctx, _ = lm.encode(context, argument="context")
    if lm.max_length is not None and ctx.shape[0] + max_new_tokens > lm.max_length:
        raise ValueError(f"context + max_new_tokens exceeds the model's context of {lm.max_length} tokens")
    out = lm.model(input_ids=ctx[None].expand(k, -1), use_cache=True)
    # transformers ≥ 5.24 names the key-value cache ``cache`` (``past_key_values`` is deprecated there).
    cache_name = "cache" if "cache" in inspect.signature(lm.model.forward).parameters else "past_key_values"
    chosen, logprobs = [], []
    for _ in range(max_new_tokens):
        log_p = torch.log_softmax(out.logits[:, -1].double().cpu(), dim=-1)
        token = torch.multinomial(log_p.exp(), 1, generator=generator)
        chosen.append(token[:, 0])
        logprobs.append(log_p.gather(-1, token)[:, 0])
        cache = {cache_name: getattr(out, cache_name)}
        out = lm.model(input_ids=token.to(lm.device), use_cache=True, **cache)
    ids, lps = torch.stack(chosen, 1), torch.stack(logprobs, 1)
    return [Path(tuple(ids[i].tolist()), lm.token_strings(ids[i]), tuple(lps[i].tolist())) for i in range(k)]


@torch.no_grad()
def context_entropy(
    source: Recording | LanguageModel | nn.Module,
    text_or_ids: str | Sequence[int] | torch.Tensor | None = None,
    *,
    tokenizer: Any = None,
) -> xr.DataArray:
    """Next-token entropy after every prefix of the text: how context narrows the paths.

    Args:
        source: a :class:`~attnflow.lm.Recording` of a causal language model (with logits), or the model.
        text_or_ids: text or token ids (omitted with a Recording).
        tokenizer: a tokenizer for a bare HuggingFace model given text.

    Returns:
        A DataArray ``entropy`` (nats) over ``context_length`` ``1..n`` (label: the prefix's last token).
    """
    rec = causal_recording(source, text_or_ids, tokenizer, "context_entropy")
    entropy = entropy_from_log(torch.log_softmax(rec.logits.double().cpu(), dim=-1))
    return xr.DataArray(
        entropy.numpy(),
        dims=("context_length",),
        coords={
            "context_length": np.arange(1, rec.n_tokens + 1),
            "label": ("context_length", list(rec.labels)),
        },
        name="entropy",
        attrs={"units": "nats", "model": rec.model_name},
    )
