"""The energy dissipation identity of self-attention on the sphere (Q = K = V = I).

With ``E_β(x) = (1/2βn²) Σ_ij e^{β⟨x_i,x_j⟩}`` the Euclidean gradient in ``x_i`` is
``∇_i E = (1/n²) Σ_j e^{β⟨x_i,x_j⟩} x_j`` (the pairs (i, j) and (j, i) both contribute, cancelling the
1/2), and its tangent part is ``g_i = P_i ∇_i E`` with ``P_i = I − x_i x_iᵀ``. The dynamics are
``ẋ_i = P_i (1/Z_i) Σ_j e^{β⟨x_i,x_j⟩} x_j``, i.e. ``ẋ_i = (n²/Z_i) g_i``, with
``Z_i = Σ_j e^{β⟨x_i,x_j⟩}`` (SA) or ``Z_i = n`` (USA). Hence
``dE/dt = Σ_i ⟨∇_i E, ẋ_i⟩ = Σ_i (n²/Z_i) |g_i|²`` for SA and ``n Σ_i |g_i|²`` for USA: the energy
rises exactly at this rate. Computed here in float64 NumPy from the states alone, sharing nothing with
the simulator or :func:`attnflow.measure.energy`.
"""

from __future__ import annotations

import numpy as np

from attnflow._validate import finite_number, one_of

VARIANTS = ("SA", "USA")


def energy_rate(x: np.ndarray, beta: float, variant: str = "SA") -> np.ndarray:
    """``dE_β/dt`` at the states ``x`` (shape ``(..., n, d)``, unit rows) by the dissipation identity.

    Returns:
        An array of shape ``x.shape[:-2]``: ``Σ_i (n²/Z_i)|P_i∇_iE|²`` (SA) or ``n Σ_i |P_i∇_iE|²`` (USA).
    """
    beta = finite_number("beta", beta)
    variant = one_of("variant", variant, VARIANTS)
    x = np.asarray(x, dtype=np.float64)
    if x.ndim < 2:
        raise ValueError(f"x must have shape (..., n, d), got {x.shape}")
    n = x.shape[-2]
    weights = np.exp(beta * (x @ np.swapaxes(x, -1, -2)))
    gradient = weights @ x / n**2
    tangent = gradient - np.sum(gradient * x, axis=-1, keepdims=True) * x
    squared = np.sum(tangent**2, axis=-1)
    factor = n**2 / weights.sum(axis=-1) if variant == "SA" else np.full(squared.shape, float(n))
    return np.sum(factor * squared, axis=-1)
