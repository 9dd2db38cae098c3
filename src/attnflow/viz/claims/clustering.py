"""Figures of the clustering experiments: one cluster, causal and cone collapse, the equiangular curve,
metastable clusters and the Euclidean polytope."""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.ticker import ScalarFormatter

from attnflow._validate import check_trajectory
from attnflow.trajectory import Trajectory
from attnflow.viz.figure import finish, new_figure


def plot_fraction_in_one_cluster(
    times: np.ndarray,
    fractions: Mapping[str, np.ndarray],
    threshold: float,
    path: str | os.PathLike[str] | None = None,
    title: str | None = None,
) -> Figure:
    """The fraction of starts whose tokens form one cluster, over time, one step curve per setting.

    Args:
        times: shape ``(T,)``.
        fractions: shape ``(T,)`` curves in ``[0, 1]`` by legend label.
        threshold: the cluster criterion ``min_ij ⟨xi,xj⟩ ≥ threshold`` (for the axis label).
        path: save the figure there if given.
        title: the figure title.
    """
    fig = new_figure(6.4, 4.0)
    ax = fig.add_subplot()
    for label, fraction in fractions.items():
        ax.step(times, fraction, where="post", label=label)
    ax.set_xscale("symlog", linthresh=1.0)
    ax.set_xlabel("time t")
    ax.set_ylabel(f"fraction of starts in one cluster\n(min ⟨xi,xj⟩ ≥ {threshold:g})")
    if title:
        ax.set_title(title)
    ax.legend(frameon=False, fontsize=8)
    ax.grid(alpha=0.3)
    return finish(fig, path)


def plot_distance_to_first_token(
    traj: Trajectory, path: str | os.PathLike[str] | None = None, title: str | None = None
) -> Figure:
    """Distance of tokens 2..n to the first token's start ``x₁(0)`` over time, coloured by position."""
    check_trajectory(traj)
    distance = (traj.x - traj.x[0, 0]).norm(dim=-1).numpy()
    fig = new_figure(6.0, 3.8)
    ax = fig.add_subplot()
    for k in range(1, traj.n_tokens):
        colour = colormaps["viridis"](k / max(traj.n_tokens - 1, 1))
        ax.semilogy(
            traj.times.numpy(),
            distance[:, k],
            color=colour,
            label=f"token {k + 1}" if k in (1, traj.n_tokens - 1) else None,
        )
    ax.legend(frameon=False, fontsize=8)
    ax.set_xlabel("time t")
    ax.set_ylabel("|x_k(t) − x_1(0)|")
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    return finish(fig, path)


def plot_collapse_residuals(
    curves: Mapping[str, tuple[np.ndarray, np.ndarray]],
    window: tuple[float, float],
    path: str | os.PathLike[str] | None = None,
    title: str | None = None,
) -> Figure:
    """Relative collapse residuals ``‖X − 1x̄ᵀ‖ / ‖X‖`` against rescaled time, with the fit window shaded.

    Args:
        curves: ``(time × predicted rate, residual)`` by legend label.
        window: the residual range ``(low, high)`` the rates were fitted on.
        path: save the figure there if given.
        title: the figure title.
    """
    fig = new_figure(6.4, 4.0)
    ax = fig.add_subplot()
    for label, (scaled_time, residual) in curves.items():
        ax.semilogy(scaled_time, residual, label=label)
    ax.axhspan(*window, color="0.9", zorder=0, label="fit window")
    ax.set_xlabel("time × predicted rate")
    ax.set_ylabel("‖X − 1x̄ᵀ‖ / ‖X‖")
    if title:
        ax.set_title(title)
    ax.legend(frameon=False, fontsize=8)
    ax.grid(alpha=0.3)
    return finish(fig, path)


def plot_equiangular_curve(
    curves: Mapping[float, tuple[np.ndarray, np.ndarray, np.ndarray]],
    path: str | os.PathLike[str] | None = None,
    title: str | None = None,
) -> Figure:
    """The equiangular curve γ(t) against a simulated pairwise inner product, one colour per β.

    Args:
        curves: ``(times, γ(times), simulated ⟨x₁, x₂⟩)`` by β.
        path: save the figure there if given.
        title: the figure title.
    """
    fig = new_figure(6.4, 4.0)
    ax = fig.add_subplot()
    for beta, (t, gamma, simulated) in curves.items():
        line = ax.plot(t, gamma, lw=1.5, label=f"γ(t), β = {beta:g}")[0]
        ax.plot(t[::5], simulated[::5], "o", ms=3.5, color=line.get_color(), mfc="none")
    ax.plot([], [], "ko", mfc="none", ms=3.5, label="simulated ⟨x₁, x₂⟩")
    ax.set_xscale("log")
    ax.set_xlabel("time t")
    ax.set_ylabel("pairwise inner product")
    if title:
        ax.set_title(title)
    ax.legend(frameon=False, fontsize=8)
    ax.grid(alpha=0.3)
    return finish(fig, path)


def plot_clusters_against_beta(
    betas: np.ndarray,
    formation_modes: np.ndarray,
    plateau_counts: np.ndarray,
    fastest_modes: np.ndarray,
    path: str | os.PathLike[str] | None = None,
    title: str | None = None,
) -> Figure:
    """The dominant mode at formation and the plateau's cluster count against β, with √(2β), the rival
    √β and the fastest linear mode ℓ*.

    Args:
        betas: shape ``(B,)``.
        formation_modes: shape ``(B, S)``, the dominant Fourier mode at formation of each of ``S`` starts.
        plateau_counts: shape ``(B, S)``, the plateau's cluster count of each start.
        fastest_modes: shape ``(B,)``, ℓ* at each β.
        path: save the figure there if given.
        title: the figure title.
    """
    betas = np.asarray(betas, dtype=float)
    fig = new_figure(5.6, 4.0)
    ax = fig.add_subplot()
    fine = np.geomspace(betas.min() / 1.5, betas.max() * 1.5, 100)
    ax.loglog(fine, np.sqrt(2 * fine), "k-", lw=1, label="√(2β)")
    ax.loglog(fine, np.sqrt(fine), "k:", lw=1, label="rival √β")
    ax.loglog(betas, fastest_modes, "ks", mfc="none", label="ℓ* = argmax ℓ² I_ℓ(β)")
    for beta, formed, plateau in zip(betas, formation_modes, plateau_counts, strict=True):
        ax.loglog([beta] * len(formed), formed, "x", color="tab:orange")
        ax.loglog([beta] * len(plateau), plateau, "o", color="tab:blue", alpha=0.7)
    ax.plot([], [], "x", color="tab:orange", label="dominant mode at formation")
    ax.plot([], [], "o", color="tab:blue", label="clusters on the metastable plateau")
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(ScalarFormatter())
        axis.set_minor_formatter(ScalarFormatter())
    ax.set_xlabel("β")
    ax.set_ylabel("number of clusters")
    if title:
        ax.set_title(title)
    ax.legend(frameon=False, fontsize=8)
    ax.grid(alpha=0.3, which="both")
    return finish(fig, path)


def plot_polytope(
    z: np.ndarray, limits: np.ndarray, path: str | os.PathLike[str] | None = None, title: str | None = None
) -> Figure:
    """Rescaled token paths in the plane, their limits and the convex hull of the limits.

    Args:
        z: shape ``(T, n, 2)``, the rescaled tokens ``z = e^{−t} x``.
        limits: shape ``(m, 2)``, the distinct limits.
        path: save the figure there if given.
        title: the figure title.
    """
    from scipy.spatial import ConvexHull

    fig = new_figure(5.2, 5.0)
    ax = fig.add_subplot()
    for i in range(z.shape[1]):
        ax.plot(z[:, i, 0], z[:, i, 1], color="0.6", lw=0.7)
    ax.plot(z[0, :, 0], z[0, :, 1], "o", ms=3, color="tab:blue", label="z_i(0) = x_i(0)")
    if limits.shape[0] >= 3:
        hull = ConvexHull(limits)
        ring = np.append(hull.vertices, hull.vertices[0])
        ax.fill(limits[ring, 0], limits[ring, 1], color="tab:orange", alpha=0.12, lw=0)
        ax.plot(limits[ring, 0], limits[ring, 1], color="tab:orange", lw=1.2, label="hull of the limits")
    ax.plot(limits[:, 0], limits[:, 1], "*", ms=12, color="tab:red", label="limits of z_i")
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    if title:
        ax.set_title(title)
    ax.legend(frameon=False, fontsize=8)
    return finish(fig, path)
