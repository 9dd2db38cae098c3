"""Decoding as a random walk (seed 000): sampled paths with exact log-probabilities, exact path scores,
how context narrows the next-token distribution, and how far the context vector travels."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import xarray as xr
from torch import nn

from attnflow._validate import positive_int
from attnflow.lm.models import LanguageModel, as_language_model
from attnflow.lm.trace import encode, layer_state, token_strings, trace


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


def _continuation_ids(lm: LanguageModel, continuation: str | Sequence[int] | torch.Tensor) -> torch.Tensor:
    if isinstance(continuation, str):
        if lm.tokenizer is None:
            raise TypeError("continuation is text but the model has no tokenizer; pass token ids")
        ids = torch.as_tensor(
            lm.tokenizer(continuation, add_special_tokens=False)["input_ids"], dtype=torch.long
        )
    else:
        ids = torch.as_tensor(continuation, dtype=torch.long).reshape(-1)
    if ids.numel() == 0:
        raise ValueError("continuation must hold at least one token")
    return ids.to(lm.device)


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
    ctx, _ = encode(lm, context)
    cont = _continuation_ids(lm, continuation)
    ids = torch.cat([ctx[0], cont])
    if lm.max_length is not None and ids.numel() > lm.max_length:
        raise ValueError(f"context + continuation has {ids.numel()} tokens; the model takes {lm.max_length}")
    log_p = next_token_log_probs(lm, ids[None])
    start = ctx.shape[1]
    picked = log_p[start - 1 : -1].gather(-1, cont[:, None].cpu())[:, 0]
    return Path(tuple(int(i) for i in cont), token_strings(lm, cont), tuple(picked.tolist()))


@torch.no_grad()
def sample_paths(
    model: LanguageModel | nn.Module,
    context: str | Sequence[int] | torch.Tensor,
    k: int = 8,
    max_new_tokens: int = 16,
    *,
    seed: int = 0,
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
        seed: seed of the ``torch.Generator`` that draws the tokens (same seed, same paths).
        tokenizer: a tokenizer for a bare HuggingFace model given text.

    Returns:
        ``k`` :class:`Path` objects.
    """
    lm = _causal(model, tokenizer, "sample_paths")
    k = positive_int("k", k)
    max_new_tokens = positive_int("max_new_tokens", max_new_tokens)
    ctx, _ = encode(lm, context)
    if lm.max_length is not None and ctx.shape[1] + max_new_tokens > lm.max_length:
        raise ValueError(f"context + max_new_tokens exceeds the model's context of {lm.max_length} tokens")
    generator = torch.Generator(device="cpu").manual_seed(int(seed))
    out = lm.model(input_ids=ctx.expand(k, -1), use_cache=True)
    chosen, logprobs = [], []
    for _ in range(max_new_tokens):
        log_p = torch.log_softmax(out.logits[:, -1].double().cpu(), dim=-1)
        token = torch.multinomial(log_p.exp(), 1, generator=generator)
        chosen.append(token[:, 0])
        logprobs.append(log_p.gather(-1, token)[:, 0])
        out = lm.model(input_ids=token.to(lm.device), past_key_values=out.past_key_values, use_cache=True)
    ids, lps = torch.stack(chosen, 1), torch.stack(logprobs, 1)
    return [Path(tuple(ids[i].tolist()), token_strings(lm, ids[i]), tuple(lps[i].tolist())) for i in range(k)]


@torch.no_grad()
def context_entropy(
    model: LanguageModel | nn.Module,
    text_or_ids: str | Sequence[int] | torch.Tensor,
    *,
    tokenizer: Any = None,
) -> xr.DataArray:
    """Next-token entropy after every prefix of the text: how context narrows the paths.

    Args:
        model: a causal language model.
        text_or_ids: text or token ids.
        tokenizer: a tokenizer for a bare HuggingFace model given text.

    Returns:
        A DataArray ``entropy`` (nats) over ``context_length`` ``1..n`` (label: the prefix's last token).
    """
    lm = _causal(model, tokenizer, "context_entropy")
    ids, labels = encode(lm, text_or_ids)
    log_p = next_token_log_probs(lm, ids)
    entropy = -(log_p.exp() * log_p).sum(-1)
    return xr.DataArray(
        entropy.numpy(),
        dims=("context_length",),
        coords={"context_length": np.arange(1, ids.shape[1] + 1), "label": ("context_length", list(labels))},
        name="entropy",
        attrs={"units": "nats", "model": lm.name},
    )


def context_travel(
    model: LanguageModel | nn.Module,
    text_or_ids: str | Sequence[int] | torch.Tensor,
    *,
    layer: int = -1,
    tokenizer: Any = None,
) -> xr.Dataset:
    """Distance travelled by the context vector as the text is read token by token.

    In a causal model, the state of token ``t`` at a layer is the context vector of the prefix
    ``1..t`` (it sees nothing later), so one forward pass gives the whole path ``c_1, …, c_n``.

    Args:
        model: a causal language model.
        text_or_ids: text or token ids.
        layer: which layer's state is the context vector (index into the ``L + 1`` layer states; the
            default, the last, is after the final norm).
        tokenizer: a tokenizer for a bare HuggingFace model given text.

    Returns:
        A Dataset over ``context_length`` ``1..n`` with ``step`` (``|c_t − c_{t−1}|``, 0 at t = 1),
        ``distance`` (cumulative path length), ``displacement`` (``|c_t − c_1|``) and ``cosine_step``
        (cosine between consecutive context vectors, 1 at t = 1).
    """
    lm = _causal(model, tokenizer, "context_travel")
    traj = trace(lm, text_or_ids)
    c = layer_state(traj, layer).double()
    step = torch.cat([torch.zeros(1, dtype=c.dtype), (c[1:] - c[:-1]).norm(dim=-1)])
    unit = c / c.norm(dim=-1, keepdim=True)
    cosine = torch.cat([torch.ones(1, dtype=c.dtype), (unit[1:] * unit[:-1]).sum(-1)])
    return xr.Dataset(
        {
            "step": ("context_length", step.numpy()),
            "distance": ("context_length", step.cumsum(0).numpy()),
            "displacement": ("context_length", (c - c[0]).norm(dim=-1).numpy()),
            "cosine_step": ("context_length", cosine.numpy()),
        },
        coords={
            "context_length": np.arange(1, traj.n_tokens + 1),
            "label": ("context_length", list(traj.labels)),
        },
        attrs={"model": lm.name, "layer": int(traj.times[layer])},
    )
