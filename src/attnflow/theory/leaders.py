"""Hardmax attention with ``Q = K = V = I`` in Euclidean space: which leader each token ends on.

The field is ``ẋ_i = s_i − x_i`` with ``s_i`` the maximiser of ``⟨x_i, x_j⟩`` over the tokens (the hardmax
dynamics of :mod:`attnflow.experiments.hardmax`). A **leader** is a token that is its own maximiser,
``⟨x_i, x_i⟩ > ⟨x_i, x_j⟩`` for every ``j ≠ i``: it attends only to itself, so it never moves (Alcalde,
Fantuzzi & Zuazua, arXiv 2407.01602, call the points that determine the clustered equilibrium leaders).
Prediction from the start alone: follow each token's chain of maximisers ``i → s(i) → s(s(i)) → …``;
it ends on a leader (the scores ``⟨x_{s(i)}, x_j⟩`` strictly increase along the chain for a start in
general position), and that leader is where the token ends. The chain rule is attnflow's reading of
"leaders decide the clusters": the paper's own statement could not be read beyond its abstract.
"""

from __future__ import annotations

import numpy as np


def maximisers(x0: np.ndarray) -> np.ndarray:
    """``s(i) = argmax_j ⟨x_i, x_j⟩`` for each token of ``x0`` (shape ``(n, d)``)."""
    x0 = np.asarray(x0, dtype=float)
    if x0.ndim != 2 or x0.shape[0] < 1:
        raise ValueError(f"x0 must have shape (n, d) with n >= 1, got {x0.shape}")
    return np.argmax(x0 @ x0.T, axis=1)


def leaders(x0: np.ndarray) -> np.ndarray:
    """The indices of the tokens that are their own maximiser."""
    target = maximisers(x0)
    return np.flatnonzero(target == np.arange(len(target)))


def leader_of_each_token(x0: np.ndarray) -> np.ndarray:
    """The leader at the end of each token's chain of maximisers (a leader is its own)."""
    end = maximisers(x0)
    for _ in range(len(end)):
        following = end[end]
        if np.array_equal(following, end):
            return end
        end = following
    raise ValueError("a chain of maximisers did not end on a leader: x0 is not in general position")


__all__ = ["leader_of_each_token", "leaders", "maximisers"]
