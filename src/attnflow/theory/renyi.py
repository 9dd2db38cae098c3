"""Rényi centres of a causally ordered cloud: the parking picture of causal attention.

Under causal attention token ``k`` sees only tokens ``j ≤ k``, so the order of the tokens matters. Read
them in that order and keep a token when it is far from what came before it, at separation
``δ = 4 β^{−1/2}`` (Karagodin, Polyanskiy & Rigollet, arXiv 2411.04990, Figure 2), as cars park on a
line in Rényi's problem:

- a **Rényi centre** is a token at distance ≥ δ from every earlier Rényi centre (greedy, in token order);
- a **strong Rényi centre** is a token at distance ≥ δ from every earlier token.

A strong centre attends to earlier tokens with weights at most ``e^{−βδ²/2} = e^{−8}`` of its own, so it
barely moves; the other tokens gather around the centres. Distances are Euclidean (chords) on the
unit sphere. Plain NumPy on the start, nothing simulated.
"""

from __future__ import annotations

import numpy as np

from attnflow._validate import positive_number


def separation(beta: float) -> float:
    """The separation ``δ = 4/√β`` of the Rényi centres."""
    return 4.0 / np.sqrt(positive_number("beta", beta))


def renyi_centres(x: np.ndarray, delta: float, strong: bool = False) -> np.ndarray:
    """The indices of the (strong) Rényi centres of the tokens ``x`` (shape ``(n, d)``, in causal order).

    Args:
        x: the tokens, first token first.
        delta: the separation ``δ > 0``.
        strong: keep tokens at distance ≥ δ from every earlier token (strong centres) instead of from every
            earlier centre.

    Returns:
        Increasing indices; token 0 is always a centre.
    """
    delta = positive_number("delta", delta)
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"x must have shape (n, d) with n ≥ 1, got {x.shape}")
    kept: list[int] = []
    for k in range(x.shape[0]):
        earlier = x[:k] if strong else x[kept]
        if earlier.shape[0] == 0 or np.linalg.norm(earlier - x[k], axis=1).min() >= delta:
            kept.append(k)
    return np.asarray(kept, dtype=np.int64)
