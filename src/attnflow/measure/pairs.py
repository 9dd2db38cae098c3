"""Pairwise statistics of a token cloud over time: energy staircase, close pairs, cosines."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import xarray as xr

from attnflow._validate import check_pairs, finite_number, positive_int, positive_number
from attnflow.measure._common import gram_blocks, offdiagonal_mask, per_state, series, states, unit_rows
from attnflow.measure._pairsum import log_pair_sums
from attnflow.trajectory import Trajectory


def energy_staircase(traj: Trajectory, beta: float) -> xr.DataArray:
    """The normalised interaction energy ``n⁻² Σ_ij exp(β(⟨x_i,x_j⟩ − 1))`` at every state.

    On the sphere this lies in ``(0, 1]`` and equals ``2β e^{-β} E_β``; it is read from the same
    log-domain double sum as :func:`attnflow.measure.energy` (O(n) memory, finite for every finite β).
    When the tokens sit in tight clusters of masses ``m_q`` that are far apart (relative to ``1/β``),
    it equals ``Σ_q m_q²``: the metastable plateaus of the dynamics show up as the steps of a staircase
    that ends at 1 (one cluster).

    Args:
        traj: the token clouds, on the unit sphere for the interpretation above.
        beta: the inverse temperature, any finite real.

    Returns:
        A ``DataArray`` named ``"energy_staircase"`` over the trajectory's axis.

    Raises:
        TypeError, ValueError: ``traj`` is not a Trajectory with at least two tokens, or ``beta`` is not
            finite.
    """
    check_pairs(traj)
    beta = finite_number("beta", beta)
    logs, method = log_pair_sums(traj.x.detach().to("cpu"), beta)
    values = np.exp(logs - beta - 2 * math.log(traj.n_tokens))
    attrs = {"beta": beta, "method": method, "long_name": "n⁻² Σ exp(β(⟨xi,xj⟩−1))"}
    return series(traj, values, "energy_staircase", attrs)


def fraction_close_pairs(traj: Trajectory, eps: float) -> xr.DataArray:
    """The fraction of distinct pairs ``i < j`` with ``⟨x_i, x_j⟩ ≥ 1 − eps``: the phase-diagram statistic.

    With ``eps = 1e-3`` this is the probability ``P(⟨x_i, x_j⟩ ≥ 0.999)`` that the papers draw over
    ``(t, β)``; it tends to 1 as the cloud collapses to one point.

    Args:
        traj: the token clouds (unit vectors: the threshold is on the raw inner product).
        eps: the closeness threshold, ``0 < eps ≤ 2``.

    Returns:
        A ``DataArray`` named ``"fraction_close_pairs"`` in ``[0, 1]`` over the trajectory's axis.

    Raises:
        ValueError: ``eps`` is outside ``(0, 2]`` or ``traj`` has fewer than two tokens.
    """
    check_pairs(traj)
    eps = positive_number("eps", eps)
    if eps > 2:
        raise ValueError(f"eps must be in (0, 2] (inner products of unit vectors are ≥ -1), got {eps!r}")
    threshold = 1.0 - eps

    def one(x: torch.Tensor) -> float:
        n = x.shape[0]
        close = 0
        for start, g in gram_blocks(x):
            close += int(((g >= threshold) & offdiagonal_mask(start, g.shape[0], n)).sum())
        return close / (n * (n - 1) / 2)

    return per_state(
        traj, one, "fraction_close_pairs", {"eps": eps, "long_name": f"P(⟨xi,xj⟩ ≥ {threshold:g})"}
    )


def min_inner_product(traj: Trajectory) -> xr.DataArray:
    """The smallest inner product ``min_{i≠j} ⟨x_i, x_j⟩`` at every state.

    It is positive exactly when every pair is less than 90° apart, and tends to 1 under collapse to one
    point; a start in an open hemisphere keeps it bounded below along the flow.

    Args:
        traj: the token clouds.

    Returns:
        A ``DataArray`` named ``"min_inner_product"`` over the trajectory's axis.
    """
    check_pairs(traj)

    def one(x: torch.Tensor) -> float:
        n = x.shape[0]
        lowest = np.inf
        for start, g in gram_blocks(x):
            pairs = g[offdiagonal_mask(start, g.shape[0], n)]
            if pairs.numel():
                lowest = min(lowest, pairs.min().item())
        return lowest

    return per_state(traj, one, "min_inner_product", {"long_name": "min over i≠j of ⟨xi,xj⟩"})


def cosine_histogram(traj: Trajectory, bins: int | Sequence[float] = 40) -> xr.DataArray:
    """Histogram of the pairwise cosines ``⟨x_i,x_j⟩/(|x_i||x_j|)`` over distinct pairs, at every state.

    This is the figure drawn for the layers of a trained Transformer (e.g. ALBERT): the mass moves to
    cosine 1 as the tokens cluster. Cosines (not raw inner products) make it meaningful for hidden states
    that are not normalised.

    Args:
        traj: the token clouds.
        bins: the number of equal-width bins on ``[-1, 1]``, or increasing bin edges.

    Returns:
        A ``DataArray`` named ``"pair_fraction"`` with dims ``(axis, "cosine")``: the fraction of all
        ``n(n-1)/2`` pairs in each bin (rows sum to 1 when the edges cover ``[-1, 1]``). Coordinates:
        ``cosine`` (bin centres), ``left`` and ``right`` (bin edges).

    Raises:
        ValueError: ``bins`` is not a positive integer or not strictly increasing edges.
    """
    check_pairs(traj)
    if isinstance(bins, int | np.integer) and not isinstance(bins, bool):
        edges = np.linspace(-1.0, 1.0, positive_int("bins", int(bins)) + 1)
    else:
        edges = np.asarray(bins, dtype=np.float64).reshape(-1)
        if edges.size < 2 or not np.all(np.isfinite(edges)) or not np.all(np.diff(edges) > 0):
            raise ValueError(
                f"bins must be a positive integer or at least two increasing finite edges, got {bins!r}"
            )
    n = traj.n_tokens
    fractions = np.zeros((traj.n_states, edges.size - 1))
    for k, x in enumerate(states(traj)):
        for start, g in gram_blocks(unit_rows(x)):
            cosines = g[offdiagonal_mask(start, g.shape[0], n)].clamp(-1.0, 1.0).numpy()
            fractions[k] += np.histogram(cosines, bins=edges)[0]
    fractions /= n * (n - 1) / 2
    return xr.DataArray(
        fractions,
        dims=(traj.axis, "cosine"),
        coords={
            traj.axis: traj.times.numpy(),
            "cosine": (edges[:-1] + edges[1:]) / 2,
            "left": ("cosine", edges[:-1]),
            "right": ("cosine", edges[1:]),
        },
        name="pair_fraction",
        attrs={"long_name": "fraction of token pairs"},
    )
