"""The equiangular reduction under a normalisation scheme: two ODEs, for ``ρ(t)`` and ``r(t)``.

``n`` tokens with equal norms ``r`` and directions whose pairwise inner products all equal ``ρ``
(Q = K = V = I) stay so under every scheme of :mod:`attnflow.dynamics.normalization`. With the
attention weights ``w_s`` (a token on itself) and ``w_o`` (on another), ``Z = w_s + (n−1) w_o`` (SA) or
``n`` (USA), the attention output ``a_i = Σ_j A_ij θ_j`` has

    ⟨θ_i, a_i⟩ = (w_s + (n−1) ρ w_o) / Z,      ⟨θ_j, a_i⟩ = (w_s ρ + w_o (1 + (n−2) ρ)) / Z   (j ≠ i),
    |a_i|² = (w_s² + 2 (n−1) ρ w_s w_o + (n−1) w_o² (1 + (n−2) ρ)) / Z²,

and, with the scheme's speed factor ``v`` (``s``, ``s/r``, ``s/(r|a|)``, ``s/|a|`` for post, pre, peri,
nGPT) and its norm rate ``ṙ`` (0, ``s⟨θ,a⟩``, ``s⟨θ,a⟩/|a|``, 0):

    ρ̇ = 2 v (⟨θ_j, a_i⟩ − ρ ⟨θ_i, a_i⟩) = 2 v w_o (1 − ρ)(1 + (n−1) ρ) / Z.

Near ``ρ = 1`` the bracket is ``2 (1 − ρ)``, so ``1 − ρ ∝ e^{−2 s t}`` for post-LN, and, since ``ṙ → s``
(``r ≈ s t``), ``1 − ρ ∝ t^{−2}`` for pre-LN and peri-LN. This module is NumPy/SciPy only and shares no
code with the particle field.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from attnflow._validate import finite_number, one_of, positive_int, positive_number

SCHEMES = ("post", "pre", "peri", "ngpt")
VARIANTS = ("SA", "USA")


def rates(
    rho: float, r: float, n: int, beta: float, scheme: str, residual_scale: float = 1.0, variant: str = "SA"
) -> tuple[float, float]:
    """``(ρ̇, ṙ)`` of an equiangular cloud with common inner product ``ρ`` and common norm ``r``."""
    one_of("normalization", scheme, SCHEMES)
    if one_of("variant", variant, VARIANTS) == "SA":
        # Weights relative to the self-weight e^β: SA is invariant to the shift, and nothing overflows.
        w_self, w_other = 1.0, float(np.exp(-beta * (1 - rho)))
        z = w_self + (n - 1) * w_other
    else:
        w_self, w_other, z = float(np.exp(beta)), float(np.exp(beta * rho)), float(n)
    own = (w_self + (n - 1) * rho * w_other) / z
    size = np.sqrt(
        w_self**2 + 2 * (n - 1) * rho * w_self * w_other + (n - 1) * w_other**2 * (1 + (n - 2) * rho)
    )
    size /= z
    bracket = 2 * w_other * (1 - rho) * (1 + (n - 1) * rho) / z
    s = residual_scale
    speed, growth = {
        "post": (s, 0.0),
        "pre": (s / r, s * own),
        "peri": (s / (r * size), s * own / size),
        "ngpt": (s / size, 0.0),
    }[scheme]
    return speed * bracket, growth


def equiangular(
    times: Sequence[float] | np.ndarray,
    n: int,
    beta: float,
    scheme: str,
    residual_scale: float = 1.0,
    variant: str = "SA",
    rho0: float = 0.0,
    r0: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """``ρ(t)`` and ``r(t)`` at ``times`` from ``(rho0, r0)``, by scipy's DOP853 (rtol 1e-11).

    Args:
        times: increasing times ≥ 0.
        n: the number of tokens, ≥ 2.
        beta: the inverse temperature.
        scheme: ``"post"``, ``"pre"``, ``"peri"`` or ``"ngpt"``.
        residual_scale: the residual strength ``s > 0``.
        variant: ``"SA"`` or ``"USA"``.
        rho0: the initial inner product (0 for an orthogonal start).
        r0: the initial norm.
    """
    from scipy.integrate import solve_ivp

    n = positive_int("n", n, minimum=2)
    beta = finite_number("beta", beta)
    residual_scale = positive_number("residual_scale", residual_scale)
    t = np.asarray(times, dtype=np.float64)
    solution = solve_ivp(
        lambda _, y: rates(y[0], y[1], n, beta, scheme, residual_scale, variant),
        (0.0, float(t[-1])),
        [rho0, positive_number("r0", r0)],
        t_eval=t,
        method="DOP853",
        rtol=1e-11,
        atol=1e-13,
    )
    return solution.y[0], solution.y[1]


def decay_law(
    scheme: str, n: int, beta: float, residual_scale: float = 1.0, variant: str = "SA"
) -> tuple[str, float]:
    """The asymptotic law of ``u = 1 − ρ`` near consensus: ``("exponential", k)`` for ``u ∝ e^{−k t}``
    or ``("power", p)`` for ``u ∝ t^{−p}``, read off the reduced ODE at ``ρ → 1``.

    At ``ρ = 1 − h`` (``h`` small), ``u̇ = −k u`` at ``r = 1``. A scheme whose norm stays put (``ṙ = 0``:
    post, nGPT) decays exponentially at ``k``; one whose speed carries ``1/r`` while ``ṙ → g > 0`` (pre,
    peri) has ``u̇ = −k u / r`` with ``r ≈ g t``, so ``u ∝ t^{−k/g}``. Near consensus every token's
    attention logits coincide whatever Q and K are, so attention is uniform and the same law holds to
    first order for random Q, K with V = I.
    """
    gap = 1e-9
    drho, growth = rates(1 - gap, 1.0, n, beta, scheme, residual_scale, variant)
    rate = drho / gap
    if growth == 0:
        return "exponential", float(rate)
    return "power", float(rate / growth)


__all__ = ["SCHEMES", "decay_law", "equiangular", "rates"]
