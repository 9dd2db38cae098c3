"""Closed forms of the mean-field dynamics on the circle (d = 2): linear growth rates, the fastest mode
and a stability constant.

Conventions (derived in ``docs/meanfield.md``): ``ρ`` is a probability density in the angle ``θ``, the
perturbation of mode ``ℓ`` is ``ρ = 1/(2π) + ε cos(ℓθ + φ)``, and time is the time of the particle system
``ẋ_i = P_{x_i}(Σ_j A_ij x_j)`` (``A = softmax`` for SA, ``e^{β⟨x_i,x_j⟩}/n`` for USA).
"""

from __future__ import annotations

import numpy as np
from scipy.special import ive

from attnflow._validate import finite_number, one_of, positive_int

VARIANTS = ("SA", "USA")


def nonzero_beta(beta: float) -> float:
    """Return ``beta`` as a float, or raise if it is not a finite non-zero real.

    ``β = 0`` is excluded because the mean-field equations on the circle are written through
    ``(1/β)·∂_θ``; ``β < 0`` is the repulsive regime.
    """
    out = finite_number("beta", beta)
    if out == 0:
        raise ValueError("beta must be a finite non-zero real (β < 0 is the repulsive regime), got 0")
    return out


def growth_rate(ell: int | np.ndarray, beta: float, variant: str = "SA") -> np.ndarray:
    """The rate ``λ_ℓ`` at which mode ``ℓ`` of the uniform density grows: ``ε(t) = ε(0)·e^{λ_ℓ t}``.

    ``λ_ℓ = ℓ² I_ℓ(β)/β`` for USA and ``ℓ² I_ℓ(β)/(β I_0(β))`` for SA, with ``I_ℓ`` the modified Bessel
    function of the first kind.

    Args:
        ell: mode number(s) ``ℓ ≥ 1``.
        beta: inverse temperature ``β ≠ 0`` (for ``β < 0``, ``I_ℓ(β) = (−1)^ℓ I_ℓ(|β|)``: odd modes grow).
        variant: ``"SA"`` or ``"USA"``.

    Returns:
        The rates, an array shaped like ``ell`` (negative for decaying modes).

    Raises:
        ValueError: ``β = 0`` or not finite, an unknown variant, or a mode below 1.
    """
    beta = nonzero_beta(beta)
    one_of("variant", variant, VARIANTS)
    ell = np.asarray(ell)
    if ell.size and (not np.issubdtype(ell.dtype, np.integer) or ell.min() < 1):
        raise ValueError(f"ell must be integer modes ≥ 1, got {ell!r}")
    ell = ell.astype(np.float64)
    # ive(ℓ, β) = e^{-|β|} I_ℓ(β): the ratio for SA never overflows.
    if variant == "SA":
        return ell**2 * ive(ell, beta) / (beta * ive(0, beta))
    return ell**2 * ive(ell, beta) * np.exp(abs(beta)) / beta


def fastest_mode(beta: float, max_mode: int | None = None) -> int:
    """The mode ``ℓ*`` with the largest linear growth rate of the uniform density (the same for SA and USA).

    ``ℓ* = argmax_ℓ ℓ² I_ℓ(β)``; for large β it approaches ``√(2β)``.

    Args:
        beta: inverse temperature ``β ≠ 0``.
        max_mode: the largest mode considered; by default ``4√|β| + 10``, far above the maximiser.

    Returns:
        The maximiser over ``1 ≤ ℓ ≤ max_mode``.
    """
    beta = nonzero_beta(beta)
    if max_mode is None:
        max_mode = int(4 * np.sqrt(abs(beta))) + 10
    modes = np.arange(1, positive_int("max_mode", max_mode) + 1)
    return int(modes[np.argmax(growth_rate(modes, beta, "SA"))])


def dobrushin_rate(beta: float, variant: str = "SA", samples: int = 1 << 16) -> float:
    """A rate ``C`` with ``W₁(μ_t, ν_t) ≤ e^{C t} W₁(μ_0, ν_0)`` for any two solutions on the circle.

    The angular velocity is ``v_μ(θ) = ∫ g(θ−φ) dμ(φ)`` with ``g(u) = −sin u·e^{β cos u}`` (USA), or
    ``v_μ = (g*μ)/(k*μ)`` with ``k(u) = e^{β cos u}`` (SA). Transporting an optimal coupling of the initial
    laws along both flows gives ``C = L_θ + L_μ`` with ``L_θ`` the Lipschitz constant of ``v`` in ``θ`` and
    ``L_μ`` its Lipschitz constant in ``μ`` for ``W₁``: ``C = 2 max|g'|`` for USA and, using ``|g*μ| ≤ k*μ``
    and ``k*μ ≥ e^{−|β|}``, ``C = 2 e^{|β|}(max|g'| + max|k'|)`` for SA. Empirical measures of particles are
    solutions too, so this bounds the particle–PDE distance. The maxima are taken on a grid of ``samples``
    angles.

    Args:
        beta: inverse temperature, any finite real.
        variant: ``"SA"`` or ``"USA"``.
        samples: grid size for the maxima.

    Returns:
        The rate ``C``.
    """
    beta = finite_number("beta", beta)
    one_of("variant", variant, VARIANTS)
    u = np.linspace(-np.pi, np.pi, positive_int("samples", samples, minimum=16), endpoint=False)
    kernel = np.exp(beta * np.cos(u))
    lip_g = float(np.max(np.abs((beta * np.sin(u) ** 2 - np.cos(u)) * kernel)))
    if variant == "USA":
        return 2 * lip_g
    lip_k = float(np.max(np.abs(beta * np.sin(u) * kernel)))
    return 2 * float(np.exp(abs(beta))) * (lip_g + lip_k)
