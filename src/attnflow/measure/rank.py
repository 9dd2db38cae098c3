"""Rank collapse over time: the effective rank of the cloud and its distance to a single point."""

from __future__ import annotations

import torch
import xarray as xr

from attnflow._validate import check_trajectory
from attnflow.measure._common import per_state
from attnflow.trajectory import Trajectory


def effective_rank(traj: Trajectory) -> xr.DataArray:
    """The effective rank ``exp(−Σ_k p_k log p_k)``, ``p_k = σ_k / Σ σ``, of the ``n × d`` matrix ``X``.

    This is Roy and Vetterli's (2007) continuous rank: ``n`` orthonormal tokens give ``n``, tokens that
    are all multiples of one vector give 1. It falls to 1 as the tokens collapse to one point.

    Args:
        traj: the token clouds.

    Returns:
        A ``DataArray`` named ``"effective_rank"`` over the trajectory's axis, in ``[1, min(n, d)]``
        (0 for a cloud that is entirely zero).
    """
    check_trajectory(traj)

    def one(x: torch.Tensor) -> float:
        sigma = torch.linalg.svdvals(x)
        total = sigma.sum()
        if total == 0:
            return 0.0
        p = sigma / total
        p = p[p > 0]
        return torch.exp(-(p * p.log()).sum()).item()

    return per_state(traj, one, "effective_rank", {"long_name": "effective rank of X"})


def collapse_residual(traj: Trajectory, relative: bool = False) -> xr.DataArray:
    """The Frobenius distance ``‖X − 1 x̄ᵀ‖`` of the cloud from its mean token ``x̄`` (rank collapse).

    Args:
        traj: the token clouds.
        relative: divide by ``‖X‖`` (so the value is scale free, in ``[0, 1]``).

    Returns:
        A ``DataArray`` named ``"collapse_residual"`` over the trajectory's axis.
    """
    check_trajectory(traj)

    def one(x: torch.Tensor) -> float:
        residual = torch.linalg.matrix_norm(x - x.mean(dim=0, keepdim=True)).item()
        if not relative:
            return residual
        norm = torch.linalg.matrix_norm(x).item()
        return residual / norm if norm > 0 else 0.0

    name = "‖X − 1x̄ᵀ‖ / ‖X‖" if relative else "‖X − 1x̄ᵀ‖"
    return per_state(traj, one, "collapse_residual", {"long_name": name, "relative": relative})
