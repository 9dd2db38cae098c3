"""Common noise on the sphere: the exact contraction rate of the gap between two tokens.

Convention (that of :func:`attnflow.integrate.stochastic.integrate_sde` with no drift and no independent
noise): every token follows the Stratonovich SDE ``dx_i = √(2κ₀) P_{x_i} ∘ dB`` with one Brownian
motion ``B`` in ``R^d`` shared by all tokens (``P_x = I − x xᵀ``). Its Itô form is
``dx = −κ₀(d − 1) x dt + √(2κ₀) P_x dB``.

For two tokens with ``c = ⟨x, y⟩`` and the gap ``u = 1 − c = |x − y|²/2``, Itô's formula gives

    dc = 2κ₀ (tr(P_x P_y) − (d − 1) c) dt + √(2κ₀) ⟨P_x y + P_y x, dB⟩,

with ``tr(P_x P_y) = d − 2 + c²`` and ``P_x y + P_y x = (1 − c)(x + y)``, ``|x + y|² = 2(2 − u)``. So

    du = −2κ₀ u (d − 3 + u) dt + 2 √(κ₀ (2 − u)) u dβ        (β a scalar Brownian motion),

and, by Itô's formula for the logarithm (the ``u``-dependent terms cancel exactly),

    d log u = −2κ₀ (d − 1) dt + 2 √(κ₀ (2 − u)) dβ.

The martingale part has a bounded integrand, so ``E[log u(t)] = log u(0) − 2κ₀(d − 1) t`` exactly, for
every starting gap: the tokens synchronise at the top Lyapunov rate ``2κ₀(d − 1)`` of the two-point
motion, while the mean gap ``E[u]`` itself decays more slowly (for ``d = 3`` its drift is
``−2κ₀ u²``).
"""

from __future__ import annotations

from attnflow._validate import finite_number, positive_int


def log_gap_rate(common_noise: float, d: int) -> float:
    """``−2κ₀(d − 1)``: the exact slope of ``E[log(1 − ⟨x_i, x_j⟩)]`` under common noise of strength κ₀."""
    kappa = finite_number("common_noise", common_noise)
    if kappa < 0:
        raise ValueError(f"common_noise must be >= 0, got {common_noise!r}")
    d = positive_int("d", d, minimum=2)
    return -2.0 * kappa * (d - 1)


__all__ = ["log_gap_rate"]
