"""Learning attention by empirical risk minimisation, its generalisation gap, and the condition number
that ties a self-supervised representation to a downstream task.

Two objectives, both the mean squared error ``E|a_θ(x_q; X) - v_q|²`` of a predicted value:

* supervised: every set comes with labelled queries, held-out tokens of the same world whose keys
  are shown and whose values are the labels (:func:`supervised_loss`);
* self-supervised: each token of a set is masked in turn (its value hidden, its key kept) and
  predicted from the others (:func:`masked_token_loss`), so no label is needed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from attnflow._validate import one_of, positive_int, positive_number
from attnflow.inference.estimator import AttentionParameters, attend
from attnflow.inference.worlds import MixtureWorld, TokenSets, World, masked_tokens
from attnflow.random import Seed, spawn, torch_generator

_TEST_CHUNK = 256


class AttentionLayer(nn.Module):
    """One trainable softmax-attention head (``W_Q``, ``W_K``, ``W_V`` learned, ``β`` fixed).

    Args:
        token_dim: token dimension ``d`` (>= 1).
        value_dim: output dimension ``d_v`` (>= 1).
        attention_dim: query/key dimension ``d_a`` (default ``d``).
        beta: the fixed inverse temperature (> 0); its scale is interchangeable with ``W_Qᵀ W_K``.
        init_scale: standard deviation of the Gaussian initial entries (> 0).
        seed: seed of the initialisation (an int >= 0 or a ``SeedSequence``).
        dtype: parameter dtype.
    """

    def __init__(
        self,
        token_dim: int,
        value_dim: int,
        attention_dim: int | None = None,
        beta: float = 1.0,
        init_scale: float = 0.02,
        seed: Seed = 0,
        dtype: torch.dtype = torch.float64,
    ) -> None:
        super().__init__()
        token_dim = positive_int("token_dim", token_dim)
        value_dim = positive_int("value_dim", value_dim)
        attention_dim = positive_int(
            "attention_dim", attention_dim if attention_dim is not None else token_dim
        )
        self.beta = positive_number("beta", beta)
        init_scale = positive_number("init_scale", init_scale)
        generator = torch_generator(seed)

        def draw(*shape: int) -> nn.Parameter:
            return nn.Parameter(init_scale * torch.randn(*shape, generator=generator, dtype=dtype))

        self.query = draw(attention_dim, token_dim)
        self.key = draw(attention_dim, token_dim)
        self.value = draw(value_dim, token_dim)

    def attention_parameters(self) -> AttentionParameters:
        """The current parameters (sharing storage with the layer, so gradients flow through them)."""
        return AttentionParameters(self.query, self.key, self.value, self.beta)

    def forward(
        self, query_tokens: torch.Tensor, tokens: torch.Tensor, attn_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Attention output, shape ``(B, m, d_v)``; see :func:`attnflow.inference.attend`."""
        return attend(self.attention_parameters(), query_tokens, tokens, attn_mask)


Model = AttentionLayer | AttentionParameters


def _predict(
    model: Model, query_tokens: torch.Tensor, tokens: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    if isinstance(model, AttentionLayer):
        return model(query_tokens, tokens, mask)
    return attend(model, query_tokens, tokens, mask)


def supervised_loss(model: Model, context: TokenSets, labelled: TokenSets) -> torch.Tensor:
    """Mean squared error of predicting the labels of held-out queries from the context set.

    Args:
        model: a layer or fixed parameters.
        context: the observed sets.
        labelled: for each set, queries (their keys) with labels (their values), same latent.

    Returns:
        ``mean over sets and queries of |a(k_q; X) - v_q|²`` (a scalar tensor).

    Raises:
        ValueError: the two have different numbers of sets.
    """
    if labelled.n_sets != context.n_sets:
        raise ValueError(f"labelled must hold one entry per set ({context.n_sets}), got {labelled.n_sets}")
    prediction = _predict(model, labelled.masked_tokens, context.tokens)
    return ((prediction - labelled.values) ** 2).sum(-1).mean()


def masked_token_loss(model: Model, sets: TokenSets) -> torch.Tensor:
    """Mean squared error of predicting each token's value from its key and the other tokens.

    Every token is masked in turn (leave one out), so a set of ``n`` tokens gives ``n`` predictions,
    each from ``n - 1`` tokens.

    Args:
        model: a layer or fixed parameters.
        sets: sets of at least 2 tokens.

    Returns:
        ``mean over sets and tokens of |a(k_i; X_{-i}) - v_i|²`` (a scalar tensor).

    Raises:
        ValueError: fewer than 2 tokens per set.
    """
    if sets.n_tokens < 2:
        raise ValueError(f"masked-token prediction needs sets of at least 2 tokens, got {sets.n_tokens}")
    others = ~torch.eye(sets.n_tokens, dtype=torch.bool)
    prediction = _predict(model, sets.masked_tokens, sets.tokens, others)
    return ((prediction - sets.values) ** 2).sum(-1).mean()


def fit(
    loss: Callable[[], torch.Tensor], layer: AttentionLayer, steps: int = 300, lr: float = 0.05
) -> np.ndarray:
    """Minimise ``loss()`` over the layer's parameters with full-batch Adam.

    Args:
        loss: evaluates the empirical risk of ``layer`` on its training data.
        layer: the layer to train (in place).
        steps: optimiser steps (>= 1).
        lr: Adam learning rate (> 0).

    Returns:
        The loss before each step and after the last one, shape ``(steps + 1,)``.
    """
    steps = positive_int("steps", steps)
    lr = positive_number("lr", lr)
    optimiser = torch.optim.Adam(layer.parameters(), lr=lr)
    history = np.empty(steps + 1)
    for step in range(steps):
        optimiser.zero_grad()
        value = loss()
        history[step] = value.detach().item()
        value.backward()
        optimiser.step()
    with torch.no_grad():
        history[steps] = float(loss())
    return history


@dataclass(frozen=True, eq=False)
class TrainingResult:
    """What one ERM run found.

    Attributes:
        objective: ``"supervised"`` or ``"self-supervised"``.
        n_tokens: tokens per set seen by each prediction's context.
        n_train_sets: number of training sets.
        train_loss: final empirical risk on the training sets.
        test_loss: risk on fresh sets from the same world.
        history: training loss per step.
        parameters: the learned parameters (detached).
    """

    objective: str
    n_tokens: int
    n_train_sets: int
    train_loss: float
    test_loss: float
    history: np.ndarray
    parameters: AttentionParameters

    @property
    def gap(self) -> float:
        """The generalisation gap ``test_loss - train_loss``."""
        return self.test_loss - self.train_loss


def _objective_data(
    world: World, objective: str, n_sets: int, n_tokens: int, n_queries: int, generator: torch.Generator
) -> Callable[[Model], torch.Tensor]:
    """Draw data for ``objective`` and return the loss on it as a function of the model."""
    if objective == "supervised":
        context, labelled = world.sample(n_sets, n_tokens + n_queries, generator).split(n_tokens)
        return lambda model: supervised_loss(model, context, labelled)
    # Sets of n + 1 tokens, so that every masked prediction sees n tokens, as in the supervised case.
    sets = world.sample(n_sets, n_tokens + 1, generator)
    return lambda model: masked_token_loss(model, sets)


def train_erm(
    world: World,
    objective: str,
    n_tokens: int,
    n_train_sets: int,
    seed: Seed = 0,
    steps: int = 300,
    lr: float = 0.05,
    n_queries: int = 1,
    n_test_sets: int = 2048,
    init_scale: float = 0.02,
) -> TrainingResult:
    """Train an attention layer by ERM on ``n_train_sets`` sets and measure its generalisation gap.

    Args:
        world: the world the sets come from.
        objective: ``"supervised"`` or ``"self-supervised"``.
        n_tokens: context tokens per prediction (>= 1).
        n_train_sets: training sets (>= 1).
        seed: an int >= 0 or a ``SeedSequence``; the training sets, the test sets and the
            initial weights come from its three children (:func:`attnflow.random.spawn`).
        steps: Adam steps (full batch).
        lr: Adam learning rate.
        n_queries: labelled queries per set (supervised only).
        n_test_sets: fresh sets for the test risk (rounded up to whole chunks of 256).
        init_scale: standard deviation of the initial weights (see :class:`AttentionLayer`).

    Returns:
        The training and test risks, the loss history and the learned parameters.

    Raises:
        ValueError: an unknown objective or counts < 1.
    """
    objective = one_of("objective", objective, ("supervised", "self-supervised"))
    n_tokens = positive_int("n_tokens", n_tokens)
    n_train_sets = positive_int("n_train_sets", n_train_sets)
    n_queries = positive_int("n_queries", n_queries)
    n_test_sets = positive_int("n_test_sets", n_test_sets)
    train_seed, test_seed, init_seed = spawn(seed, 3)
    train = _objective_data(world, objective, n_train_sets, n_tokens, n_queries, torch_generator(train_seed))
    layer = AttentionLayer(
        world.token_dim, world.value_dim, init_scale=init_scale, seed=init_seed, dtype=world.dtype
    )
    history = fit(lambda: train(layer), layer, steps=steps, lr=lr)
    current = layer.attention_parameters()
    learned = AttentionParameters(*(p.detach().clone() for p in (current.query, current.key, current.value)))
    # The test risk is averaged over equal chunks of sets so that memory stays bounded for large n.
    chunk = min(n_test_sets, _TEST_CHUNK)
    n_chunks = math.ceil(n_test_sets / chunk)
    generator = torch_generator(test_seed)
    with torch.no_grad():
        test_loss = float(
            np.mean(
                [
                    float(_objective_data(world, objective, chunk, n_tokens, n_queries, generator)(learned))
                    for _ in range(n_chunks)
                ]
            )
        )
    return TrainingResult(objective, n_tokens, n_train_sets, float(history[-1]), test_loss, history, learned)


def parameter_distance(learned: AttentionParameters, right: AttentionParameters, key_dim: int) -> float:
    """Relative distance between the identifiable parts of two parameter sets, up to the value scale.

    Queries are tokens ``(q, 0)``, so only the first ``key_dim`` rows of the score matrix
    ``S = β W_Qᵀ W_K`` act. In the linear-Gaussian worlds the infinite-``n`` output is unchanged by
    ``(W_V, S) → (W_V / w, w S)`` for any scalar ``w ≠ 0`` (a scaled, possibly sign-flipped, tilt of the
    keys times a rescaled value), so ``learned`` is first brought to the scale of ``right``: ``w`` is
    ``±‖W_V^v‖ / ‖W_V^v,right‖`` on the value block ``W_V^v`` (the sign of their inner product). Then
    ``S[:key_dim]`` and ``W_V`` are stacked and compared in Frobenius norm, relative to ``right``'s.

    Args:
        learned: the parameters to judge.
        right: the reference parameters.
        key_dim: number of key coordinates at the front of a token.

    Returns:
        The relative distance (0 means equal up to the scale).

    Raises:
        ValueError: the two act on tokens of different dimensions, or ``right`` has a zero value block.
    """
    key_dim = positive_int("key_dim", key_dim)
    if learned.token_dim != right.token_dim or learned.value_dim != right.value_dim:
        raise ValueError("learned and right must act on tokens of the same dimension with the same d_v")
    right_block = right.value[:, key_dim:].detach().to(torch.float64)
    learned_block = learned.value[:, key_dim:].detach().to(torch.float64)
    if float(right_block.norm()) == 0.0:
        raise ValueError("right must read the value part of the tokens (its value block is zero)")
    scale = float(learned_block.norm() / right_block.norm())
    scale = math.copysign(max(scale, 1e-12), float((learned_block * right_block).sum()))

    def stacked(p: AttentionParameters, w: float) -> torch.Tensor:
        score = p.bilinear()[:key_dim].detach().to(torch.float64) * w
        return torch.cat([score.reshape(-1), p.value.detach().to(torch.float64).reshape(-1) / w])

    return float((stacked(learned, scale) - stacked(right, 1.0)).norm() / stacked(right, 1.0).norm())


def pretext_matrix(world: MixtureWorld, probes: torch.Tensor) -> np.ndarray:
    """The matrix ``M̃`` mapping the posterior ``p(z | X)`` to the ideal pretext features.

    The pretext features of a set are its predicted values at fixed probe keys
    ``φ(X) = (E[v | k = p_j, X])_j = Σ_z p(z | X) (A_z p_j)_j``. With a constant feature for the
    intercept, ``(1, φ(X)) = M̃ p(z | X)`` where column ``z`` of ``M̃`` is ``(1, vec(A_z p_1..p_r))``.

    Args:
        world: a mixture world.
        probes: probe keys, shape ``(r, d_k)``.

    Returns:
        ``M̃``, shape ``(1 + r d_v, K)``.
    """
    if probes.ndim != 2 or probes.shape[1] != world.key_dim:
        raise ValueError(f"probes must have shape (r, key_dim={world.key_dim}), got {tuple(probes.shape)}")
    features = np.einsum("kvd,rd->krv", world.components.numpy(), probes.to(torch.float64).numpy())
    features = features.reshape(world.n_components, -1)
    return np.concatenate([np.ones((world.n_components, 1)), features], axis=1).T


def condition_number(world: MixtureWorld, probes: torch.Tensor) -> float:
    """The condition number ``κ = σ_max(M̃) / σ_min(M̃)`` of the pretext matrix (:func:`pretext_matrix`).

    A linear head recovers any downstream target ``E[y | X] = Σ_z c_z p(z | X)`` from the ideal
    pretext features exactly when ``M̃`` has full column rank; an error ``e`` in the features moves
    the recovered target by up to ``‖c‖ ‖e‖ / σ_min(M̃)``, so ``κ`` (scale-free) measures how much
    the pretext task's errors are amplified downstream. ``inf`` when ``M̃`` is rank-deficient.
    """
    singular = np.linalg.svd(pretext_matrix(world, probes), compute_uv=False)
    if singular[-1] <= singular[0] * 1e-12 or singular.size < world.n_components:
        return math.inf
    return float(singular[0] / singular[-1])


def probe_features(model: Model, sets: TokenSets, probes: torch.Tensor) -> np.ndarray:
    """The representation of each set: its attention outputs at the probe keys, flattened.

    Args:
        model: a layer or parameters.
        sets: the sets to represent.
        probes: probe keys, shape ``(r, d_k)``.

    Returns:
        Float64 array of shape ``(B, r d_v)``.
    """
    if probes.ndim != 2 or probes.shape[1] != sets.keys.shape[-1]:
        raise ValueError(f"probes must have shape (r, {sets.keys.shape[-1]}), got {tuple(probes.shape)}")
    query_tokens = masked_tokens(probes.to(sets.keys.dtype), sets.values.shape[-1])
    with torch.no_grad():
        out = _predict(model, query_tokens.expand(sets.n_sets, -1, -1), sets.tokens)
    return out.reshape(sets.n_sets, -1).to(torch.float64).numpy()


def fit_linear_head(features: np.ndarray, targets: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """Least-squares linear head with an intercept.

    Args:
        features: shape ``(B, p)``.
        targets: shape ``(B,)`` or ``(B, c)``.

    Returns:
        A function mapping features ``(B', p)`` to predictions.
    """
    if features.ndim != 2 or features.shape[0] != targets.shape[0]:
        raise ValueError(
            f"features must be (B, p) with B = len(targets) = {targets.shape[0]}, got {features.shape}"
        )

    def design(f: np.ndarray) -> np.ndarray:
        return np.concatenate([np.ones((f.shape[0], 1)), f], axis=1)

    weights = np.linalg.lstsq(design(features), targets, rcond=None)[0]
    return lambda f: design(f) @ weights
