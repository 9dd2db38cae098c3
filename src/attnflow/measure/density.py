"""Measurements of densities on the circle, and between a density and particles.

:func:`attnflow.measure.energy` and :func:`attnflow.measure.clusters` take a
:class:`~attnflow.DensityTrajectory` as well as a :class:`~attnflow.Trajectory`; for a density they call
:func:`density_energy` and :func:`density_clusters` here. The Fourier modes of a density, the angles of
tokens on the circle and the exact Wasserstein-1 distance between a density and particles complete the
set; :class:`CircleKernel` is the interaction kernel on the grid, shared with the mean-field solver
(:mod:`attnflow.meanfield`), so that the energy it measures is the one the solver's scheme increases.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import xarray as xr

from attnflow._validate import finite_tensor, on_sphere, positive_int, positive_number
from attnflow.theory.circle import nonzero_beta
from attnflow.trajectory import DensityTrajectory, Trajectory, angle_grid

_TWO_PI = 2 * math.pi
#: A density peak counts as a cluster when its prominence is at least this many uniform densities 1/(2π).
DEFAULT_PROMINENCE = 0.5


class CircleKernel:
    """The interaction kernel ``k(u) = e^{β cos u}`` on a grid of ``N`` cells, ready for FFT convolutions.

    The kernel is stored scaled by ``e^{−|β|}`` (values in ``(0, 1]``) so that no β overflows; the scale
    cancels in SA and is put back for USA and the energy.

    Args:
        beta: inverse temperature ``β ≠ 0``.
        n_cells: grid size ``N ≥ 3``.
    """

    def __init__(self, beta: float, n_cells: int) -> None:
        self.beta = nonzero_beta(beta)
        self.n_cells = positive_int("n_cells", n_cells, minimum=3)
        self.cell_width = 2 * math.pi / self.n_cells
        offsets = torch.arange(self.n_cells, dtype=torch.float64) * self.cell_width
        self.log_scale = abs(self.beta)
        self._hat = torch.fft.rfft(torch.exp(self.beta * torch.cos(offsets) - self.log_scale))

    def potential(self, rho: torch.Tensor) -> torch.Tensor:
        """``e^{−|β|}·c_i = e^{−|β|} Σ_j k(θ_i − θ_j) ρ_j Δθ`` for densities of shape ``(..., N)``."""
        conv = torch.fft.irfft(torch.fft.rfft(rho) * self._hat, n=self.n_cells)
        return conv * self.cell_width


def density_energy(density: DensityTrajectory, beta: float, log: bool = False) -> xr.DataArray:
    """The interaction energy ``E_β[ρ] = (1/(2β)) ∬ e^{β cos(θ−φ)} ρ(θ) ρ(φ) dθ dφ`` at each time.

    The double integral is the midpoint rule on the grid (``Σ_ij ρ_i k(θ_i−θ_j) ρ_j Δθ²``), evaluated as a
    circular convolution; it matches the energy of particles, ``(1/(2βn²)) Σ_ij e^{β⟨x_i,x_j⟩}``, when
    ``ρ`` is their empirical law. :func:`attnflow.measure.energy` calls it for a DensityTrajectory.

    Args:
        density: the densities.
        beta: inverse temperature ``β ≠ 0``.
        log: return ``log |E_β|`` instead (finite for every finite β; the sign is that of β).

    Returns:
        ``DataArray`` over ``time`` named ``"energy"`` (``"log_energy"`` with ``log=True``).

    Raises:
        ValueError: ``E_β`` overflows float64 and ``log`` is false.
    """
    kernel = CircleKernel(beta, density.n_cells)
    scaled = (density.density * kernel.potential(density.density)).sum(dim=-1) * density.cell_width
    # The kernel carries e^{-|β|}; the energy is e^{|β|}·scaled/(2β), so its log is always finite.
    log_values = np.log(scaled.numpy()) + kernel.log_scale - math.log(2 * abs(kernel.beta))
    coords = {density.axis: density.times.numpy()}
    if log:
        return xr.DataArray(log_values, dims=(density.axis,), coords=coords, name="log_energy")
    if log_values.max() > math.log(np.finfo(np.float64).max):
        raise ValueError(
            f"the energy at beta={kernel.beta:g} exceeds float64 (log E = {log_values.max():.6g}); "
            "pass log=True for log |E_beta|"
        )
    values = math.copysign(1.0, kernel.beta) * np.exp(log_values)
    return xr.DataArray(values, dims=(density.axis,), coords=coords, name="energy")


def density_clusters(density: DensityTrajectory, prominence: float = DEFAULT_PROMINENCE) -> xr.Dataset:
    """Clusters as the peaks of the density, with their positions, heights and masses, at each time.

    A peak counts if its prominence (its height above the higher of the two minima separating it from a
    higher peak, on the circle) is at least ``prominence/(2π)``, i.e. ``prominence`` times the uniform
    density. The circle is cut at the lowest point between consecutive peaks; a cluster's mass is the
    mass of its arc. A uniform density has no cluster. :func:`attnflow.measure.clusters` calls it for a
    DensityTrajectory.

    Args:
        density: the densities.
        prominence: the threshold, in units of the uniform density ``1/(2π)``.

    Returns:
        ``Dataset`` with ``count`` over ``time`` and ``position`` (angle of the peak), ``height`` and
        ``mass`` over ``(time, cluster)``, clusters sorted by decreasing mass and padded with NaN.
    """
    threshold = positive_number("prominence", prominence) / _TWO_PI
    rho = density.numpy()
    n = density.n_cells
    found = [_peaks(row, threshold) for row in rho]
    width = max((len(p) for p, _ in found), default=0)
    position = np.full((len(found), width), np.nan)
    height = np.full_like(position, np.nan)
    mass = np.full_like(position, np.nan)
    angles = angle_grid(n).numpy()
    for k, (peaks, masses) in enumerate(found):
        order = np.argsort(-masses, kind="stable")
        position[k, : len(peaks)] = angles[peaks[order]]
        height[k, : len(peaks)] = rho[k, peaks[order]]
        mass[k, : len(peaks)] = masses[order] * density.cell_width
    coords = {density.axis: density.times.numpy(), "cluster": np.arange(width)}
    dims = (density.axis, "cluster")
    return xr.Dataset(
        {
            "count": ((density.axis,), np.array([len(p) for p, _ in found])),
            "position": (dims, position),
            "height": (dims, height),
            "mass": (dims, mass),
        },
        coords=coords,
        attrs={"prominence": prominence},
    )


def _peaks(row: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Peak cells of one periodic density and the (unscaled) sum of ``ρ`` over each peak's arc."""
    from scipy.signal import find_peaks  # scipy.signal takes seconds to import; only clusters need it

    n = row.size
    # Three copies make every peak of the middle copy see the whole circle on both sides.
    tiled = np.concatenate([row, row, row])
    peaks, _ = find_peaks(tiled, prominence=threshold, wlen=n + 1)
    peaks = np.unique(peaks[(peaks >= n) & (peaks < 2 * n)] - n)
    if peaks.size == 0:
        return peaks, np.zeros(0)
    if peaks.size == 1:
        return peaks, np.array([row.sum()])
    # Work on the middle copy; the cut after peak k is the lowest cell before peak k + 1.
    middle = peaks + n
    following = np.roll(middle, -1)
    following[-1] += n
    cuts = np.array([p + int(np.argmin(tiled[p : q + 1])) for p, q in zip(middle, following, strict=True)])
    starts = np.roll(cuts, 1)
    starts[0] -= n
    # Cluster k holds the cells (starts[k], cuts[k]]: the arcs partition the circle.
    cumulative = np.concatenate([[0.0], np.cumsum(tiled)])
    masses = cumulative[cuts + 1] - cumulative[starts + 1]
    return peaks, masses


def fourier_modes(density: DensityTrajectory, max_mode: int) -> xr.DataArray:
    """The amplitude ``|ρ̂_ℓ| = |Σ_j ρ_j e^{−iℓθ_j} Δθ| / π`` of modes ``ℓ = 1..max_mode`` over time.

    With this normalisation ``ρ = 1/(2π) + ε cos(ℓθ + φ)`` has amplitude ``ε`` at mode ``ℓ``.

    Args:
        density: the densities.
        max_mode: the largest mode (< N/2).

    Returns:
        ``DataArray`` over ``(time, mode)``.
    """
    max_mode = positive_int("max_mode", max_mode)
    if max_mode >= density.n_cells / 2:
        raise ValueError(f"max_mode must be < N/2 = {density.n_cells / 2:g}, got {max_mode}")
    coeffs = torch.fft.rfft(density.density, dim=-1)[:, 1 : max_mode + 1]
    amplitude = coeffs.abs().numpy() * density.cell_width / math.pi
    return xr.DataArray(
        amplitude,
        dims=(density.axis, "mode"),
        coords={density.axis: density.times.numpy(), "mode": np.arange(1, max_mode + 1)},
        name="amplitude",
    )


def particle_angles(trajectory: Trajectory) -> torch.Tensor:
    """The angles ``atan2(x₂, x₁) ∈ [0, 2π)`` of tokens on the circle, shape ``(T, n)``, float64.

    Args:
        trajectory: a Trajectory with ``d = 2`` whose states lie on the unit circle.

    Raises:
        ValueError: ``d ≠ 2`` or states off the circle.
    """
    if trajectory.dim != 2:
        raise ValueError(f"trajectory must have d = 2 (tokens on the circle), got d = {trajectory.dim}")
    x = finite_tensor("trajectory.x", trajectory.x.detach().cpu())
    on_sphere("trajectory.x", x.reshape(-1, 2))
    x = x.to(torch.float64)
    return torch.remainder(torch.atan2(x[..., 1], x[..., 0]), _TWO_PI)


def wasserstein1_circle(
    density: torch.Tensor | np.ndarray,
    angles: torch.Tensor | np.ndarray,
    weights: torch.Tensor | np.ndarray | None = None,
) -> float:
    """The exact Wasserstein-1 distance (geodesic cost) between a grid density and point masses on S¹.

    On the circle ``W₁(μ, ν) = min_c ∫_0^{2π} |F_μ(θ) − F_ν(θ) − c| dθ`` with ``F`` the cumulative
    distribution functions from angle 0 (the optimal ``c`` is a median of ``F_μ − F_ν``). For a
    piecewise-constant density and point masses ``F_μ − F_ν`` is piecewise linear, so the integral and its
    minimiser are computed in closed form on each piece; no discretisation error is added.

    Args:
        density: cell averages on the uniform grid, shape ``(N,)``, ≥ 0, ``Σ ρ_j Δθ = 1`` (to 1e-9).
        angles: particle angles (radians, any real), shape ``(n,)``.
        weights: particle masses summing to 1; uniform ``1/n`` by default.

    Returns:
        ``W₁`` in radians.

    Raises:
        ValueError: a density that is not a probability density, weights that do not sum to 1, or
            shapes that do not match.
    """
    rho = np.asarray(density, dtype=np.float64).reshape(-1)
    theta = np.mod(np.asarray(angles, dtype=np.float64).reshape(-1), _TWO_PI)
    if rho.size < 3 or theta.size == 0:
        raise ValueError(f"need a density of N ≥ 3 cells and ≥ 1 particle, got {rho.size} and {theta.size}")
    if not (np.all(np.isfinite(rho)) and np.all(np.isfinite(theta))):
        raise ValueError("density and angles must be finite")
    width = _TWO_PI / rho.size
    if np.any(rho < 0) or abs(rho.sum() * width - 1) > 1e-9:
        raise ValueError(f"density must be ≥ 0 with Σ ρ_j Δθ = 1, got mass {rho.sum() * width:.12g}")
    w = np.full(theta.size, 1.0 / theta.size) if weights is None else np.asarray(weights, np.float64)
    if w.shape != theta.shape or np.any(w < 0) or abs(w.sum() - 1) > 1e-9:
        raise ValueError("weights must be ≥ 0, one per angle, and sum to 1")

    edges = np.arange(rho.size + 1) * width
    cdf_edges = np.concatenate([[0.0], np.cumsum(rho * width)])
    order = np.argsort(theta)
    theta, w = theta[order], w[order]
    breaks = np.unique(np.concatenate([edges, theta]))
    density_cdf = np.interp(breaks, edges, cdf_edges)
    particle_cdf = np.concatenate([[0.0], np.cumsum(w)])[np.searchsorted(theta, breaks, side="right")]
    # On (b_m, b_{m+1}) the difference F_μ − F_ν runs linearly from `left` to `right`.
    left = density_cdf[:-1] - particle_cdf[:-1]
    right = density_cdf[1:] - particle_cdf[:-1]
    length = np.diff(breaks)
    low, high = np.minimum(left, right), np.maximum(left, right)
    spread = high - low

    def below(c: float) -> float:
        """Length of the set where F_μ − F_ν ≤ c, minus half the circle (increasing in c)."""
        frac = np.where(spread > 0, np.clip((c - low) / np.where(spread > 0, spread, 1), 0, 1), low <= c)
        return float(np.sum(length * frac)) - math.pi

    lo, hi = float(low.min()), float(high.max())
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if below(mid) < 0:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-17:
            break
    c = 0.5 * (lo + hi)
    # ∫ |h − c| over a piece where h is uniform on [low, high] (or constant).
    inside = ((c - low) ** 2 + (high - c) ** 2) / (2 * np.where(spread > 0, spread, 1))
    outside = np.abs(0.5 * (low + high) - c)
    mean_abs = np.where((spread > 0) & (c > low) & (c < high), inside, outside)
    return float(np.sum(length * mean_abs))


def distance_to_particles(density: DensityTrajectory, particles: Trajectory) -> xr.DataArray:
    """``W₁`` between the density and the particles' empirical law at each of the particles' times.

    Args:
        density: densities saved at (at least) every time of ``particles`` (matched to 1e-9).
        particles: tokens on the circle (``d = 2``).

    Returns:
        ``DataArray`` over ``time``.

    Raises:
        ValueError: a particle time with no density saved at it.
    """
    angles = particle_angles(particles).numpy()
    values = []
    for t, theta in zip(particles.times.numpy(), angles, strict=True):
        gap = (density.times - float(t)).abs()
        k = int(torch.argmin(gap))
        if float(gap[k]) > 1e-9 * max(1.0, abs(float(t))):
            raise ValueError(
                f"density has no state at the particles' time {t:g} (nearest {density.times[k]:g})"
            )
        values.append(wasserstein1_circle(density.density[k], theta))
    return xr.DataArray(np.array(values), dims=("time",), coords={"time": particles.times.numpy()}, name="w1")
