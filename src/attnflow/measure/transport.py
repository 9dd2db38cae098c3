"""Distance between two token clouds: the Wasserstein distance of their empirical measures (POT)."""

from __future__ import annotations

import numpy as np
import torch

from attnflow._validate import one_of, positive_int, positive_number

# Above this many cost entries the exact network simplex becomes slow; the error says to use "sliced".
_MAX_EXACT_ENTRIES = 25_000_000


def _cloud(name: str, value: torch.Tensor | np.ndarray) -> np.ndarray:
    array = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
    array = array.astype(np.float64)
    if array.ndim != 2 or array.shape[0] == 0:
        raise ValueError(f"{name} must be a cloud of shape (n, d) with n ≥ 1, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return array


def cloud_distance(
    x: torch.Tensor | np.ndarray,
    y: torch.Tensor | np.ndarray,
    p: float = 2.0,
    method: str = "exact",
    n_projections: int = 256,
    seed: int = 0,
) -> float:
    """The Wasserstein-``p`` distance between the uniform empirical measures of two clouds.

    ``W_p(μ, ν) = (min_π Σ_ij π_ij |x_i − y_j|^p)^{1/p}`` over couplings ``π`` of ``μ = (1/n) Σ δ_{x_i}``
    and ``ν = (1/m) Σ δ_{y_j}``. ``"exact"`` solves the transport linear programme with POT's network
    simplex (``ot.emd2``), exact up to float64 rounding; ``"sliced"`` is POT's sliced Wasserstein distance
    (random 1-D projections, an approximation and a lower bound) for clouds too large for the exact solver.

    Args:
        x: the first cloud, shape ``(n, d)`` (tensor or array).
        y: the second cloud, shape ``(m, d)``.
        p: the order, ≥ 1.
        method: ``"exact"`` or ``"sliced"``.
        n_projections: directions for ``"sliced"``.
        seed: random seed of the projections for ``"sliced"``.

    Returns:
        The distance, a float ≥ 0.

    Raises:
        ValueError: the clouds differ in dimension or hold non-finite values, ``p < 1``, an unknown method,
            or a problem too large for ``"exact"``.
    """
    import ot  # POT takes seconds to import; only this function needs it

    a, b = _cloud("x", x), _cloud("y", y)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"x and y must have the same dimension d, got {a.shape[1]} and {b.shape[1]}")
    p = positive_number("p", p)
    if p < 1:
        raise ValueError(f"p must be ≥ 1 (W_p is a metric only then), got {p!r}")
    one_of("method", method, ("exact", "sliced"))
    if method == "sliced":
        return float(
            ot.sliced_wasserstein_distance(
                a, b, n_projections=positive_int("n_projections", n_projections), p=p, seed=seed
            )
        )
    if a.shape[0] * b.shape[0] > _MAX_EXACT_ENTRIES:
        raise ValueError(
            f"clouds of {a.shape[0]} and {b.shape[0]} points are too large for method='exact' "
            f"(more than {_MAX_EXACT_ENTRIES} cost entries); use method='sliced'"
        )
    cost = ot.dist(a, b, metric="euclidean") ** p
    weights_a = np.full(a.shape[0], 1.0 / a.shape[0])
    weights_b = np.full(b.shape[0], 1.0 / b.shape[0])
    total = ot.emd2(weights_a, weights_b, cost, numItermax=10_000_000)
    return float(max(total, 0.0) ** (1.0 / p))
