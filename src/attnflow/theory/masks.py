"""Pure masked attention near consensus: the collapse rate of a sliding-window mask.

Layers ``X ← A(X) X`` of softmax attention with ``V = I`` and no normalisation keep every token in
the convex hull of the others it sees, and the cloud collapses to one point (rank 1) when the mask
graph is connected. Close to that point the scores ``β⟨x_i, x_j⟩`` of a row differ by
``O(β |x| spread)``, so ``A(X)`` tends to the mask's *uniform averaging matrix* ``W``: row ``i``
averages the ``|N(i)|`` tokens its window lets it see. The distance to rank 1 then shrinks each layer by
``W``'s second-largest eigenvalue modulus ``λ₂(W)`` — the per-layer collapse factor, whatever β is.
For a symmetric window ``W = D⁻¹B`` with ``B`` the 0/1 band and ``D`` its row sums, similar to the
symmetric ``D^{−1/2} B D^{−1/2}``: its eigenvalues are real. A narrow window mixes slowly: the
spectral gap ``1 − λ₂`` is about ``w(w+1)π² / (6n²)`` for ``w ≪ n`` (the interior moving average's
symbol ``1 − θ² w(w+1)/6`` at the lowest frequency ``θ = π/n``), so narrowing the window slows the collapse.

Everything here is float64 NumPy on the explicit ``n × n`` band; nothing imports the simulator.
"""

from __future__ import annotations

import numpy as np


def band_averaging_matrix(n: int, window: int) -> np.ndarray:
    """The ``n × n`` row-stochastic matrix averaging each token's window ``|i − j| ≤ window`` uniformly."""
    if n < 2 or window < 1:
        raise ValueError(f"need n >= 2 tokens and a window >= 1, got n={n}, window={window}")
    i, j = np.indices((n, n))
    band = (np.abs(i - j) <= window).astype(np.float64)
    return band / band.sum(axis=1, keepdims=True)


def collapse_factor(n: int, window: int) -> float:
    """``λ₂(W)``: the per-layer factor by which the distance to rank 1 shrinks near consensus."""
    i, j = np.indices((n, n))
    band = (np.abs(i - j) <= window).astype(np.float64)
    scale = 1 / np.sqrt(band.sum(axis=1))
    eigenvalues = np.linalg.eigvalsh(scale[:, None] * band * scale[None, :])
    # The largest eigenvalue is 1 (the consensus direction); the next in modulus sets the rate.
    return float(np.sort(np.abs(eigenvalues))[-2])


def collapse_rate(n: int, window: int) -> float:
    """``log λ₂(W)`` (< 0): the predicted slope of log(distance to rank 1) per layer."""
    return float(np.log(collapse_factor(n, window)))


def small_window_gap(n: int, window: int) -> float:
    """The approximation ``1 − λ₂ ≈ w(w+1)π² / (6n²)`` for ``w ≪ n`` (boundaries ignored)."""
    return window * (window + 1) * np.pi**2 / (6 * n**2)


def averaging_slope(start: np.ndarray, window: int, first: int, last: int) -> float:
    """The fitted slope of log‖X_k − 1x̄ᵀ‖ over layers ``first..last`` of the *linear* model
    ``X_{k+1} = W X_k`` from ``start``: the finite-range bias of that fit (subdominant eigenmodes not yet
    gone), which attention layers share as they tend to the same ``W``."""
    weights = band_averaging_matrix(start.shape[0], window)
    spread = np.array(start, dtype=np.float64)
    log_scale, logs = 0.0, []
    for layer in range(last + 1):
        spread -= spread.mean(axis=0)
        size = np.linalg.norm(spread)
        if layer >= first:
            logs.append(log_scale + np.log(size))
        # W fixes constants (W1 = 1), so it may act on the deviations alone; dividing them by their
        # size keeps them from underflowing, and the sizes are kept in log_scale.
        spread = weights @ (spread / size)
        log_scale += np.log(size)
    return float(np.polyfit(np.arange(first, last + 1), logs, 1)[0])
