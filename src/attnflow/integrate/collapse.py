"""Merge-aware integration: long runs across metastable plateaus without ``e^{β}/dt`` steps.

Once the tokens of a cluster lie within ``merge_tol`` of one another they are replaced by one
representative of their total mass (:func:`attnflow.dynamics.weighted.weighted_velocity`), at the
mass-weighted mean of the merged points. The intra-cluster contraction modes (rate ~1) then vanish
from the system, so the adaptive Dormand–Prince scheme is no longer held to steps of order one by
its stability region and takes steps as long as the slow inter-cluster motion allows — on a plateau
of length ~e^{β} a handful of steps instead of e^{β}/dt — and each step costs k ≤ n particles.

Two other stiff modes are kept out of the step-size control: the field is evaluated at the radial
projection of each stage (off the sphere the raw field pulls back at rate ~2; on it the two agree), and
while two representatives are still contracting towards each other (:data:`BOUND_WEIGHT`) steps are
capped at :data:`BOUND_STEP` so that the pair collapses instead of stalling at the edge of stability.

Each merge moves a member by at most the cluster's diameter (< ``merge_tol`` per merged pair, times
the chain length of the merged group). The result is an ordinary :class:`Trajectory` of all ``n``
tokens (each member at its representative's position) whose ``params["merges"]`` lists every merge:
its time and the token indices of each cluster that took part. The run is on the CPU (the merge
search uses a SciPy k-d tree), one cloud at a time, softmax attention without a causal mask.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from attnflow._validate import on_sphere, positive_int, positive_number
from attnflow.dynamics.attention import SelfAttention
from attnflow.dynamics.weighted import check_weighted, weighted_velocity
from attnflow.errors import BlowUpError, StepLimitError
from attnflow.integrate.solvers import _dopri5, small_problem_threads, trajectories
from attnflow.trajectory import Trajectory

#: Two representatives closer than the distance r at which their mutual attention weight
#: e^{β(⟨a,b⟩−1)} = e^{−βr²/2} equals this are still contracting towards each other at a rate ~1 (V = I).
BOUND_WEIGHT = 1e-3
#: While such a pair exists, steps are capped here: dopri5's error control alone settles such a mode at
#: the edge of the stability region (h ≈ 3.3 at rate 1), where it neither grows nor decays, so the pair
#: would never reach ``merge_tol``; at h = 1 it decays by ~e^{−1} a step and merges.
BOUND_STEP = 1.0


class _Clusters:
    """Representatives, their masses and the owner of every token, merged as they collapse."""

    def __init__(self, x0: torch.Tensor) -> None:
        self.y = x0.clone()
        self.masses = torch.ones(x0.shape[0], dtype=x0.dtype)
        self.owner = torch.arange(x0.shape[0])

    def nearest_distance(self) -> float:
        """The smallest distance between two representatives (``inf`` for one)."""
        if self.y.shape[0] < 2:
            return math.inf
        points = self.y.double().numpy()
        return float(cKDTree(points).query(points, k=2)[0][:, 1].min())

    def merge_within(self, tol: float) -> list[list[list[int]]]:
        """Merge every group of representatives linked by distances < ``tol``; the merged groups' tokens."""
        k = self.y.shape[0]
        if k < 2:
            return []
        pairs = cKDTree(self.y.double().numpy()).query_pairs(tol, output_type="ndarray")
        if len(pairs) == 0:
            return []
        graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(k, k))
        count, label = connected_components(graph, directed=False)
        label_t = torch.as_tensor(label)
        masses = torch.zeros(count, dtype=self.masses.dtype).index_add_(0, label_t, self.masses)
        y = torch.zeros(count, self.y.shape[1], dtype=self.y.dtype)
        y.index_add_(0, label_t, self.masses.unsqueeze(1) * self.y)
        y = y / masses.unsqueeze(1)
        y = y / y.norm(dim=-1, keepdim=True)
        sizes = np.bincount(label, minlength=count)
        merged_tokens = []
        token_label = label[self.owner.numpy()]
        for group in np.flatnonzero(sizes > 1):
            members = np.flatnonzero(label == group)
            merged_tokens.append(
                [np.flatnonzero(self.owner.numpy() == rep).tolist() for rep in members.tolist()]
            )
        self.y, self.masses, self.owner = y, masses, torch.as_tensor(token_label)
        return merged_tokens

    def tokens(self) -> torch.Tensor:
        """Every token, at its representative's position."""
        return self.y[self.owner]


def integrate_collapsing(
    field: SelfAttention,
    x0: torch.Tensor,
    times: Sequence[float],
    *,
    merge_tol: float = 1e-7,
    first_step: float = 0.1,
    rtol: float = 1e-6,
    atol: float = 1e-8,
    max_steps: int = 1_000_000,
    params: Mapping[str, Any] | None = None,
) -> Trajectory:
    """Integrate ``field`` from ``x0`` up to ``times[-1]`` by dopri5, merging clusters as they collapse.

    Args:
        field: a softmax :class:`~attnflow.dynamics.SelfAttention` without a causal mask.
        x0: initial tokens, shape ``(n, d)``.
        times: the save times, positive and increasing (e.g. ``np.geomspace`` to see plateaus of
            every length); the start (t = 0) is saved too.
        merge_tol: representatives closer than this (Euclidean distance) merge, after every accepted step.
        first_step: the first trial step of the adaptive scheme.
        rtol, atol: dopri5's error tolerances, on the representatives.
        max_steps: give up (with an error) after this many trial steps.
        params: extra parameters to store with the Trajectory.

    Returns:
        A :class:`Trajectory` of all ``n`` tokens; ``params["merges"]`` is a list of
        ``{"time": t, "clusters": [[token indices], ...]}``, one entry per merge (two or more clusters
        joining), in time order.

    Raises:
        ValueError / TypeError: bad arguments, each naming the argument.
        BlowUpError, StepLimitError: as for :func:`attnflow.simulate`.
    """
    check_weighted(field)
    field.check_state(x0, "x0")
    if x0.ndim != 2:
        raise ValueError(f"x0 must have shape (n, d) (one run), got {tuple(x0.shape)}")
    save_at = [float(v) for v in times]
    if not save_at or save_at[0] <= 0 or any(b <= a for a, b in itertools.pairwise(save_at)):
        raise ValueError("times must be a non-empty, increasing sequence of positive save times")
    t_end = positive_number("times[-1]", save_at[-1])
    merge_tol = positive_number("merge_tol", merge_tol)
    h = positive_number("first_step", first_step)
    rtol, atol = positive_number("rtol", rtol), positive_number("atol", atol)
    max_steps = positive_int("max_steps", max_steps)
    if field.geometry != "sphere":
        raise ValueError("field must have geometry='sphere' for merge-aware integration")
    on_sphere("x0", x0)
    x0 = x0 / x0.norm(dim=-1, keepdim=True)
    bound_radius = math.sqrt(2 * math.log(1 / BOUND_WEIGHT) / abs(field.beta)) if field.beta else math.inf
    clusters = _Clusters(x0.detach().cpu())
    merges: list[dict[str, Any]] = []

    def merge(t: float) -> None:
        merges.extend({"time": t, "clusters": group} for group in clusters.merge_within(merge_tol))

    def velocity(t: float, y: torch.Tensor) -> torch.Tensor:
        # Evaluated at the radial projection: off the sphere the raw field pulls back at rate ~2, a stiff
        # mode that would hold the steps to O(1) on a plateau; on the sphere the two fields agree.
        return weighted_velocity(field, t, y / y.norm(dim=-1, keepdim=True), clusters.masses)

    t, steps = 0.0, 0
    with torch.no_grad(), small_problem_threads(x0):
        merge(t)
        times, states = [0.0], [clusters.tokens()]
        for target in save_at:
            while t < target:
                if steps >= max_steps:
                    raise StepLimitError("merge-aware dopri5", max_steps, f"before t={target:g}")
                h_try = min(h, target - t)
                y_new, err = _dopri5(velocity, t, clusters.y, h_try)
                scale = atol + rtol * torch.maximum(clusters.y.abs(), y_new.abs())
                error = float(torch.sqrt(torch.mean((err / scale) ** 2)))
                steps += 1
                if not math.isfinite(error):
                    if h_try <= 1e-12 * max(1.0, t):
                        raise BlowUpError(t + h_try)
                    h = h_try * 0.2
                    continue
                if error <= 1.0:
                    t = target if h_try == target - t else t + h_try
                    clusters.y = y_new / y_new.norm(dim=-1, keepdim=True)
                    merge(t)
                # The controller of attnflow.simulate: safety 0.9, exponent 1/5, growth clipped to [0.2, 10].
                factor = 10.0 if error == 0 else min(10.0, max(0.2, 0.9 * error**-0.2))
                h = h_try * factor
                if clusters.nearest_distance() < bound_radius:
                    h = min(h, BOUND_STEP)
            times.append(target)
            states.append(clusters.tokens())
    settings = dict(
        method="dopri5-merging",
        t_end=t_end,
        merge_tol=merge_tol,
        rtol=rtol,
        atol=atol,
        steps=steps,
        clusters=int(clusters.y.shape[0]),
        merges=merges,
    )
    return trajectories(field, x0, times, states, settings, params)


__all__ = ["integrate_collapsing"]
