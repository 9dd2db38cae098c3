"""Exchangeable latent-variable worlds: token sets with a known latent and their exact Bayes references.

A world draws a latent ``z`` and then ``n`` tokens i.i.d. given ``z``; each token is a key ``k`` and a
value ``v`` stored side by side, ``x = (k, v)``. Exchangeability of the tokens is what makes such a
latent variable model exist (de Finetti); the worlds here make the latent explicit so that the Bayes
answers can be computed exactly:

* :class:`MixtureWorld`: ``z`` is one of ``K`` components; keys ``k ~ N(0, s² I)``, values
  ``v = A_z k + ε``. The posterior ``p(z | X)`` is a finite sum (enumeration).
* :class:`GaussianWorld`: ``z`` is a Gaussian matrix ``Z`` (entries ``N(0, τ²)``); keys
  ``k ~ N(0, s² I)``, values ``v = Z k + ε``, so ``(k, v)`` is jointly Gaussian given ``Z`` and the
  posterior of ``Z`` is Gaussian in closed form (Bayesian linear regression).
* :class:`RegressionWorld`: no latent; keys uniform on the unit sphere, ``v = f(k) + ε`` for any ``f``.
  ``E[v | k = q] = f(q)``; the population output of a softmax kernel is computed by quadrature.

Samples are torch tensors (the estimator runs on torch); the Bayes references are NumPy arrays
computed in float64 with NumPy/SciPy. Sampling takes a ``seed`` (:mod:`attnflow.random`), or a
``torch.Generator`` to continue drawing from when one computation takes several batches from one stream.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from scipy import integrate, special

from attnflow._validate import finite_tensor, positive_int, positive_number
from attnflow.inference.estimator import AttentionParameters
from attnflow.random import Seed, torch_generator


def _generator(seed: Seed | torch.Generator) -> torch.Generator:
    """The generator to draw from: the given one (threaded), or a fresh one for a seed."""
    return seed if isinstance(seed, torch.Generator) else torch_generator(seed)


def masked_tokens(keys: torch.Tensor, value_dim: int) -> torch.Tensor:
    """Tokens ``(k, 0)``, shape ``(..., d_k + d_v)``: keys shown, values hidden (queries, masked tokens)."""
    return torch.cat([keys, keys.new_zeros(*keys.shape[:-1], value_dim)], dim=-1)


@dataclass(frozen=True, eq=False)
class TokenSets:
    """A batch of token sets drawn from a world.

    Attributes:
        keys: shape ``(B, n, d_k)``.
        values: shape ``(B, n, d_v)``.
        latent: the latent of each set: component indices ``(B,)`` for a mixture, matrices
            ``(B, d_v, d_k)`` for the Gaussian world, ``None`` for the regression world.
    """

    keys: torch.Tensor
    values: torch.Tensor
    latent: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if self.keys.ndim != 3 or self.values.ndim != 3 or self.keys.shape[:2] != self.values.shape[:2]:
            raise ValueError(
                "keys and values must have shapes (B, n, d_k) and (B, n, d_v) with the same B and n; "
                f"got {tuple(self.keys.shape)} and {tuple(self.values.shape)}"
            )

    @property
    def tokens(self) -> torch.Tensor:
        """The tokens ``x = (k, v)``, shape ``(B, n, d_k + d_v)``."""
        return torch.cat([self.keys, self.values], dim=-1)

    @property
    def masked_tokens(self) -> torch.Tensor:
        """The tokens with their values hidden, ``(k, 0)``."""
        return masked_tokens(self.keys, self.values.shape[-1])

    @property
    def n_sets(self) -> int:
        """Number of sets ``B``."""
        return self.keys.shape[0]

    @property
    def n_tokens(self) -> int:
        """Tokens per set ``n``."""
        return self.keys.shape[1]

    def split(self, n_first: int) -> tuple[TokenSets, TokenSets]:
        """Split every set into its first ``n_first`` tokens and the rest (same latent).

        Since tokens are i.i.d. given the latent, the rest is a fresh sample from the same world;
        it serves as held-out queries with their labels.
        """
        n_first = positive_int("n_first", n_first)
        if n_first >= self.n_tokens:
            raise ValueError(f"n_first must be < n_tokens = {self.n_tokens}, got {n_first}")
        first = TokenSets(self.keys[:, :n_first], self.values[:, :n_first], self.latent)
        rest = TokenSets(self.keys[:, n_first:], self.values[:, n_first:], self.latent)
        return first, rest


class World(ABC):
    """An exchangeable world: a latent, tokens i.i.d. given it, and the exact Bayes references.

    Args:
        key_dim: dimension ``d_k`` of keys (and queries).
        value_dim: dimension ``d_v`` of values.
        noise_var: variance ``σ²`` of the value noise.
        dtype: floating dtype of the samples.
    """

    def __init__(self, key_dim: int, value_dim: int, noise_var: float, dtype: torch.dtype) -> None:
        self.key_dim = positive_int("key_dim", key_dim)
        self.value_dim = positive_int("value_dim", value_dim)
        self.noise_var = positive_number("noise_var", noise_var)
        if not dtype.is_floating_point:
            raise TypeError(f"dtype must be a floating-point torch dtype, got {dtype}")
        self.dtype = dtype

    @property
    def token_dim(self) -> int:
        """Dimension ``d_k + d_v`` of a token."""
        return self.key_dim + self.value_dim

    def sample(self, n_sets: int, n_tokens: int, seed: Seed | torch.Generator = 0) -> TokenSets:
        """Draw ``n_sets`` latents and ``n_tokens`` tokens i.i.d. given each.

        Args:
            n_sets: number of sets ``B`` (>= 1).
            n_tokens: tokens per set ``n`` (>= 1).
            seed: an int >= 0 or a ``SeedSequence`` (same seed, same sets), or a ``torch.Generator``
                to continue drawing from (advanced in place).

        Returns:
            The token sets with their latents.

        Raises:
            ValueError: ``n_sets`` or ``n_tokens`` < 1.
        """
        n_sets = positive_int("n_sets", n_sets)
        n_tokens = positive_int("n_tokens", n_tokens)
        generator = _generator(seed)
        latent = self._sample_latent(n_sets, generator)
        keys = self._sample_keys(n_sets, n_tokens, generator)
        noise = torch.randn(n_sets, n_tokens, self.value_dim, generator=generator, dtype=self.dtype)
        values = self._mean_value(keys, latent) + math.sqrt(self.noise_var) * noise
        return TokenSets(keys, values, latent)

    def sample_queries(self, n_sets: int, n_queries: int, seed: Seed | torch.Generator = 0) -> torch.Tensor:
        """Draw query keys, shape ``(n_sets, n_queries, d_k)``, from the world's query distribution.

        ``seed`` is as in :meth:`sample`.
        """
        n_sets = positive_int("n_sets", n_sets)
        n_queries = positive_int("n_queries", n_queries)
        return self._sample_queries(n_sets, n_queries, _generator(seed))

    def query_tokens(self, queries: torch.Tensor) -> torch.Tensor:
        """Tokens ``(q, 0)`` for query keys ``q``: a token whose value is not observed.

        Args:
            queries: shape ``(B, m, d_k)``.

        Returns:
            Shape ``(B, m, d_k + d_v)``.
        """
        self._check_queries(queries)
        return masked_tokens(queries, self.value_dim)

    def conditional_mean(self, queries: torch.Tensor, latent: torch.Tensor | None) -> np.ndarray:
        """``E[v | k = q, z]``: the conditional mean of the value given the key, in the set's world.

        Args:
            queries: shape ``(B, m, d_k)``.
            latent: the sets' latents, as in :attr:`TokenSets.latent`.

        Returns:
            Float64 array of shape ``(B, m, d_v)``.
        """
        self._check_queries(queries)
        return self._mean_value(queries.to(torch.float64), latent).numpy()

    @abstractmethod
    def predictive_mean(self, queries: torch.Tensor, sets: TokenSets) -> np.ndarray:
        """``E[v | k = q, X]``: the Bayes prediction of a value at key ``q`` given the observed set.

        Args:
            queries: shape ``(B, m, d_k)``.
            sets: the observed token sets (``B`` of them).

        Returns:
            Float64 array of shape ``(B, m, d_v)``.
        """

    @abstractmethod
    def right_parameters(self, n_tokens: int) -> AttentionParameters:
        """The attention parameters under which attention estimates ``E[v | k = q, z]`` for sets of
        ``n_tokens`` tokens (only the regression world's depend on ``n_tokens``)."""

    @abstractmethod
    def _sample_latent(self, n_sets: int, generator: torch.Generator) -> torch.Tensor | None: ...

    @abstractmethod
    def _sample_keys(self, n_sets: int, n_tokens: int, generator: torch.Generator) -> torch.Tensor: ...

    @abstractmethod
    def _sample_queries(self, n_sets: int, n_queries: int, generator: torch.Generator) -> torch.Tensor: ...

    @abstractmethod
    def _mean_value(self, keys: torch.Tensor, latent: torch.Tensor | None) -> torch.Tensor:
        """``E[v | k, z]`` for keys ``(B, m, d_k)``, in the dtype of ``keys``."""

    def _check_queries(self, queries: torch.Tensor) -> None:
        finite_tensor("queries", queries)
        if queries.ndim != 3 or queries.shape[-1] != self.key_dim:
            raise ValueError(
                f"queries must have shape (B, m, key_dim={self.key_dim}), got {tuple(queries.shape)}"
            )

    def _check_sets(self, sets: TokenSets, queries: torch.Tensor | None = None) -> None:
        if sets.keys.shape[-1] != self.key_dim or sets.values.shape[-1] != self.value_dim:
            raise ValueError(
                f"sets must have keys of dimension key_dim={self.key_dim} and values of dimension "
                f"value_dim={self.value_dim}; got {sets.keys.shape[-1]} and {sets.values.shape[-1]}"
            )
        if queries is not None and queries.shape[0] != sets.n_sets:
            raise ValueError(
                f"queries must have one batch entry per set ({sets.n_sets}), got {queries.shape[0]}"
            )

    def _projections(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Matrices reading the key part ``(d_k, d)`` and the value part ``(d_v, d)`` of a token."""
        eye = torch.eye(self.token_dim, dtype=self.dtype)
        return eye[: self.key_dim], eye[self.key_dim :]


class _LinearGaussianKeys(World):
    """Shared part of the two latent worlds: Gaussian keys, values linear in the key given the latent."""

    def __init__(
        self,
        key_dim: int,
        value_dim: int,
        key_var: float,
        noise_var: float,
        query_scale: float,
        dtype: torch.dtype,
    ) -> None:
        super().__init__(key_dim, value_dim, noise_var, dtype)
        self.key_var = positive_number("key_var", key_var)
        self.query_scale = positive_number("query_scale", query_scale)

    def _sample_keys(self, n_sets: int, n_tokens: int, generator: torch.Generator) -> torch.Tensor:
        shape = (n_sets, n_tokens, self.key_dim)
        return math.sqrt(self.key_var) * torch.randn(*shape, generator=generator, dtype=self.dtype)

    def _sample_queries(self, n_sets: int, n_queries: int, generator: torch.Generator) -> torch.Tensor:
        return self.query_scale * self._sample_keys(n_sets, n_queries, generator)

    def right_parameters(self, n_tokens: int) -> AttentionParameters:
        """Query and key read the key part, the value reads the value part, ``β = 1 / s²``.

        Why: under ``k ~ N(0, s² I)`` the softmax weight ``exp(q·k / s²)`` tilts the key distribution
        to ``N(q, s² I)``, and the values are linear in the key, so the infinite-``n`` attention output
        is exactly ``E[v | k = q, z]``; finite ``n`` adds a sampling error.
        """
        positive_int("n_tokens", n_tokens)
        key_part, value_part = self._projections()
        return AttentionParameters(key_part, key_part, value_part, beta=1.0 / self.key_var)


class MixtureWorld(_LinearGaussianKeys):
    """A finite mixture: ``z ∈ {0..K-1}``; ``k ~ N(0, s² I)``, ``v = A_z k + ε``, ``ε ~ N(0, σ² I)``.

    Args:
        components: the matrices ``A_z``, shape ``(K, d_v, d_k)``.
        weights: prior probabilities of the components, shape ``(K,)`` (default uniform).
        key_var: key variance ``s²`` (> 0).
        noise_var: value noise variance ``σ²`` (> 0).
        query_scale: queries are drawn as ``query_scale`` times a key (> 0).
        dtype: dtype of the samples.

    Raises:
        ValueError: ``components`` not 3-D, weights of the wrong length, negative or not summing to 1,
            or non-positive variances.
    """

    def __init__(
        self,
        components: torch.Tensor | np.ndarray,
        weights: torch.Tensor | np.ndarray | None = None,
        key_var: float = 1.0,
        noise_var: float = 0.25,
        query_scale: float = 1.0,
        dtype: torch.dtype = torch.float64,
    ) -> None:
        components = torch.as_tensor(components, dtype=torch.float64)
        if components.ndim != 3 or components.shape[0] < 1:
            raise ValueError(
                "components must have shape (K, value_dim, key_dim) with K >= 1, "
                f"got {tuple(components.shape)}"
            )
        finite_tensor("components", components)
        n_components, value_dim, key_dim = components.shape
        super().__init__(key_dim, value_dim, key_var, noise_var, query_scale, dtype)
        if weights is None:
            weights = torch.full((n_components,), 1.0 / n_components, dtype=torch.float64)
        weights = torch.as_tensor(weights, dtype=torch.float64)
        if weights.shape != (n_components,):
            raise ValueError(f"weights must have shape ({n_components},), got {tuple(weights.shape)}")
        if bool((weights < 0).any()) or abs(float(weights.sum()) - 1.0) > 1e-9:
            raise ValueError(f"weights must be non-negative and sum to 1, got {weights.tolist()}")
        self.components = components
        self.weights = weights

    @property
    def n_components(self) -> int:
        """Number of components ``K``."""
        return self.components.shape[0]

    def _sample_latent(self, n_sets: int, generator: torch.Generator) -> torch.Tensor:
        return torch.multinomial(self.weights, n_sets, replacement=True, generator=generator)

    def _mean_value(self, keys: torch.Tensor, latent: torch.Tensor | None) -> torch.Tensor:
        if latent is None or latent.shape != (keys.shape[0],):
            raise ValueError(f"latent must be component indices of shape ({keys.shape[0]},)")
        matrices = self.components.to(keys.dtype)[latent]
        return keys @ matrices.transpose(-1, -2)

    def log_likelihoods(self, sets: TokenSets) -> np.ndarray:
        """``log p(values | keys, z)`` of each set under each component, shape ``(B, K)``.

        The key density does not depend on ``z`` and is left out (it cancels in the posterior).
        """
        self._check_sets(sets)
        keys = sets.keys.to(torch.float64).numpy()
        values = sets.values.to(torch.float64).numpy()
        means = np.einsum("kvd,bnd->bknv", self.components.numpy(), keys)
        sq = ((values[:, None] - means) ** 2).sum(axis=(-1, -2))
        n_scalars = values.shape[1] * values.shape[2]
        return -0.5 * sq / self.noise_var - 0.5 * n_scalars * math.log(2 * math.pi * self.noise_var)

    def posterior(self, sets: TokenSets) -> np.ndarray:
        """The exact posterior ``p(z | X)``, shape ``(B, K)``, by enumerating the components."""
        with np.errstate(divide="ignore"):
            log_joint = np.log(self.weights.numpy()) + self.log_likelihoods(sets)
        return np.exp(log_joint - special.logsumexp(log_joint, axis=-1, keepdims=True))

    def predictive_mean(self, queries: torch.Tensor, sets: TokenSets) -> np.ndarray:
        """``E[v | k = q, X] = Σ_z p(z | X) A_z q`` (see :meth:`World.predictive_mean`)."""
        self._check_queries(queries)
        self._check_sets(sets, queries)
        per_component = np.einsum("kvd,bmd->bkmv", self.components.numpy(), queries.to(torch.float64).numpy())
        return np.einsum("bk,bkmv->bmv", self.posterior(sets), per_component)


@dataclass(frozen=True, eq=False)
class GaussianPosterior:
    """The posterior of the Gaussian world's latent matrix ``Z`` given a set.

    The rows of ``Z`` are independent a posteriori and share one covariance.

    Attributes:
        mean: shape ``(B, d_v, d_k)``.
        row_cov: covariance of each row, shape ``(B, d_k, d_k)``.
    """

    mean: np.ndarray
    row_cov: np.ndarray


class GaussianWorld(_LinearGaussianKeys):
    """A Gaussian latent: ``Z`` with i.i.d. ``N(0, τ²)`` entries; ``k ~ N(0, s² I)``, ``v = Z k + ε``.

    Given ``Z`` the pair ``(k, v)`` is jointly Gaussian; the posterior of ``Z`` is the Bayesian
    linear-regression posterior.

    Args:
        key_dim: ``d_k`` (>= 1).
        value_dim: ``d_v`` (>= 1).
        latent_var: prior variance ``τ²`` of the entries of ``Z`` (> 0).
        key_var: key variance ``s²`` (> 0).
        noise_var: value noise variance ``σ²`` (> 0).
        query_scale: queries are drawn as ``query_scale`` times a key (> 0).
        dtype: dtype of the samples.
    """

    def __init__(
        self,
        key_dim: int = 2,
        value_dim: int = 2,
        latent_var: float = 1.0,
        key_var: float = 1.0,
        noise_var: float = 0.25,
        query_scale: float = 1.0,
        dtype: torch.dtype = torch.float64,
    ) -> None:
        super().__init__(key_dim, value_dim, key_var, noise_var, query_scale, dtype)
        self.latent_var = positive_number("latent_var", latent_var)

    def _sample_latent(self, n_sets: int, generator: torch.Generator) -> torch.Tensor:
        shape = (n_sets, self.value_dim, self.key_dim)
        return math.sqrt(self.latent_var) * torch.randn(*shape, generator=generator, dtype=self.dtype)

    def _mean_value(self, keys: torch.Tensor, latent: torch.Tensor | None) -> torch.Tensor:
        if latent is None or latent.shape != (keys.shape[0], self.value_dim, self.key_dim):
            raise ValueError(
                f"latent must be matrices of shape ({keys.shape[0]}, {self.value_dim}, {self.key_dim})"
            )
        return keys @ latent.to(keys.dtype).transpose(-1, -2)

    def posterior(self, sets: TokenSets) -> GaussianPosterior:
        """The exact Gaussian posterior of ``Z`` given each set (conjugate update)."""
        self._check_sets(sets)
        keys = sets.keys.to(torch.float64).numpy()
        values = sets.values.to(torch.float64).numpy()
        precision = np.eye(self.key_dim) / self.latent_var + keys.transpose(0, 2, 1) @ keys / self.noise_var
        row_cov = np.linalg.inv(precision)
        projected = keys.transpose(0, 2, 1) @ values / self.noise_var  # (B, d_k, d_v)
        mean = np.linalg.solve(precision, projected)
        return GaussianPosterior(mean=mean.transpose(0, 2, 1), row_cov=row_cov)

    def predictive_mean(self, queries: torch.Tensor, sets: TokenSets) -> np.ndarray:
        """``E[v | k = q, X] = E[Z | X] q`` (see :meth:`World.predictive_mean`)."""
        self._check_queries(queries)
        self._check_sets(sets, queries)
        return queries.to(torch.float64).numpy() @ self.posterior(sets).mean.transpose(0, 2, 1)


class RegressionWorld(World):
    """Nonparametric regression with no latent: ``k`` uniform on the unit sphere ``S^{d_k-1}``,
    ``v = f(k) + ε``.

    Softmax attention with unit query and key maps is then a Nadaraya–Watson estimator with the
    von Mises–Fisher kernel ``exp(β q·k)`` (bandwidth about ``1/√β``). Its right parameters grow
    ``β`` with ``n`` as ``β = bandwidth_constant · n^{2/(m+4)}``, ``m = d_k - 1`` the sphere's
    dimension, the classical bias–variance balance for a twice-differentiable ``f``.

    Args:
        function: ``f``, mapping a float64 tensor of keys ``(..., d_k)`` to values ``(..., d_v)``.
        key_dim: ``d_k`` (>= 2).
        value_dim: ``d_v`` (>= 1).
        noise_var: value noise variance ``σ²`` (> 0).
        bandwidth_constant: the constant in the ``β`` schedule (> 0).
        dtype: dtype of the samples.
    """

    def __init__(
        self,
        function: Callable[[torch.Tensor], torch.Tensor],
        key_dim: int = 2,
        value_dim: int = 1,
        noise_var: float = 0.04,
        bandwidth_constant: float = 4.0,
        dtype: torch.dtype = torch.float64,
    ) -> None:
        super().__init__(key_dim, value_dim, noise_var, dtype)
        positive_int("key_dim", key_dim, minimum=2)
        if not callable(function):
            raise TypeError(f"function must be callable, got {function!r}")
        probe = function(torch.zeros(1, key_dim, dtype=torch.float64) + 1 / math.sqrt(key_dim))
        if tuple(probe.shape) != (1, value_dim):
            raise ValueError(
                f"function must map keys (..., {key_dim}) to values (..., value_dim={value_dim}); "
                f"it returned shape {tuple(probe.shape)} for keys of shape (1, {key_dim})"
            )
        self.function = function
        self.bandwidth_constant = positive_number("bandwidth_constant", bandwidth_constant)

    def _sample_latent(self, n_sets: int, generator: torch.Generator) -> None:
        return None

    def _sample_keys(self, n_sets: int, n_tokens: int, generator: torch.Generator) -> torch.Tensor:
        keys = torch.randn(n_sets, n_tokens, self.key_dim, generator=generator, dtype=self.dtype)
        return keys / keys.norm(dim=-1, keepdim=True)

    def _sample_queries(self, n_sets: int, n_queries: int, generator: torch.Generator) -> torch.Tensor:
        return self._sample_keys(n_sets, n_queries, generator)

    def _mean_value(self, keys: torch.Tensor, latent: torch.Tensor | None) -> torch.Tensor:
        return self.function(keys.to(torch.float64)).to(keys.dtype)

    def beta(self, n_tokens: int) -> float:
        """The inverse bandwidth ``β`` used for sets of ``n_tokens`` tokens."""
        n_tokens = positive_int("n_tokens", n_tokens)
        return self.bandwidth_constant * n_tokens ** (2.0 / (self.key_dim - 1 + 4))

    def right_parameters(self, n_tokens: int) -> AttentionParameters:
        """Query and key read the (unit) key part, value reads the value part, ``β = β(n)``."""
        key_part, value_part = self._projections()
        return AttentionParameters(key_part, key_part, value_part, beta=self.beta(n_tokens))

    def predictive_mean(self, queries: torch.Tensor, sets: TokenSets) -> np.ndarray:
        """With no latent the Bayes prediction is ``f(q)`` whatever the set."""
        self._check_sets(sets, queries)
        return self.conditional_mean(queries, None)

    def kernel_mean(self, queries: torch.Tensor, beta: float) -> np.ndarray:
        """The infinite-``n`` attention output ``E[f(k) e^{β q·k}] / E[e^{β q·k}]`` by quadrature.

        Implemented for keys on the circle (``d_k = 2``) with ``scipy.integrate.quad``.

        Args:
            queries: unit query keys, shape ``(B, m, 2)``.
            beta: the inverse bandwidth (> 0).

        Returns:
            Float64 array of shape ``(B, m, d_v)``.

        Raises:
            ValueError: ``d_k`` is not 2, or ``beta`` is not positive.
        """
        self._check_queries(queries)
        beta = positive_number("beta", beta)
        if self.key_dim != 2:
            raise ValueError(f"kernel_mean needs key_dim 2 (the circle), this world has {self.key_dim}")
        angles = torch.atan2(queries[..., 1], queries[..., 0]).to(torch.float64).reshape(-1).tolist()
        out = np.empty((len(angles), self.value_dim))

        def on_circle(theta: float) -> torch.Tensor:
            return torch.tensor([[math.cos(theta), math.sin(theta)]], dtype=torch.float64)

        for row, centre in enumerate(angles):
            # The weight e^{β(cos(t - centre) - 1)} peaks at 1 on the query; integrating over the
            # period centred there never splits the peak.
            def weight(t: float, centre: float = centre) -> float:
                return math.exp(beta * (math.cos(t - centre) - 1.0))

            span = (centre - math.pi, centre + math.pi)
            norm = integrate.quad(weight, *span, epsabs=0, epsrel=1e-10, limit=200)[0]
            for j in range(self.value_dim):
                num = integrate.quad(
                    lambda t, j=j, w=weight: w(t) * float(self.function(on_circle(t))[0, j]),
                    *span,
                    epsabs=0,
                    epsrel=1e-10,
                    limit=200,
                )[0]
                out[row, j] = num / norm
        return out.reshape(*queries.shape[:-1], self.value_dim)
