"""Attention entropy per token: how spread out each token's attention row is."""

from __future__ import annotations

import numpy as np
import torch
import xarray as xr

from attnflow._validate import check_trajectory, finite_number
from attnflow.measure._common import gram_blocks, offdiagonal_mask, states
from attnflow.trajectory import Trajectory


def attention_entropy(traj: Trajectory, beta: float, causal: bool = False) -> xr.DataArray:
    """The entropy ``−Σ_j A_ij log A_ij`` of each token's attention row, ``A_ij ∝ exp(β⟨x_i, x_j⟩)``.

    This is the softmax (SA) attention with ``Q = K = I``. The entropy is ``log n`` for uniform attention
    (``β = 0`` or all tokens equal) and falls towards ``log m`` when token ``i`` attends to a cluster of
    ``m`` tokens only. With ``causal=True`` token ``i`` (0-based) attends to tokens ``0..i``.

    Args:
        traj: the token clouds.
        beta: the inverse temperature, any finite real.
        causal: mask future tokens.

    Returns:
        A ``DataArray`` named ``"attention_entropy"`` with dims ``(axis, "token")``, in nats.

    Raises:
        ValueError: ``beta`` is not finite.
    """
    check_trajectory(traj)
    beta = finite_number("beta", beta)
    n = traj.n_tokens
    entropy = np.zeros((traj.n_states, n))
    for k, x in enumerate(states(traj)):
        for start, g in gram_blocks(x):
            logits = beta * g
            if causal:
                logits = logits.masked_fill(offdiagonal_mask(start, g.shape[0], n), -torch.inf)
            log_a = torch.log_softmax(logits, dim=1)
            # 0 · log 0 = 0 for the masked entries.
            entropy[k, start : start + g.shape[0]] = (
                -(log_a.exp() * log_a.nan_to_num(neginf=0.0)).sum(1).numpy()
            )
    return xr.DataArray(
        entropy,
        dims=(traj.axis, "token"),
        coords={traj.axis: traj.times.numpy(), "token": np.arange(n)},
        name="attention_entropy",
        attrs={"beta": beta, "causal": causal, "units": "nats"},
    )
