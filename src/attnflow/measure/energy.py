"""The interaction energy E_β that self-attention dynamics increase (seed 002)."""

from __future__ import annotations

import math

import torch
import xarray as xr

from attnflow._validate import check_trajectory, finite_number
from attnflow.trajectory import Trajectory


def energy(traj: Trajectory, beta: float) -> xr.DataArray:
    """E_β(t) = (1/(2βn²)) Σ_ij e^{β⟨x_i(t), x_j(t)⟩} at every saved state.

    Computed in float64 through a log-sum-exp, so it is exact up to rounding for any β ≠ 0 whose
    value fits in float64.

    Args:
        traj: the token clouds.
        beta: the inverse temperature β (non-zero; the energy of β < 0 is negative).

    Returns:
        A DataArray named ``"energy"`` over the trajectory's axis.
    """
    check_trajectory(traj)
    beta = finite_number("beta", beta)
    if beta == 0:
        raise ValueError("beta must be non-zero for the energy (it carries a factor 1/(2β))")
    n = traj.n_tokens
    values = []
    for x in traj.x:
        x = x.detach().to(dtype=torch.float64, device="cpu")
        log_sum = torch.logsumexp((beta * (x @ x.T)).reshape(-1), dim=0).item()
        values.append(math.copysign(math.exp(log_sum - math.log(2 * abs(beta) * n * n)), beta))
    return xr.DataArray(
        values,
        dims=(traj.axis,),
        coords={traj.axis: traj.times.numpy()},
        name="energy",
        attrs={"beta": beta, "long_name": "interaction energy E_beta"},
    )
