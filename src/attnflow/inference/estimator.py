"""Softmax attention as a conditional-mean estimator, and its error as the number of tokens grows.

With parameters ``θ = (W_Q, W_K, W_V, β)`` and tokens ``x_1..x_n``, attention at a query token ``x_q`` is

    a_θ(x_q; X) = Σ_i softmax_i(β ⟨W_Q x_q, W_K x_i⟩) W_V x_i,

a ratio of two sample means over the tokens: a Nadaraya–Watson (kernel) estimate of the mean of
``W_V x`` with kernel ``exp(β ⟨W_Q x_q, W_K x⟩)``. :func:`error_curve` measures its error to a Bayes
reference against ``n``; :func:`attnflow.measure.fits.fit_loglog_slope` fits the rate with a confidence
interval over seeds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from attnflow._validate import finite_tensor, positive_int, positive_number
from attnflow.random import Seed, torch_generator

if TYPE_CHECKING:
    from attnflow.inference.worlds import TokenSets, World


@dataclass(frozen=True, eq=False)
class AttentionParameters:
    """The parameters of one softmax-attention head acting on tokens of dimension ``d``.

    Attributes:
        query: ``W_Q``, shape ``(d_a, d)``.
        key: ``W_K``, shape ``(d_a, d)``.
        value: ``W_V``, shape ``(d_v, d)``.
        beta: inverse temperature ``β`` (> 0).

    Raises:
        ValueError: mismatched shapes or a non-positive ``beta``.
    """

    query: torch.Tensor
    key: torch.Tensor
    value: torch.Tensor
    beta: float = 1.0

    def __post_init__(self) -> None:
        if self.query.ndim != 2 or self.key.ndim != 2 or self.value.ndim != 2:
            raise ValueError("query, key and value must be matrices (2-D tensors)")
        if self.query.shape != self.key.shape:
            raise ValueError(
                f"query and key must have the same shape (d_a, d); got {tuple(self.query.shape)} "
                f"and {tuple(self.key.shape)}"
            )
        if self.value.shape[1] != self.query.shape[1]:
            raise ValueError(
                f"value must have shape (d_v, d={self.query.shape[1]}) to act on the same tokens as "
                f"query and key; got {tuple(self.value.shape)}"
            )
        object.__setattr__(self, "beta", positive_number("beta", self.beta))

    @property
    def token_dim(self) -> int:
        """Token dimension ``d``."""
        return self.query.shape[1]

    @property
    def value_dim(self) -> int:
        """Output dimension ``d_v``."""
        return self.value.shape[0]

    def bilinear(self) -> torch.Tensor:
        """The score matrix ``β W_Qᵀ W_K`` (shape ``(d, d)``): what the attention weights depend on."""
        return self.beta * self.query.transpose(0, 1) @ self.key


def attend(
    parameters: AttentionParameters,
    query_tokens: torch.Tensor,
    tokens: torch.Tensor,
    attn_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Softmax attention of query tokens over token sets, batched over sets.

    Args:
        parameters: ``(W_Q, W_K, W_V, β)``.
        query_tokens: shape ``(B, m, d)``.
        tokens: shape ``(B, n, d)`` with ``n >= 1``.
        attn_mask: optional boolean ``(m, n)`` or ``(B, m, n)``; ``True`` marks the tokens a query
            may attend to (each query needs at least one).

    Returns:
        Shape ``(B, m, d_v)``; differentiable in the parameters.

    Raises:
        ValueError: wrong shapes, an empty token set, or non-finite inputs.
    """
    finite_tensor("tokens", tokens)
    finite_tensor("query_tokens", query_tokens)
    d = parameters.token_dim
    if tokens.ndim != 3 or tokens.shape[-1] != d:
        raise ValueError(f"tokens must have shape (B, n, d={d}), got {tuple(tokens.shape)}")
    if tokens.shape[1] < 1:
        raise ValueError("tokens must hold at least one token per set (n >= 1)")
    if query_tokens.ndim != 3 or query_tokens.shape[-1] != d or query_tokens.shape[0] != tokens.shape[0]:
        raise ValueError(
            f"query_tokens must have shape (B={tokens.shape[0]}, m, d={d}), got {tuple(query_tokens.shape)}"
        )
    if attn_mask is not None:
        if attn_mask.dtype != torch.bool or attn_mask.shape[-2:] != (query_tokens.shape[1], tokens.shape[1]):
            raise ValueError(
                f"attn_mask must be boolean with last dimensions (m, n) = ({query_tokens.shape[1]}, "
                f"{tokens.shape[1]}), got {attn_mask.dtype} {tuple(attn_mask.shape)}"
            )
        if not bool(attn_mask.any(dim=-1).all()):
            raise ValueError("attn_mask must let every query attend to at least one token")
    dtype = tokens.dtype
    queries = query_tokens @ parameters.query.to(dtype).transpose(0, 1)
    keys = tokens @ parameters.key.to(dtype).transpose(0, 1)
    values = tokens @ parameters.value.to(dtype).transpose(0, 1)
    return F.scaled_dot_product_attention(queries, keys, values, attn_mask=attn_mask, scale=parameters.beta)


Estimator = Callable[[torch.Tensor, "TokenSets"], "torch.Tensor | np.ndarray"]


def attention_estimator(
    world: World, parameters: AttentionParameters | Callable[[int], AttentionParameters] | None = None
) -> Estimator:
    """An estimator ``(queries, sets) -> predicted values`` that runs attention over each set.

    Args:
        world: the world (it turns query keys into query tokens).
        parameters: fixed parameters, or a function of the number of tokens ``n`` giving them; by
            default the world's right parameters (:meth:`World.right_parameters`).

    Returns:
        The estimator, returning a tensor of shape ``(B, m, d_v)``.
    """
    if parameters is None:
        parameters = world.right_parameters

    def estimate(queries: torch.Tensor, sets: TokenSets) -> torch.Tensor:
        chosen = parameters(sets.n_tokens) if callable(parameters) else parameters
        with torch.no_grad():
            return attend(chosen, world.query_tokens(queries), sets.tokens)

    return estimate


@dataclass(frozen=True, eq=False)
class ErrorCurve:
    """Root-mean-square error of an estimator against ``n``, one row per seed.

    Attributes:
        ns: the numbers of tokens, shape ``(N,)``.
        errors: RMSE over sets, queries and value coordinates, shape ``(S, N)`` for ``S`` seeds.
    """

    ns: np.ndarray
    errors: np.ndarray

    @property
    def mean(self) -> np.ndarray:
        """Mean RMSE over seeds, shape ``(N,)``."""
        return self.errors.mean(axis=0)


def error_curve(
    world: World,
    ns: Sequence[int],
    estimator: Estimator | None = None,
    reference: str = "conditional",
    n_sets: int = 256,
    n_queries: int = 8,
    seeds: Sequence[Seed] = (0, 1, 2, 3, 4),
) -> ErrorCurve:
    """Error of ``estimator`` to a Bayes reference, for each number of tokens in ``ns`` and each seed.

    Args:
        world: where token sets come from.
        ns: numbers of tokens per set (each >= 1).
        estimator: ``(queries, sets) -> values`` (e.g. :meth:`World.predictive_mean`); by default
            attention with the world's right parameters.
        reference: ``"conditional"`` for ``E[v | k = q, z]`` (the set's true world) or ``"predictive"``
            for ``E[v | k = q, X]`` (the Bayes prediction from the set).
        n_sets: sets per point (>= 1).
        n_queries: queries per set (>= 1).
        seeds: one curve per seed (each an int >= 0 or a ``SeedSequence``, e.g. the children
            :func:`attnflow.random.spawn` gives); each seed's sets and queries come from one
            :func:`attnflow.random.torch_generator` stream, drawn in the order of ``ns``.

    Returns:
        The RMSE for each seed and ``n``.

    Raises:
        ValueError: an ``n`` < 1, no seeds, or an unknown ``reference``.
    """
    ns = [positive_int("ns entries", n) for n in ns]
    if not ns or not seeds:
        raise ValueError("ns and seeds must be non-empty")
    if reference not in ("conditional", "predictive"):
        raise ValueError(f"reference must be 'conditional' or 'predictive', got {reference!r}")
    estimator = estimator or attention_estimator(world)
    errors = np.empty((len(seeds), len(ns)))
    for s, seed in enumerate(seeds):
        generator = torch_generator(seed)
        for j, n in enumerate(ns):
            sets = world.sample(n_sets, n, generator)
            queries = world.sample_queries(n_sets, n_queries, generator)
            if reference == "conditional":
                target = world.conditional_mean(queries, sets.latent)
            else:
                target = world.predictive_mean(queries, sets)
            estimate = np.asarray(torch.as_tensor(estimator(queries, sets)).to(torch.float64))
            errors[s, j] = float(np.sqrt(np.mean((estimate - target) ** 2)))
    return ErrorCurve(ns=np.asarray(ns, dtype=float), errors=errors)
