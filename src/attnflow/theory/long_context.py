"""One attention layer on an equiangular cloud when the inverse temperature grows like ``γ log n``.

The model (Chen, Lin, Polyanskiy & Rigollet, arXiv 2510.05554, simplex case): unit tokens ``y_1..y_n``
with ``⟨y_i, y_j⟩ = ρ`` for ``i ≠ j`` pass through one layer ``ATT(y_i) = Σ_j A_ij y_j``,
``A_ij ∝ exp(β⟨y_i, y_j⟩)``, Q = K = V = I, no residual (α = 0), ``β = γ log n``. By symmetry every
token keeps a self weight ``p`` and spreads ``1 − p`` evenly over the others, so the outputs are again
equiangular; this module gives their cosine in closed form (float64, no simulation), for finite ``n``
and in the limit ``n → ∞``:

- ``p = 1 / (1 + (n − 1) n^{−γ(1−ρ)})``: ``p → 0`` when ``γ < 1/(1−ρ)``, ``p → 1`` above, and at the
  critical ``γ = 1/(1−ρ)`` exactly ``p = n / (2n − 1) → 1/2``;
- the output cosine tends to ``ρ / (ρ + p_∞²(1 − ρ))``: 1 (collapse) below, ``4ρ/(1 + 3ρ)`` at the critical
  scaling and ``ρ`` (the layer is the identity on angles) above.

The finite-``n`` distance to the limit shrinks like ``n^{−2(1−γ(1−ρ))}`` below the threshold (through
``p²``), like ``n^{−(γ(1−ρ)−1)}`` above (through ``1 − p``) and like ``1/n`` at it.
"""

from __future__ import annotations

import numpy as np

from attnflow._validate import finite_number


def _check(gamma: float, rho: float) -> tuple[float, float]:
    gamma = finite_number("gamma", gamma)
    rho = finite_number("rho", rho)
    if gamma <= 0:
        raise ValueError(f"gamma must be > 0, got {gamma}")
    if not 0 < rho < 1:
        raise ValueError(f"rho must be in (0, 1), got {rho}")
    return gamma, rho


def critical_gamma(rho: float) -> float:
    """The critical scaling ``γ_c = 1/(1 − ρ)`` of an equiangular cloud at level ``ρ``."""
    _, rho = _check(1.0, rho)
    return 1.0 / (1.0 - rho)


def self_weight(n: int | np.ndarray, gamma: float, rho: float) -> np.ndarray:
    """The attention a token pays to itself, ``p = 1/(1 + (n−1) n^{−γ(1−ρ)})``, for ``β = γ log n``."""
    gamma, rho = _check(gamma, rho)
    n = np.asarray(n, dtype=np.float64)
    if (n < 2).any():
        raise ValueError("n must be at least 2")
    # (n−1) e^{βρ} / e^{β} in the log domain, so that large n and γ cannot overflow.
    log_ratio = np.log(n - 1) - gamma * (1 - rho) * np.log(n)
    return 1.0 / (1.0 + np.exp(log_ratio))


def output_cosine(n: int | np.ndarray, gamma: float, rho: float) -> np.ndarray:
    """The exact cosine between two outputs of the layer, for ``n`` tokens (closed form, float64).

    With ``m_i`` the mean of the other tokens, ``o_i = p y_i + (1 − p) m_i`` and the inner products
    ``⟨y_i, m_i⟩ = ρ``, ``|m_i|² = ⟨y_i, m_k⟩ = (1 + (n−2)ρ)/(n−1)`` and
    ``⟨m_i, m_k⟩ = (n + n(n−1)ρ − 2(1 + (n−1)ρ) + ρ)/(n−1)²`` (``i ≠ k``).
    """
    gamma, rho = _check(gamma, rho)
    n = np.asarray(n, dtype=np.float64)
    p = self_weight(n, gamma, rho)
    q = 1 - p
    self_mean = (1 + (n - 2) * rho) / (n - 1)
    mean_mean = (n + n * (n - 1) * rho - 2 * (1 + (n - 1) * rho) + rho) / (n - 1) ** 2
    norm2 = p**2 + 2 * p * q * rho + q**2 * self_mean
    cross = p**2 * rho + 2 * p * q * self_mean + q**2 * mean_mean
    return cross / norm2


def limit_cosine(gamma: float, rho: float) -> float:
    """The ``n → ∞`` output cosine: 1 below ``γ_c``, ``4ρ/(1+3ρ)`` at it, ``ρ`` above."""
    gamma, rho = _check(gamma, rho)
    scaled = gamma * (1 - rho)
    if np.isclose(scaled, 1.0, rtol=1e-12, atol=0.0):
        return 4 * rho / (1 + 3 * rho)
    return 1.0 if scaled < 1 else rho


def correction_exponent(gamma: float, rho: float) -> float:
    """``b`` in ``|cos_n − cos_∞| ∝ n^b``.

    ``−2(1 − γ(1−ρ))`` below the threshold, ``−(γ(1−ρ) − 1)`` above, ``−1`` at ``γ_c``.
    """
    gamma, rho = _check(gamma, rho)
    scaled = gamma * (1 - rho)
    if np.isclose(scaled, 1.0, rtol=1e-12, atol=0.0):
        return -1.0
    return -2 * (1 - scaled) if scaled < 1 else -(scaled - 1)
