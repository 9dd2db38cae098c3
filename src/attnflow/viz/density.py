"""Figures of densities on the circle: the density over time as a heat map, with particles on top."""

from __future__ import annotations

import os

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from attnflow.measure.density import particle_angles
from attnflow.trajectory import DensityTrajectory, Trajectory
from attnflow.viz.figure import finish, new_figure


def draw_density(
    ax: Axes, density: DensityTrajectory, particles: Trajectory | None = None, max_particles: int = 64
) -> None:
    """Draw ``ρ_t(θ)`` as a heat map over (time, angle) on ``ax``, with particle paths on top.

    Args:
        ax: the axes to draw on.
        density: the densities.
        particles: optional tokens on the circle (``d = 2``) whose angle paths are overlaid.
        max_particles: overlay at most this many tokens (evenly chosen).
    """
    times = density.times.numpy()
    edges_t = np.concatenate([[times[0]], 0.5 * (times[1:] + times[:-1]), [times[-1]]])
    edges_a = np.linspace(0.0, 2 * np.pi, density.n_cells + 1)
    mesh = ax.pcolormesh(edges_t, edges_a, density.numpy().T, cmap="magma", shading="flat", rasterized=True)
    ax.figure.colorbar(mesh, ax=ax, label="density ρ(t, θ)")
    if particles is not None:
        pick = np.unique(
            np.linspace(0, particles.n_tokens - 1, min(max_particles, particles.n_tokens)).astype(int)
        )
        angles = particle_angles(particles).numpy()[:, pick]
        # Break a path where it crosses θ = 0 ≡ 2π, so no line runs across the whole plot.
        crossing = np.abs(np.diff(angles, axis=0)) > np.pi
        t = particles.times.numpy()
        for k in range(angles.shape[1]):
            cuts = np.flatnonzero(crossing[:, k]) + 1
            for part_t, part_a in zip(np.split(t, cuts), np.split(angles[:, k], cuts), strict=True):
                ax.plot(part_t, part_a, color="cyan", lw=0.5, alpha=0.55)
        ax.plot([], [], color="cyan", lw=1, label=f"{len(pick)} of {particles.n_tokens} tokens")
        ax.legend(loc="upper right", fontsize="small")
    ax.set_xlabel("time t")
    ax.set_ylabel("angle θ (rad)")
    ax.set_ylim(0, 2 * np.pi)
    ax.set_xlim(times[0], times[-1])


def plot_density(
    density: DensityTrajectory,
    particles: Trajectory | None = None,
    path: str | os.PathLike[str] | None = None,
    title: str | None = None,
) -> Figure:
    """A figure of the density over time (heat map), optionally with particles on top.

    Args:
        density: the densities.
        particles: optional tokens on the circle to overlay.
        path: where to save the figure (format from the suffix); not saved if ``None``.
        title: the title; by default built from the solver's parameters.

    Returns:
        The matplotlib ``Figure``.
    """
    fig = new_figure(8, 4)
    ax = fig.add_subplot()
    draw_density(ax, density, particles)
    p = density.params
    ax.set_title(title or f"mean-field density, {p.get('variant', '')} β = {p.get('beta', float('nan')):g}")
    return finish(fig, path)
