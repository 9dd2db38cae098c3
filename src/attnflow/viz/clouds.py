"""Token clouds: on the circle (d = 2), on the sphere S² (d = 3), or projected by PCA (d > 3)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from matplotlib import animation, colormaps
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from attnflow._validate import check_trajectory, positive_int
from attnflow.trajectory import Trajectory
from attnflow.viz.figure import axis_label, finish, new_figure, stamp, state_indices


def _colours(traj: Trajectory) -> np.ndarray:
    """One colour per token from where it started: its angle on the circle, else its first PCA coordinate.

    Colouring by the start lets a reader see which initial tokens ended in which cluster.
    """
    x0 = traj.x[0].detach().cpu().double().numpy()
    if traj.dim == 2:
        return colormaps["twilight"]((np.arctan2(x0[:, 1], x0[:, 0]) + np.pi) / (2 * np.pi))
    centred = x0 - x0.mean(axis=0)
    first = centred @ np.linalg.svd(centred, full_matrices=False)[2][0] if traj.n_tokens > 1 else np.zeros(1)
    spread = np.ptp(first)
    return colormaps["viridis"]((first - first.min()) / spread if spread > 0 else np.full_like(first, 0.5))


def _pca_basis(traj: Trajectory, indices: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Mean and top-two principal directions of the selected states pooled (one frame for all panels)."""
    pooled = traj.x[indices].detach().cpu().double().numpy().reshape(-1, traj.dim)
    mean = pooled.mean(axis=0)
    directions = np.linalg.svd(pooled - mean, full_matrices=False)[2][:2]
    return mean, directions


def _draw_state(ax: Axes, traj: Trajectory, index: int, colours: np.ndarray, basis: tuple | None) -> None:
    x = traj.x[index].detach().cpu().double().numpy()
    if traj.dim == 2:
        circle = np.linspace(0, 2 * np.pi, 200)
        ax.plot(np.cos(circle), np.sin(circle), color="0.8", lw=0.8, zorder=0)
        ax.scatter(x[:, 0], x[:, 1], c=colours, s=14, edgecolors="none")
        ax.set_aspect("equal")
        ax.set_xlim(-1.15, 1.15)
        ax.set_ylim(-1.15, 1.15)
        ax.set_xlabel("$x_1$")
        ax.set_ylabel("$x_2$")
    elif traj.dim == 3:
        u, v = np.meshgrid(np.linspace(0, 2 * np.pi, 25), np.linspace(0, np.pi, 13))
        ax.plot_wireframe(np.cos(u) * np.sin(v), np.sin(u) * np.sin(v), np.cos(v), color="0.85", lw=0.4)
        ax.scatter(x[:, 0], x[:, 1], x[:, 2], c=colours, s=12, depthshade=False)
        ax.set_box_aspect((1, 1, 1))
        ax.set_xlabel("$x_1$")
        ax.set_ylabel("$x_2$")
        ax.set_zlabel("$x_3$")
    else:
        mean, directions = basis
        projected = (x - mean) @ directions.T
        ax.scatter(projected[:, 0], projected[:, 1], c=colours, s=14, edgecolors="none")
        ax.set_aspect("equal", adjustable="datalim")
        ax.set_xlabel("PC 1")
        ax.set_ylabel("PC 2")
    ax.set_title(stamp(traj, index))


def plot_cloud(
    traj: Trajectory,
    times: float | list[float] | None = None,
    path: str | os.PathLike[str] | None = None,
    title: str | None = None,
) -> Figure:
    """The token cloud at several times, one panel each.

    ``d = 2``: points on the unit circle; ``d = 3``: points on the sphere S² in 3-D; ``d > 3``: the
    projection on the top two principal components of the shown states pooled (the same axes in every
    panel). Tokens are coloured by their starting position, so clusters can be traced to their origin.

    Args:
        traj: the trajectory.
        times: the times (or layers) to show (nearest saved states); default four evenly spaced states
            including the first and the last.
        path: save the figure there (PNG, PDF or SVG by suffix) if given.
        title: a title over all panels.

    Returns:
        The matplotlib ``Figure``.
    """
    check_trajectory(traj)
    indices = state_indices(traj, times)
    colours = _colours(traj)
    basis = _pca_basis(traj, indices) if traj.dim > 3 else None
    fig = new_figure(3.2 * len(indices), 3.4)
    for k, index in enumerate(indices):
        projection = "3d" if traj.dim == 3 else None
        _draw_state(
            fig.add_subplot(1, len(indices), k + 1, projection=projection), traj, index, colours, basis
        )
    fig.suptitle(title or f"{traj.n_tokens} tokens in d = {traj.dim}")
    # The colour means where each token started: the colour bar says so.
    cmap, label, low, high = _colour_key(traj)
    bar = fig.colorbar(ScalarMappable(Normalize(low, high), cmap), ax=fig.axes, label=label, shrink=0.8)
    if traj.dim > 2:
        bar.set_ticks([low, high], labels=["low", "high"])
    where = "on the circle" if traj.dim == 2 else ("on the sphere S²" if traj.dim == 3 else "projected")
    stamps = ", ".join(stamp(traj, i) for i in indices)
    caption = (
        f"{fig.get_suptitle()}: the token cloud {where} at {stamps}"
        + (" (top two principal components of the shown states)" if traj.dim > 3 else "")
        + f"; colour: {label}."
    )
    return finish(fig, path, caption=caption)


def _colour_key(traj: Trajectory) -> tuple[str, str, float, float]:
    """The colour map, its meaning and its range, as :func:`_colours` uses them."""
    if traj.dim == 2:
        return "twilight", "starting angle (rad)", -np.pi, np.pi
    return "viridis", "start (1st principal comp.)", 0.0, 1.0


def animate_cloud(
    traj: Trajectory,
    path: str | os.PathLike[str],
    frames: int = 60,
    fps: int = 12,
    title: str | None = None,
) -> Path:
    """Write a GIF animation of the token cloud (circle, sphere or PCA projection, as :func:`plot_cloud`).

    Args:
        traj: the trajectory.
        path: the ``.gif`` file to write.
        frames: the number of frames (states evenly spaced over the trajectory; at most all of them).
        fps: frames per second.
        title: the title prefix of every frame.

    Returns:
        The path written.

    Raises:
        ValueError: ``path`` does not end in ``.gif``, or ``frames``/``fps`` are not positive integers.
    """
    check_trajectory(traj)
    if not str(path).lower().endswith(".gif"):
        raise ValueError(f"path must end in .gif, got {str(path)!r}")
    frames, fps = positive_int("frames", frames), positive_int("fps", fps)
    indices = state_indices(traj, None, default=frames)
    colours = _colours(traj)
    basis = _pca_basis(traj, indices) if traj.dim > 3 else None
    fig = new_figure(4.2, 4.2)
    ax = fig.add_subplot(projection="3d" if traj.dim == 3 else None)

    def draw(frame: int) -> list:
        ax.clear()
        _draw_state(ax, traj, indices[frame], colours, basis)
        ax.set_title(f"{title + ', ' if title else ''}{stamp(traj, indices[frame])}")
        return []

    movie = animation.FuncAnimation(fig, draw, frames=len(indices), blit=False)
    movie.save(str(path), writer=animation.PillowWriter(fps=fps), dpi=80)
    return Path(path)


def plot_trajectories(
    traj: Trajectory, path: str | os.PathLike[str] | None = None, title: str | None = None
) -> Figure:
    """Every token's path over time: its angle on the circle for ``d = 2``; otherwise its cosine with
    the final mean direction of the cloud (1 when the token has joined a cluster at the mean).

    Args:
        traj: the trajectory.
        path: save the figure there if given.
        title: the figure title.

    Returns:
        The matplotlib ``Figure``.
    """
    check_trajectory(traj)
    x = traj.x.detach().cpu().double().numpy()
    t = traj.times.numpy()
    colours = _colours(traj)
    fig = new_figure(6.0, 3.8)
    ax = fig.add_subplot()
    if traj.dim == 2:
        angles = np.unwrap(np.arctan2(x[..., 1], x[..., 0]), axis=0)
        ylabel = "angle θ_i (rad)"
        values = angles
    else:
        mean = x[-1].mean(axis=0)
        direction = mean / (np.linalg.norm(mean) or 1.0)
        values = (x @ direction) / np.maximum(np.linalg.norm(x, axis=-1), 1e-300)
        ylabel = "cos(x_i, final mean direction)"
    for i in range(traj.n_tokens):
        ax.plot(t, values[:, i], color=colours[i], lw=0.7, alpha=0.8)
    ax.set_xlabel(axis_label(traj))
    ax.set_ylabel(ylabel)
    ax.set_title(title or f"token paths, n = {traj.n_tokens}, d = {traj.dim}")
    return finish(fig, path)
