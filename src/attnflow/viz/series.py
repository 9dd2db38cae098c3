"""Curves and maps over time: energy, the energy staircase, cosine histograms, the (t, β) phase diagram."""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np
import xarray as xr
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from attnflow._validate import check_trajectory, finite_number, positive_number
from attnflow.measure import DEFAULT_TOL, clusters, cosine_histogram, energy, energy_staircase, plateaus
from attnflow.trajectory import Trajectory
from attnflow.viz.figure import axis_label, finish, new_figure, stamp, state_indices


def _beta_of(traj: Trajectory, beta: float | None, label: str) -> float:
    if beta is not None:
        return finite_number("beta", beta)
    if "beta" not in traj.params:
        raise ValueError(f"run {label!r} has no 'beta' in its params; pass beta=...")
    return finite_number("beta", traj.params["beta"])


def plot_energy(
    runs: Trajectory | Mapping[str, Trajectory],
    beta: float | None = None,
    normalised: bool = False,
    path: str | os.PathLike[str] | None = None,
    title: str | None = None,
) -> Figure:
    """The interaction energy over time for one or several runs (which never decreases for Q = K = V = I).

    Args:
        runs: a Trajectory, or several by legend label (e.g. ``{"β = 1": a, "β = 9": b}``).
        beta: the β of the energy; by default each run's own ``params["beta"]``.
        normalised: plot the staircase ``n⁻² Σ_ij e^{β(⟨x_i,x_j⟩−1)}`` (in ``(0, 1]``, comparable across β)
            instead of ``E_β``.
        path: save the figure there if given.
        title: the figure title.

    Returns:
        The matplotlib ``Figure``.

    Raises:
        ValueError: no ``beta`` given and a run has none in its params.
    """
    named = {"": runs} if isinstance(runs, Trajectory) else dict(runs)
    if not named:
        raise ValueError("runs must hold at least one Trajectory")
    fig = new_figure(6.0, 3.8)
    ax = fig.add_subplot()
    for label, traj in named.items():
        check_trajectory(traj, f"runs[{label!r}]")
        b = _beta_of(traj, beta, label)
        curve = energy_staircase(traj, b) if normalised else energy(traj, b)
        ax.plot(traj.times.numpy(), curve.values, lw=1.6, label=label or f"β = {b:g}")
    first = next(iter(named.values()))
    ax.set_xlabel(axis_label(first))
    ax.set_ylabel("n⁻² Σ exp(β(⟨xi,xj⟩−1))" if normalised else "energy E_β")
    ax.set_title(title or ("energy staircase" if normalised else "interaction energy E_β"))
    ax.legend(frameon=False)
    ax.grid(alpha=0.3)
    return finish(fig, path)


def plot_staircase(
    traj: Trajectory,
    beta: float | None = None,
    tol: float = DEFAULT_TOL,
    path: str | os.PathLike[str] | None = None,
    title: str | None = None,
) -> Figure:
    """The energy staircase with the cluster count below it: plateaus, their levels, and ``Σ_q m_q²``.

    The top panel shows ``n⁻² Σ_ij e^{β(⟨x_i,x_j⟩−1)}``, the detected plateaus (:func:`plateaus`) as
    shaded spans, and ``Σ_q m_q²`` of the clusters found at tolerance ``tol`` (dashed): on a metastable
    plateau the two agree. The bottom panel shows the number of clusters.

    Args:
        traj: the trajectory (on the sphere).
        beta: the β of the staircase; default ``traj.params["beta"]``.
        tol: the cluster tolerance (see :func:`attnflow.measure.clusters`).
        path: save the figure there if given.
        title: the figure title.

    Returns:
        The matplotlib ``Figure``.
    """
    check_trajectory(traj)
    b = _beta_of(traj, beta, "traj")
    tol = positive_number("tol", tol)
    steps = energy_staircase(traj, b)
    found = clusters(traj, tol=tol)
    squares = (found["mass"] ** 2).sum("cluster")
    t = traj.times.numpy()
    fig = new_figure(6.4, 5.0)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(2, 1))
    top.plot(t, steps.values, lw=1.8, label="n⁻² Σ exp(β(⟨xi,xj⟩−1))")
    top.plot(t, squares.values, "--", lw=1.2, color="k", label=f"Σ m_q² (clusters at tol {tol:g})")
    if traj.n_states >= 3:
        flat = plateaus(steps)
        for start, end in zip(flat["start"].values, flat["end"].values, strict=True):
            top.axvspan(start, end, color="tab:orange", alpha=0.15, lw=0)
    top.set_ylabel("staircase")
    top.set_title(title or f"energy staircase, β = {b:g}, n = {traj.n_tokens}, d = {traj.dim}")
    top.legend(frameon=False, loc="best")
    top.grid(alpha=0.3)
    bottom.step(t, found["count"].values, where="post", color="tab:green")
    bottom.yaxis.set_major_locator(MaxNLocator(integer=True))
    bottom.set_ylabel("clusters")
    bottom.set_xlabel(axis_label(traj))
    bottom.grid(alpha=0.3)
    return finish(fig, path)


def plot_cosine_histograms(
    traj: Trajectory,
    times: float | list[float] | None = None,
    bins: int = 40,
    path: str | os.PathLike[str] | None = None,
    title: str | None = None,
) -> Figure:
    """Histograms of the pairwise cosines at several times (or layers), one panel each.

    Args:
        traj: the trajectory.
        times: the times or layers to show; default six evenly spaced states including the ends.
        bins: the number of bins on ``[-1, 1]``.
        path: save the figure there if given.
        title: the figure title.

    Returns:
        The matplotlib ``Figure``.
    """
    check_trajectory(traj)
    indices = state_indices(traj, times, default=6)
    hist = cosine_histogram(traj[indices], bins=bins)
    width = float(hist["right"][0] - hist["left"][0])
    fig = new_figure(2.3 * len(indices), 2.6)
    axes = fig.subplots(1, len(indices), sharey=True, squeeze=False)[0]
    for ax, index, row in zip(axes, indices, hist.values, strict=True):
        ax.bar(hist["cosine"].values, row / width, width=width, color="tab:blue", alpha=0.8)
        ax.set_title(stamp(traj, index))
        ax.set_xlim(-1, 1)
        ax.set_xlabel("cos(xi, xj)")
    axes[0].set_ylabel("density of pairs")
    fig.suptitle(title or f"pairwise cosines, n = {traj.n_tokens}, d = {traj.dim}")
    return finish(fig, path)


def plot_phase_diagram(
    maps: Mapping[str, xr.DataArray],
    curves: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
    path: str | os.PathLike[str] | None = None,
    title: str | None = None,
) -> Figure:
    """Heat maps over ``(t, β)`` (e.g. ``P(⟨x_i,x_j⟩ ≥ 0.999)``) with theory curves on top, one panel each.

    Args:
        maps: ``DataArray``s with dims ``("beta", "time")`` and values in ``[0, 1]``, by panel title.
        curves: for each panel title, the theory curve as ``(t, beta)`` arrays (drawn white-on-black).
        path: save the figure there if given.
        title: the figure title.

    Returns:
        The matplotlib ``Figure``.

    Raises:
        ValueError: a map does not have dims ``("beta", "time")``.
    """
    if not maps:
        raise ValueError("maps must hold at least one heat map")
    fig = new_figure(3.6 * len(maps) + 0.8, 3.6)
    axes = fig.subplots(1, len(maps), sharey=True, squeeze=False)[0]
    image = None
    for ax, (label, heat) in zip(axes, maps.items(), strict=True):
        if set(heat.dims) != {"beta", "time"}:
            raise ValueError(f"maps[{label!r}] must have dims ('beta', 'time'), got {heat.dims}")
        heat = heat.transpose("beta", "time")
        image = ax.pcolormesh(
            heat["time"].values,
            heat["beta"].values,
            heat.values,
            cmap=colormaps["magma"],
            vmin=0,
            vmax=1,
            shading="nearest",
        )
        if curves and label in curves:
            t_curve, beta_curve = curves[label]
            ax.plot(t_curve, beta_curve, color="k", lw=3.0)
            ax.plot(t_curve, beta_curve, color="w", lw=1.4, label="theory: γ_β(t) = 1 − δ")
            ax.legend(frameon=False, loc="upper left", labelcolor="w")
        ax.set_xlim(heat["time"].values.min(), heat["time"].values.max())
        ax.set_ylim(heat["beta"].values.min(), heat["beta"].values.max())
        ax.set_title(label)
        ax.set_xlabel("time t")
    axes[0].set_ylabel("β")
    fig.colorbar(image, ax=list(axes), label="fraction of pairs")
    if title:
        fig.suptitle(title)
    return finish(fig, path)
