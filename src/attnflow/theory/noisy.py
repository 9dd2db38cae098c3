"""Noisy USA on the sphere ``S^{d−1}``: the linear stability of the uniform state and the tricritical β.

Convention (that of :func:`attnflow.integrate.stochastic.integrate_sde`): every token follows

    dx_i = P_{x_i}( (1/n) Σ_j e^{β⟨x_i,x_j⟩} x_j ) dt + √(2κ) P_{x_i} ∘ dW_i,

so the noise alone has generator ``κ Δ_{S^{d−1}}``. The mean-field density solves
``∂_t ρ = κ Δρ − div(ρ ∇ (K * ρ))`` with ``K(x, y) = e^{β⟨x,y⟩}/β``. By the Funk–Hecke formula a
degree-ℓ spherical harmonic ``Y_ℓ`` satisfies
``∫ e^{β⟨x,y⟩} Y_ℓ(y) dσ(y) = Γ(d/2) (2/β)^{d/2−1} I_{ℓ+d/2−1}(β) Y_ℓ(x)`` (``σ`` the uniform
probability), and ``Δ Y_ℓ = −ℓ(ℓ+d−2) Y_ℓ``, so the perturbation ``ε Y_ℓ`` of the uniform state grows at

    λ_ℓ = ℓ(ℓ+d−2) (c_ℓ(β) − κ),   c_ℓ(β) = Γ(d/2) 2^{d/2−1} I_{ℓ+d/2−1}(β) / β^{d/2}.

The first mode loses stability first at ``κ_#(β) = c_1(β)``. Mun & Rosenzweig (arXiv 2606.05140,
abstract) write the threshold as a coupling ``K_#^{(d)}(β) = β^{d/2} / (2^{d/2} Γ(d/2) I_{d/2}(β))``
with noise of generator ``Δ/2``; rescaling time turns their ``K`` into ``κ = 1/(2K)``, and indeed
``c_1 = 1/(2 K_#)``. They prove the transition continuous for ``β ≤ β_*`` and discontinuous above, with
``I_{d/2+1}(β_*) / I_{d/2}(β_*) = 1/d`` (:func:`tricritical_beta`).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import gammaln, ive

from attnflow._validate import finite_number, positive_int, positive_number


def mode_coefficient(ell: int, beta: float, d: int) -> float:
    """``c_ℓ(β) = Γ(d/2) 2^{d/2−1} I_{ℓ+d/2−1}(β) / β^{d/2}`` (its limit ``1/d`` at ``ℓ = 1``, ``β → 0``)."""
    ell = positive_int("ell", ell)
    d = positive_int("d", d, minimum=2)
    beta = positive_number("beta", beta)
    nu = ell + d / 2 - 1
    # ive(ν, β) = e^{−β} I_ν(β); logs keep large β and large d finite.
    log_c = (
        gammaln(d / 2) + (d / 2 - 1) * math.log(2) + math.log(ive(nu, beta)) + beta - (d / 2) * math.log(beta)
    )
    return float(np.exp(log_c))


def critical_noise(beta: float, d: int) -> float:
    """``κ_#(β) = c_1(β)``: the uniform state is linearly stable for ``κ > κ_#`` and unstable below."""
    return mode_coefficient(1, beta, d)


def growth_rate(ell: int, beta: float, kappa: float, d: int) -> float:
    """``λ_ℓ = ℓ(ℓ+d−2)(c_ℓ(β) − κ)``, the mean-field rate of mode ``ℓ`` at the uniform state."""
    kappa = finite_number("kappa", kappa)
    return ell * (ell + d - 2) * (mode_coefficient(ell, beta, d) - kappa)


def tricritical_beta(d: int) -> float:
    """The unique ``β_* > 0`` with ``I_{d/2+1}(β_*) / I_{d/2}(β_*) = 1/d`` (Brent's method, xtol 1e-13).

    The ratio increases from 0 at ``β = 0`` towards 1 (``1 − (d+1)/(2β) + O(β^{−2})``), so the root is
    bracketed by ``(0, 4d²)``, where the ratio already exceeds ``1/d``.
    """
    from scipy.optimize import brentq

    d = positive_int("d", d, minimum=2)
    return float(brentq(lambda b: ive(d / 2 + 1, b) / ive(d / 2, b) - 1 / d, 1e-9, 4.0 * d * d, xtol=1e-13))


__all__ = ["critical_noise", "growth_rate", "mode_coefficient", "tricritical_beta"]
