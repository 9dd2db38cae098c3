"""Two tokens under random value matrices: when the antipodal pair attracts.

Model (attnflow's reading of a deep Transformer whose value matrices are random, in the diffusion scaling
of Fedorov, Sander, Elie, Marion & Laurière, arXiv 2601.21942; the paper's exact normalisation could not
be read, see ``docs/dynamics.md``). Two tokens ``x, y`` on ``S^{d−1}``, one layer of step ``h``:

    x ← N(x + √h G m_x),   y ← N(y + √h G m_y),   N(z) = z/|z|,

with one Gaussian matrix ``G`` per layer shared by both tokens (entries N(0, 1/d), the standard draw),
softmax attention ``m_x = p x + q y``, ``m_y = p y + q x``, ``p = e^β/(e^β + e^{βc})``, ``q = 1 − p``,
``c = ⟨x, y⟩``. The law of ``G`` is invariant under rotations, so ``c`` alone is a Markov chain, and as
``h → 0`` it becomes the diffusion ``dc = μ(c) dt + σ(c) dB`` with (second-order expansion of one
step; ``E⟨a, Gb⟩⟨a', Gb'⟩ = ⟨a, a'⟩⟨b, b'⟩/d``, ``M² = |m_x|² = p² + q² + 2pqc``,
``N = ⟨m_x, m_y⟩ = 2pq + (p² + q²)c``)

    μ(c) = N (1 − 2/d + c²/d) − c M² (1 − 1/d) = (1 − c²)(2pq (1 − 2/d) − (p² + q²) c/d),
    σ²(c) = (2/d)(p² + q²)(1 − c²)².

Both ends are fixed points: ``c = 1`` (one cluster) and ``c = −1`` (an antipodal pair: ``G`` is linear,
so ``y = −x`` stays so). Near ``c = −1``, with ``w = 1 + c``, ``μ ≈ a w`` and ``σ² ≈ b w²``,
``τ = tanh β``:

    a = (1 − 1/d)(1 − τ²) + 2τ²/d,     b = 4(1 + τ²)/d,

so ``log w`` drifts at the exponent

    λ_anti(β, d) = a − b/2 = ((d − 1) sech²β − 2) / d.

``λ_anti < 0`` makes the antipodal pair attracting: from any start, ``c → −1`` with positive probability
(a one-dimensional diffusion reaches a boundary whose ``log``-drift is negative with positive
probability, and from near it with probability close to 1). The transition is ``cosh²β = (d − 1)/2``:
every ``β > 0`` for ``d ≤ 3``, ``β > arccosh √((d − 1)/2)`` above. At the other end, with ``v = 1 − c``,
``log v`` drifts at ``λ_collapse = (1 − d)/d < 0``: the single cluster attracts too, so both ends
compete, and the probability of the antipodal end from ``c₀`` is the scale-function ratio

    P_anti(c₀) = ∫_{y₀}^{∞} e^{−2(d−2)R(y)} sech y dy / ∫_{−∞}^{∞} e^{−2(d−2)R(y)} sech y dy,

``c = tanh y``, ``R(y) = ∫_0^y pq/(p² + q²) dy'`` (from ``2μ/σ² dc = (2(d − 2) pq/(p² + q²) − tanh y) dy``);
the integral at ``−∞`` converges exactly when ``λ_anti < 0``, else ``P_anti = 0``.
With deterministic values ``V = I`` (no noise) the pair obeys ``θ̇ = −2 sin θ/(1 + e^{β(1 − cos θ)})``
and the antipodal point repels at ``λ = 4/(1 + e^{2β}) > 0`` for every ``(β, d)``: no transition.
"""

from __future__ import annotations

import math

import numpy as np

from attnflow._validate import finite_number, positive_int


def _check(beta: float, d: int) -> tuple[float, int]:
    return finite_number("beta", beta), positive_int("d", d, minimum=2)


def pair_coefficients(c: float, beta: float, d: int) -> tuple[float, float]:
    """``(μ(c), σ²(c))``: drift and squared diffusion of ``c = ⟨x, y⟩`` in the limit ``h → 0``."""
    beta, d = _check(beta, d)
    c = finite_number("c", c)
    if not -1.0 <= c <= 1.0:
        raise ValueError(f"c must be an inner product in [-1, 1], got {c!r}")
    p = 1.0 / (1.0 + math.exp(beta * (c - 1.0)))
    q = 1.0 - p
    m2 = p * p + q * q + 2 * p * q * c
    n = 2 * p * q + (p * p + q * q) * c
    drift = n * (1 - 2 / d + c * c / d) - c * m2 * (1 - 1 / d)
    return drift, 2.0 / d * (p * p + q * q) * (1 - c * c) ** 2


def antipodal_probability(
    c0: float, beta: float, d: int, cutoff: float = 40.0, points: int = 400_001
) -> float:
    """``P_anti(c₀)``: the probability that the pair started at ``⟨x, y⟩ = c₀`` ends antipodal (``h → 0``).

    The scale-function ratio of the module doc in the variable ``y = atanh c``, by the trapezoidal rule on
    ``|y| ≤ cutoff`` (``points`` nodes) with the tails in closed form (beyond the cutoff ``pq/(p² + q²)``
    is constant to ``e^{−2·cutoff}`` and ``sech y = 2e^{−|y|}`` to the same order)."""
    beta, d = _check(beta, d)
    c0 = finite_number("c0", c0)
    if not -1.0 < c0 < 1.0:
        raise ValueError(f"c0 must lie strictly between -1 and 1, got {c0!r}")
    if antipodal_exponent(beta, d) >= 0:
        return 0.0
    y = np.linspace(-cutoff, cutoff, points)
    c = np.tanh(y)
    p = 1.0 / (1.0 + np.exp(beta * (c - 1.0)))
    q = 1.0 - p
    ratio = p * q / (p * p + q * q)
    steps = np.diff(y)
    big_r = np.concatenate([[0.0], np.cumsum(steps * (ratio[1:] + ratio[:-1]) / 2)])
    big_r -= np.interp(0.0, y, big_r)
    k = 2 * (d - 2)
    log_density = -k * big_r - np.log(np.cosh(y))
    shift = log_density.max()
    density = np.exp(log_density - shift)
    pieces = steps * (density[1:] + density[:-1]) / 2
    # Tails: density ≈ 2 e^{-k R(±Y) ∓ k r(±Y)(y ∓ Y) - |y|}, integrated from the cutoff outwards.
    left_rate = 1.0 - k * ratio[0]  # > 0 exactly when λ_anti < 0
    right_rate = 1.0 + k * ratio[-1]
    left_tail = density[0] / left_rate
    right_tail = density[-1] / right_rate
    total = left_tail + pieces.sum() + right_tail
    above = np.concatenate([np.cumsum(pieces[::-1])[::-1], [0.0]]) + right_tail
    return float(np.interp(np.arctanh(c0), y, above) / total)


def antipodal_exponent(beta: float, d: int) -> float:
    """``λ_anti = ((d − 1) sech²β − 2)/d``: the drift of ``log(1 + ⟨x, y⟩)`` next to the antipodal pair.

    Negative: the antipodal pair attracts with positive probability."""
    beta, d = _check(beta, d)
    return ((d - 1) / math.cosh(beta) ** 2 - 2) / d


def collapse_exponent(d: int) -> float:
    """``λ_collapse = (1 − d)/d``: the drift of ``log(1 − ⟨x, y⟩)`` next to the single cluster."""
    return (1 - positive_int("d", d, minimum=2)) / d


def antipodal_threshold(d: int) -> float:
    """The ``β`` above which the antipodal pair attracts: ``arccosh √((d − 1)/2)`` (0 for ``d ≤ 3``)."""
    d = positive_int("d", d, minimum=2)
    return math.acosh(math.sqrt((d - 1) / 2)) if d > 3 else 0.0


def deterministic_antipodal_exponent(beta: float) -> float:
    """``4/(1 + e^{2β})``: the same exponent with ``V = I`` and no noise (always > 0: repelling)."""
    beta = finite_number("beta", beta)
    return 4.0 / (1.0 + math.exp(2.0 * beta))


__all__ = [
    "antipodal_exponent",
    "antipodal_probability",
    "antipodal_threshold",
    "collapse_exponent",
    "deterministic_antipodal_exponent",
    "pair_coefficients",
]
