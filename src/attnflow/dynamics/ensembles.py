"""Random attention weights from named ensembles, fixed or resampled every layer.

Per head, Q and K are ``d × d`` draws from the ensemble (as in the GLPR phase-diagram scripts):

- ``"random"`` (alias of the Gaussian ensemble): independent entries ``N(0, 1/d)``;
- ``"goe"``: ``(G + Gᵀ)/√2`` with ``G`` Gaussian as above (off-diagonal variance ``1/d``, diagonal ``2/d``);
- ``"wigner"``: symmetric with independent ``±1/√d`` (Rademacher) entries on and above the diagonal.

V is ``value``: ``"ensemble"`` (a third draw of the same ensemble), ``"identity"``, ``"qk"`` (``QᵀK``),
``"-qk"`` (``−QᵀK``) or ``"gaussian"``. With ``resample = τ > 0`` the weights in force on
``[kτ, (k+1)τ)`` are a fresh draw from the child seed ``k`` (``SeedSequence(seed).spawn`` child ``k``), so
layer ``k`` has the same weights whatever the step or the horizon; ``τ = 0`` keeps one draw.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from attnflow._validate import one_of, positive_int
from attnflow.random import Seed, check_seed, torch_generator

#: The Q/K ensembles (``"identity"`` draws nothing).
ENSEMBLES = ("identity", "random", "goe", "wigner")
#: The choices of V.
VALUES = ("ensemble", "identity", "qk", "-qk", "gaussian")

Weights = tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]


def _matrix(ensemble: str, heads: int, d: int, generator: torch.Generator) -> torch.Tensor:
    if ensemble == "wigner":
        signs = torch.randint(0, 2, (heads, d, d), generator=generator, dtype=torch.float64) * 2 - 1
        upper = torch.triu(signs)
        return (upper + torch.triu(upper, diagonal=1).transpose(-1, -2)) / math.sqrt(d)
    gaussian = torch.randn(heads, d, d, generator=generator, dtype=torch.float64) / math.sqrt(d)
    if ensemble == "goe":
        return (gaussian + gaussian.transpose(-1, -2)) / math.sqrt(2)
    return gaussian


def draw_weights(ensemble: str, value: str, heads: int, d: int, seed: Seed) -> Weights:
    """``(Q, K, V)`` as float64 CPU stacks ``(heads, d, d)``; ``None`` stands for the identity.

    Draws happen in the order Q, K, then V (when V is drawn), from one generator for ``seed``.
    """
    one_of("weights", ensemble, ENSEMBLES)
    one_of("value", value, VALUES)
    heads = positive_int("heads", heads)
    d = positive_int("d", d)
    generator = torch_generator(seed)
    if ensemble == "identity":
        q = k = None
    else:
        q, k = _matrix(ensemble, heads, d, generator), _matrix(ensemble, heads, d, generator)
    if value == "identity" or (value == "ensemble" and ensemble == "identity"):
        return q, k, None
    if value in ("qk", "-qk"):
        eye = torch.eye(d, dtype=torch.float64).expand(heads, d, d)
        product = (eye if q is None else q).transpose(-1, -2) @ (eye if k is None else k)
        return q, k, product if value == "qk" else -product
    return q, k, _matrix("random" if value == "gaussian" else ensemble, heads, d, generator)


def layer_seed(seed: Seed, layer: int) -> np.random.SeedSequence:
    """Child ``layer`` of ``seed``: the same as ``attnflow.random.spawn(seed, layer + 1)[layer]``, in O(1)."""
    seed = check_seed(seed)
    root = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    # numpy's SeedSequence.spawn builds child i exactly so: same entropy, spawn_key extended by i.
    return np.random.SeedSequence(root.entropy, spawn_key=(*root.spawn_key, layer), pool_size=root.pool_size)


class ResampledWeights:
    """Weights redrawn on every layer ``[kτ, (k+1)τ)``; ``Q``, ``K``, ``V`` are functions of ``t``
    (``None`` where the weight is the identity in every layer).

    The draw of the current layer is cached, so the three functions share one draw per layer. One layer
    per step is ``method="euler"`` with ``dt = τ``; a multi-stage method evaluates its last stage at the
    next layer's start, i.e. with the next layer's weights.
    """

    def __init__(
        self, ensemble: str, value: str, heads: int, d: int, seed: Seed, layer_time: float, dtype, device
    ) -> None:
        self.ensemble, self.value, self.heads, self.d = ensemble, value, heads, d
        self.seed, self.layer_time, self.dtype, self.device = seed, layer_time, dtype, device
        self._layer: int | None = None
        self._weights: Weights = (None, None, None)
        first = self.at(0.0)
        self.Q, self.K, self.V = (
            None if w is None else (lambda t, slot=slot: self.at(t)[slot]) for slot, w in enumerate(first)
        )

    def at(self, t: float) -> Weights:
        """The weights in force at time ``t``."""
        layer = max(0, math.floor(t / self.layer_time + 1e-9))
        if layer != self._layer:
            drawn = draw_weights(self.ensemble, self.value, self.heads, self.d, layer_seed(self.seed, layer))
            self._weights = tuple(
                None if w is None else w.to(dtype=self.dtype, device=self.device) for w in drawn
            )
            self._layer = layer
        return self._weights


__all__ = ["ENSEMBLES", "VALUES", "ResampledWeights", "draw_weights", "layer_seed"]
