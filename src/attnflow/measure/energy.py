"""The interaction energy E_β that self-attention dynamics increase (seed 002), of particles or a density."""

from __future__ import annotations

import math

import torch
import xarray as xr

from attnflow._validate import check_trajectory, finite_number
from attnflow.measure._common import gram_blocks, per_state
from attnflow.measure.density import density_energy
from attnflow.trajectory import DensityTrajectory, Trajectory


def energy(data: Trajectory | DensityTrajectory, beta: float) -> xr.DataArray:
    """E_β(t) = (1/(2βn²)) Σ_ij e^{β⟨x_i(t), x_j(t)⟩} at every saved state, or E_β[ρ_t] of a density.

    For particles it is computed in float64 through a log-sum-exp over row blocks of the Gram matrix, so
    it is exact up to rounding for any β ≠ 0 whose value fits in float64, and no n×n matrix is held. For
    a :class:`~attnflow.DensityTrajectory` on the circle it is
    ``(1/(2β)) ∬ e^{β cos(θ−φ)} ρ(θ) ρ(φ) dθ dφ`` (:func:`attnflow.measure.density.density_energy`),
    which equals the particles' energy when ``ρ`` is their empirical law.

    Args:
        data: the token clouds, or the densities.
        beta: the inverse temperature β (non-zero; the energy of β < 0 is negative).

    Returns:
        A DataArray named ``"energy"`` over the trajectory's axis.
    """
    if isinstance(data, DensityTrajectory):
        return density_energy(data, beta)
    traj = check_trajectory(data, "data")
    beta = finite_number("beta", beta)
    if beta == 0:
        raise ValueError("beta must be non-zero for the energy (it carries a factor 1/(2β))")
    log_norm = math.log(2 * abs(beta) * traj.n_tokens**2)

    def one(x: torch.Tensor) -> float:
        parts = torch.stack([torch.logsumexp((beta * g).reshape(-1), dim=0) for _, g in gram_blocks(x)])
        return math.copysign(math.exp(torch.logsumexp(parts, dim=0).item() - log_norm), beta)

    return per_state(traj, one, "energy", {"beta": beta, "long_name": "interaction energy E_beta"})
