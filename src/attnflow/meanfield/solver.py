"""The continuity equation ``∂_t ρ + ∂_θ(ρ v[ρ]) = 0`` of self-attention on the circle, solved in float64.

With ``x = (cos θ, sin θ)``, ``⟨x, y⟩ = cos(θ − φ)`` and the tangent component of ``y`` at ``x`` is
``sin(φ − θ)``, so the mean-field velocity of seed 002 is, with ``c = k * ρ`` and ``k(u) = e^{β cos u}``,

* USA: ``v(θ) = ∫ e^{β cos(θ−φ)} sin(φ−θ) ρ(φ) dφ = (1/β) ∂_θ c(θ)``,
* SA:  ``v(θ) = (1/β) ∂_θ log c(θ)`` (the same integral divided by the normaliser ``c``).

The scheme is the positivity-preserving, energy-dissipating finite-volume scheme of Carrillo, Chertock and
Huang (Commun. Comput. Phys. 17, 2015) on a periodic grid: cell averages ``ρ_j``; the potential ``c`` at cell
centres as a circular convolution (FFT) with the sampled kernel; the velocity at each cell interface as a
centred difference of ``c`` (USA) or ``log c`` (SA); upwind fluxes of a minmod-limited piecewise-linear
reconstruction; Heun's method (SSP-RK2) with a step that keeps every stage a positive combination of cell
values (``dt·max|v| ≤ cfl·Δθ/2``). Fluxes cancel in pairs, so mass is kept to rounding; the semi-discrete
energy ``E_β = (1/(2β)) Σ_ij ρ_i k(θ_i−θ_j) ρ_j Δθ²`` never decreases.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from attnflow import progress as _progress
from attnflow._validate import finite_tensor, one_of, positive_int, positive_number
from attnflow.errors import StepLimitError
from attnflow.measure.density import CircleKernel
from attnflow.theory.circle import VARIANTS, growth_rate
from attnflow.trajectory import DensityTrajectory

# Below this fraction of its maximum the FFT potential is round-off; SA's log c is floored there.
_POTENTIAL_FLOOR = 1e-13
# The default largest step is this fraction of the fastest linear time scale 1/max_ℓ λ_ℓ.
_LINEAR_STEP_FRACTION = 0.05


def interface_velocity(rho: torch.Tensor, kernel: CircleKernel, variant: str) -> torch.Tensor:
    """The angular velocity at the interfaces ``θ_{j+1/2} = (j+1)Δθ`` between cells ``j`` and ``j+1``.

    Args:
        rho: densities (cell averages), shape ``(..., N)``, float64.
        kernel: the kernel for ``β`` and ``N``.
        variant: ``"SA"`` or ``"USA"``.

    Returns:
        ``v_{j+1/2}``, shape ``(..., N)``.
    """
    scaled = kernel.potential(rho)
    step = kernel.beta * kernel.cell_width
    if variant == "USA":
        return math.exp(kernel.log_scale) * (scaled.roll(-1, dims=-1) - scaled) / step
    # c ≥ e^{-2|β|}·mass exactly; below the FFT's round-off the floor makes v vanish (ρ is ~0 there).
    floor = torch.clamp(
        scaled.amax(dim=-1, keepdim=True) * _POTENTIAL_FLOOR, min=math.exp(-2 * kernel.log_scale)
    )
    log_c = torch.log(torch.maximum(scaled, floor))
    return (log_c.roll(-1, dims=-1) - log_c) / step


def velocity(density: torch.Tensor | np.ndarray, beta: float, variant: str = "SA") -> torch.Tensor:
    """The mean-field angular velocity ``v[ρ]`` at the cell interfaces ``θ = (j+1)·2π/N``.

    Args:
        density: a density on the grid, shape ``(N,)`` or ``(..., N)``.
        beta: inverse temperature ``β ≠ 0``.
        variant: ``"SA"`` or ``"USA"``.

    Returns:
        float64 tensor of the same shape: ``v`` at the interface to the right of each cell.
    """
    rho = _density("density", density)
    return interface_velocity(rho, CircleKernel(beta, rho.shape[-1]), one_of("variant", variant, VARIANTS))


def _minmod(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    same_sign = (torch.sign(a) == torch.sign(b)) & (torch.sign(b) == torch.sign(c))
    smallest = torch.minimum(torch.minimum(a.abs(), b.abs()), c.abs())
    return torch.where(same_sign, torch.sign(a) * smallest, torch.zeros_like(a))


def _flux_divergence(rho: torch.Tensor, v: torch.Tensor, cell_width: float) -> torch.Tensor:
    """``−(F_{j+1/2} − F_{j−1/2})/Δθ`` with upwind fluxes of the limited reconstruction."""
    ahead = rho.roll(-1, dims=-1) - rho
    behind = rho - rho.roll(1, dims=-1)
    # Generalised minmod (θ = 2): slopes keep the east/west values between neighbouring averages, so ≥ 0.
    half_jump = 0.5 * _minmod(2 * behind, 0.5 * (ahead + behind), 2 * ahead)
    east, west = rho + half_jump, rho - half_jump
    flux = v.clamp(min=0) * east + v.clamp(max=0) * west.roll(-1, dims=-1)
    return -(flux - flux.roll(1, dims=-1)) / cell_width


def float64_tensor(value: torch.Tensor | np.ndarray) -> torch.Tensor:
    """``value`` as a float64 tensor (lists go through NumPy, so Python floats keep double precision)."""
    tensor = value if isinstance(value, torch.Tensor) else torch.as_tensor(np.asarray(value))
    return tensor.to(torch.float64)


def _density(name: str, value: torch.Tensor | np.ndarray) -> torch.Tensor:
    rho = float64_tensor(value).detach().cpu()
    if rho.ndim < 1 or rho.shape[-1] < 3:
        raise ValueError(f"{name} must have N ≥ 3 cells along its last axis, got shape {tuple(rho.shape)}")
    finite_tensor(name, rho)
    if bool((rho < 0).any()):
        raise ValueError(f"{name} must be ≥ 0 everywhere (a density), its minimum is {rho.min().item():.3g}")
    return rho


def default_max_dt(beta: float, variant: str, n_cells: int) -> float:
    """The default largest step: 5% of ``1/max_ℓ λ_ℓ``, the fastest linear time scale on the grid."""
    modes = np.arange(1, n_cells // 2 + 1)
    return _LINEAR_STEP_FRACTION / float(np.max(np.abs(growth_rate(modes, beta, variant))))


def solve(
    initial: torch.Tensor | np.ndarray,
    beta: float,
    variant: str = "SA",
    t_end: float = 10.0,
    n_saves: int = 101,
    cfl: float = 0.9,
    max_dt: float | None = None,
    max_steps: int = 10_000_000,
    progress: _progress.Progress | bool | None = False,
) -> DensityTrajectory:
    """Solve the mean-field continuity equation on the circle from an initial density.

    Args:
        initial: the initial density on ``N`` uniform cells (cell averages in ``θ``), shape ``(N,)``, ≥ 0;
            it is normalised to a probability density (``Σ ρ_j Δθ = 1``).
        beta: inverse temperature ``β ≠ 0`` (``β < 0``: repulsive).
        variant: ``"SA"`` (softmax attention) or ``"USA"`` (unnormalised, ``Z = n``).
        t_end: final time ``> 0``.
        n_saves: number of saved states, evenly spaced in ``[0, t_end]`` (≥ 2).
        cfl: Courant number in ``(0, 1]``; each stage moves at most ``cfl/2`` of a cell, which keeps the
            density non-negative.
        max_dt: the largest step; by default 5% of the fastest linear time scale ``1/max_ℓ |λ_ℓ|``
            (:func:`attnflow.theory.growth_rate`), which keeps the near-uniform phase accurate.
        max_steps: give up (:class:`~attnflow.errors.StepLimitError`) after this many steps.
        progress: ``True`` for a progress bar, or a :class:`attnflow.progress.Progress`.

    Returns:
        A :class:`DensityTrajectory` with ``n_saves`` states; ``params`` records the arguments.

    Raises:
        ValueError: a bad argument (named in the message).
        StepLimitError: more than ``max_steps`` steps were needed (a ``RuntimeError``); the density may
            be concentrating below the grid scale: use more cells or a shorter ``t_end``.
    """
    rho = _density("initial", initial)
    if rho.ndim != 1:
        raise ValueError(f"initial must have shape (N,), got {tuple(rho.shape)}")
    n_cells = rho.shape[0]
    one_of("variant", variant, VARIANTS)
    kernel = CircleKernel(beta, n_cells)
    t_end = positive_number("t_end", t_end)
    n_saves = positive_int("n_saves", n_saves, minimum=2)
    cfl = positive_number("cfl", cfl)
    if cfl > 1:
        raise ValueError(f"cfl must be in (0, 1] (positivity needs it), got {cfl!r}")
    max_dt = (
        default_max_dt(kernel.beta, variant, n_cells) if max_dt is None else positive_number("max_dt", max_dt)
    )
    max_steps = positive_int("max_steps", max_steps)
    mass = float(rho.sum()) * kernel.cell_width
    if mass <= 0:
        raise ValueError("initial must have positive mass")
    rho = rho / mass

    save_times = np.linspace(0.0, t_end, n_saves)
    states = [rho.clone()]
    dx = kernel.cell_width
    t, steps = 0.0, 0

    def stable_dt(v: torch.Tensor) -> float:
        speed = float(v.abs().max())
        return math.inf if speed == 0 else cfl * dx / (2 * speed)

    with _progress.task(progress, "mean-field PDE", total=t_end, unit="t") as reporter:
        for target in save_times[1:]:
            while t < target:
                v0 = interface_velocity(rho, kernel, variant)
                dt = min(max_dt, stable_dt(v0), target - t)
                while True:
                    stage = rho + dt * _flux_divergence(rho, v0, dx)
                    v1 = interface_velocity(stage, kernel, variant)
                    if dt <= stable_dt(v1):
                        break
                    # The second stage moves faster: retry with a step that it allows (with margin).
                    dt = 0.9 * stable_dt(v1)
                rho = 0.5 * (rho + stage + dt * _flux_divergence(stage, v1, dx))
                # The last step lands on the save time exactly.
                t = float(target) if target - t - dt <= 1e-12 * max(1.0, t_end) else t + dt
                steps += 1
                if steps > max_steps:
                    raise StepLimitError(
                        "the mean-field solver", max_steps, f"to reach t={t_end:g} (at t={t:.4g})"
                    )
            states.append(rho.clone())
            reporter.update(t)

    params = {
        "beta": kernel.beta,
        "variant": variant,
        "t_end": t_end,
        "n_cells": n_cells,
        "cfl": cfl,
        "max_dt": max_dt,
        "steps": steps,
        "scheme": "finite volume (Carrillo–Chertock–Huang), minmod, SSP-RK2",
    }
    return DensityTrajectory(times=torch.as_tensor(save_times), density=torch.stack(states), params=params)
