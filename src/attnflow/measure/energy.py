"""The interaction energy E_β that self-attention dynamics increase (seed 002), of particles or a density."""

from __future__ import annotations

import math

import numpy as np
import xarray as xr

from attnflow._validate import check_trajectory, finite_number
from attnflow.measure._common import series
from attnflow.measure._pairsum import log_pair_sums
from attnflow.measure.density import density_energy
from attnflow.trajectory import DensityTrajectory, Trajectory

# The largest float64 is e^709.78: an energy whose log is above this is out of range unless log=True.
_LOG_MAX = math.log(np.finfo(np.float64).max)


def energy(data: Trajectory | DensityTrajectory, beta: float, log: bool = False) -> xr.DataArray:
    """E_β(t) = (1/(2βn²)) Σ_ij e^{β⟨x_i(t), x_j(t)⟩} at every saved state, or E_β[ρ_t] of a density.

    For particles the double sum is computed in float64 and in the log domain with O(n) memory
    (:mod:`attnflow.measure._pairsum`): on the circle and on S² (every norm within 1e-6 of 1, β > 0) through
    a Fourier or spherical-harmonic series truncated at relative error 1e-15 when that is cheaper, otherwise
    through the per-row log-sum-exp of PyTorch's fused attention kernel. Tokens within 1e-6 of the unit
    sphere are measured through their directions. ``log=True`` returns ``log |E_β|``, finite for every
    finite β (E_β itself leaves float64 near β ≈ 710 on the sphere). For a
    :class:`~attnflow.DensityTrajectory` on the circle it is
    ``(1/(2β)) ∬ e^{β cos(θ−φ)} ρ(θ) ρ(φ) dθ dφ`` (:func:`attnflow.measure.density.density_energy`),
    which equals the particles' energy when ``ρ`` is their empirical law.

    Args:
        data: the token clouds, or the densities.
        beta: the inverse temperature β (non-zero; the energy of β < 0 is negative).
        log: return ``log |E_β|`` (the sign is that of β).

    Returns:
        A DataArray named ``"energy"`` (``"log_energy"`` with ``log=True``) over the trajectory's axis;
        for particles its ``method`` attribute names the way the sum was taken.

    Raises:
        ValueError: ``beta`` is zero or not finite, or ``E_β`` overflows float64 and ``log`` is false.
    """
    beta = finite_number("beta", beta)
    if beta == 0:
        raise ValueError("beta must be non-zero for the energy (it carries a factor 1/(2β))")
    if isinstance(data, DensityTrajectory):
        return density_energy(data, beta, log=bool(log))
    traj = check_trajectory(data, "data")
    logs, method = log_pair_sums(traj.x.detach().to("cpu"), beta)
    log_energy = logs - math.log(2 * abs(beta) * traj.n_tokens**2)
    attrs = {"beta": beta, "method": method}
    if log:
        return series(traj, log_energy, "log_energy", {**attrs, "long_name": "log |E_beta|"})
    if log_energy.max() > _LOG_MAX:
        raise ValueError(
            f"the energy at beta={beta:g} exceeds float64 (log E = {log_energy.max():.6g}); "
            "pass log=True for log |E_beta|"
        )
    values = math.copysign(1.0, beta) * np.exp(log_energy)
    return series(traj, values, "energy", {**attrs, "long_name": "interaction energy E_beta"})
