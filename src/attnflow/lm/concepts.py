"""Concept vectors (seed 000's concept-space reading): pooled hidden states, compared by similarity."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np
import torch
import xarray as xr
from torch import nn

from attnflow._validate import one_of
from attnflow.lm.models import LanguageModel, as_language_model
from attnflow.lm.recording import Recording
from attnflow.lm.trace import trace
from attnflow.lm.walk import score_path
from attnflow.measure.particles import layer_state

POOLINGS = ("mean", "position")


@dataclass(frozen=True)
class ChoiceItem:
    """One multiple-choice question.

    Attributes:
        context: the context text.
        choices: candidate continuations.
        answer: index of the expected choice.
    """

    context: str
    choices: tuple[str, ...]
    answer: int


def multiple_choice_items() -> list[ChoiceItem]:
    """The small multiple-choice set shipped with attnflow (``attnflow/lm/data/multiple_choice.json``)."""
    raw = json.loads(resources.files("attnflow.lm").joinpath("data/multiple_choice.json").read_text())
    return [ChoiceItem(i["context"], tuple(i["choices"]), int(i["answer"])) for i in raw["items"]]


def pool(states: torch.Tensor, pooling: str = "mean") -> torch.Tensor:
    """Pool token states ``(n, d)`` into one vector ``(d,)``.

    ``"mean"``: ``(1/n) Σ_t h_t``. ``"position"``: ``Σ_t t·h_t / Σ_t t`` with ``t = 1..n`` (later tokens,
    which have read more of the segment in a causal model, weigh more).

    Args:
        states: the token states, shape ``(n, d)``.
        pooling: ``"mean"`` or ``"position"``.

    Returns:
        The pooled vector in float64.
    """
    one_of("pooling", pooling, POOLINGS)
    states = states.double()
    if pooling == "mean":
        return states.mean(0)
    weights = torch.arange(1, states.shape[0] + 1, dtype=torch.float64)
    return (weights[:, None] * states).sum(0) / weights.sum()


def concept_vector(
    source: Recording | LanguageModel | nn.Module,
    text_or_ids: str | Sequence[int] | torch.Tensor | None = None,
    *,
    layer: int = -1,
    pooling: str = "mean",
    tokenizer: Any = None,
) -> torch.Tensor:
    """A text segment's concept vector: its hidden states at ``layer``, pooled.

    Args:
        source: a :class:`~attnflow.lm.Recording` of the segment, or a
            :class:`~attnflow.lm.LanguageModel` or a supported HuggingFace model.
        text_or_ids: the segment (text or token ids; omitted with a Recording).
        layer: index into the ``L + 1`` layer states of :func:`~attnflow.lm.trace` (``-1`` = last).
        pooling: ``"mean"`` or ``"position"`` (see :func:`pool`).
        tokenizer: a tokenizer for a bare HuggingFace model given text.

    Returns:
        The concept vector, shape ``(d,)``, float64.
    """
    return pool(layer_state(trace(source, text_or_ids, tokenizer=tokenizer), layer), pooling)


def concept_similarity(
    model: LanguageModel | nn.Module,
    a: str,
    b: str,
    *,
    layer: int = -1,
    pooling: str = "mean",
    tokenizer: Any = None,
) -> float:
    """Cosine similarity of the concept vectors of two texts.

    Args:
        model: a :class:`~attnflow.lm.LanguageModel` or a supported HuggingFace model.
        a: first text.
        b: second text.
        layer: the layer (see :func:`concept_vector`).
        pooling: ``"mean"`` or ``"position"``.
        tokenizer: a tokenizer for a bare HuggingFace model given text.

    Returns:
        The cosine in ``[-1, 1]``.
    """
    va = concept_vector(model, a, layer=layer, pooling=pooling, tokenizer=tokenizer)
    vb = concept_vector(model, b, layer=layer, pooling=pooling, tokenizer=tokenizer)
    return float(torch.nn.functional.cosine_similarity(va, vb, dim=0))


def evaluate_multiple_choice(
    model: LanguageModel | nn.Module,
    items: Sequence[ChoiceItem] | None = None,
    *,
    layer: int = -1,
    pooling: str = "mean",
    tokenizer: Any = None,
) -> xr.Dataset:
    """Score every choice by concept similarity to the context, and (causal LMs) by log-likelihood.

    Concept score: cosine between the context's and the choice's concept vectors (each text traced
    alone). Likelihood score (causal LMs only): the choice's log-probability after the context, with a
    leading space, per token (:func:`~attnflow.lm.walk.score_path` divided by its length, so longer
    choices are not penalised).

    Args:
        model: a :class:`~attnflow.lm.LanguageModel` or a supported HuggingFace model.
        items: the questions; default :func:`multiple_choice_items`.
        layer: the layer of the concept vectors.
        pooling: ``"mean"`` or ``"position"``.
        tokenizer: a tokenizer for a bare HuggingFace model given text.

    Returns:
        A Dataset over ``(item, choice)`` with ``concept_score`` and ``likelihood_score`` (NaN for
        encoders), and ``concept_correct`` / ``likelihood_correct`` over ``item``; attrs hold the two
        accuracies.
    """
    lm = as_language_model(model, tokenizer)
    items = list(items) if items is not None else multiple_choice_items()
    width = max(len(item.choices) for item in items)
    concept = np.full((len(items), width), np.nan)
    likelihood = np.full((len(items), width), np.nan)
    causal = lm.is_causal_lm
    for i, item in enumerate(items):
        context = concept_vector(lm, item.context, layer=layer, pooling=pooling)
        for j, choice in enumerate(item.choices):
            vector = concept_vector(lm, choice, layer=layer, pooling=pooling)
            concept[i, j] = float(torch.nn.functional.cosine_similarity(context, vector, dim=0))
            if causal:
                path = score_path(lm, item.context, " " + choice)
                likelihood[i, j] = path.logprob / len(path.token_ids)
    answers = np.array([item.answer for item in items])
    concept_correct = np.nanargmax(concept, axis=1) == answers
    likelihood_correct = np.nanargmax(likelihood, axis=1) == answers if causal else np.zeros(len(items), bool)
    return xr.Dataset(
        {
            "concept_score": (("item", "choice"), concept),
            "likelihood_score": (("item", "choice"), likelihood),
            "concept_correct": ("item", concept_correct),
            "likelihood_correct": ("item", likelihood_correct),
        },
        coords={"item": np.arange(len(items)), "choice": np.arange(width)},
        attrs={
            "model": lm.name,
            "layer": layer,
            "pooling": pooling,
            "concept_accuracy": float(concept_correct.mean()),
            "likelihood_accuracy": float(likelihood_correct.mean()) if causal else float("nan"),
        },
    )
