"""Normalisation schemes as speed factors (Karagodin, Ge, Polyanskiy & Rigollet, arXiv 2510.22026).

A token is ``x_i = r_i θ_i``: a norm ``r_i > 0`` and a direction ``θ_i`` on the unit sphere. Attention
reads the directions (LayerNorm before attention), ``a_i = Σ_j A_ij V θ_j`` with
``A_ij ∝ e^{β⟨Q θ_i, K θ_j⟩}``, and a residual of strength ``s`` (``residual_scale``) adds it back
according to the scheme:

=========  ====================================  ==========================  ========================
scheme     update (continuous depth)             direction ``θ̇_i``           norm ``ṙ_i``
=========  ====================================  ==========================  ========================
``post``   ``x ← LN(x + s a)``                   ``s P_θ a``                 0 (``r ≡ 1``)
``pre``    ``x ← x + s a``                       ``s P_θ a / r``             ``s ⟨θ, a⟩``
``peri``   ``x ← x + s LN(a)``                   ``s P_θ a / (r |a|)``       ``s ⟨θ, a⟩ / |a|``
``ngpt``   ``θ ← LN(θ + s (LN(a) − θ))``         ``s P_θ a / |a|``           0 (``r ≡ 1``)
=========  ====================================  ==========================  ========================

``P_θ a = a − ⟨θ, a⟩ θ``; ``LN`` here is the idealised LayerNorm ``y ↦ y/|y|``. Every scheme moves
the direction along the same tangent vector ``P_θ a``; the schemes differ only by a positive speed
factor, which is the paper's point. Depth-scaled residuals are ``residual_scale = 1/√L`` for ``L``
layers. The table is derived here from the updates in the first column (first-order expansion in
``s``), not copied from the paper, whose equation numbers could not be checked against its text.
"""

from __future__ import annotations

import torch

from attnflow._validate import one_of, positive_number
from attnflow.dynamics.attention import SelfAttention

#: The schemes; ``post`` is the idealised layer of the seed papers (attention, then project).
NORMALIZATIONS = ("post", "pre", "peri", "ngpt")
#: The schemes that keep every token on the unit sphere (the others let norms grow).
ON_SPHERE = ("post", "ngpt")


class Normalized:
    """A normalisation scheme around self-attention, as a vector field ``field(t, x)``.

    Args:
        attention: the attention of the directions; it must be built with ``geometry="euclidean"``,
            because this field applies the normalisation itself.
        scheme: one of :data:`NORMALIZATIONS` (see the module doc for the equations).
        residual_scale: the residual strength ``s > 0`` (``1/√L`` for depth-scaled residuals,
            nGPT's ``α``).

    The state is the tokens ``x_i = r_i θ_i`` themselves: on the unit sphere for ``post`` and ``ngpt``
    (:attr:`geometry` ``"sphere"``, so integrators retract), in ``R^d`` otherwise, so a Trajectory keeps
    both the norms and the directions.
    """

    def __init__(self, attention: SelfAttention, scheme: str = "post", residual_scale: float = 1.0) -> None:
        if not isinstance(attention, SelfAttention):
            raise TypeError(f"attention must be a SelfAttention, got {type(attention).__name__}")
        if attention.geometry != "euclidean":
            raise ValueError(
                "attention must be built with geometry='euclidean': Normalized applies the normalisation"
            )
        self.attention = attention
        self.scheme = one_of("normalization", scheme, NORMALIZATIONS)
        self.residual_scale = positive_number("residual_scale", residual_scale)
        self.geometry = "sphere" if self.scheme in ON_SPHERE else "euclidean"

    def __repr__(self) -> str:
        return (
            f"Normalized({self.attention!r}, scheme={self.scheme!r}, residual_scale={self.residual_scale:g})"
        )

    def describe(self) -> dict[str, object]:
        """The attention's parameters with the scheme (stored with every Trajectory)."""
        return {
            **self.attention.describe(),
            "geometry": self.geometry,
            "normalization": self.scheme,
            "residual_scale": self.residual_scale,
        }

    def check_state(self, x: torch.Tensor, name: str = "x") -> None:
        """Raise a clear error if ``x`` cannot be a state (also: every token needs a non-zero norm)."""
        self.attention.check_state(x, name)
        if x.shape[-1] < 2:
            raise ValueError(f"{name} has dimension d={x.shape[-1]}; directions need d >= 2")
        if bool((x.norm(dim=-1) == 0).any()):
            raise ValueError(f"{name} has a token of norm 0, which has no direction")

    def __call__(self, t: float, x: torch.Tensor) -> torch.Tensor:
        """The velocity ``ẋ_i`` of every token (shape of ``x``: ``(n, d)`` or ``(batch, n, d)``)."""
        direction = x / x.norm(dim=-1, keepdim=True)
        mixed = self.attention(t, direction)
        if self.scheme == "pre":
            return self.residual_scale * mixed
        if self.scheme == "peri":
            return self.residual_scale * mixed / mixed.norm(dim=-1, keepdim=True)
        tangent = mixed - (mixed * direction).sum(-1, keepdim=True) * direction
        if self.scheme == "post":
            return self.residual_scale * tangent
        return self.residual_scale * tangent / mixed.norm(dim=-1, keepdim=True)


__all__ = ["NORMALIZATIONS", "ON_SPHERE", "Normalized"]
