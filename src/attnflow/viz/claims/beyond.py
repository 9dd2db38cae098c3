"""Figures of the experiments on random value matrices and on retrieval along a causal prompt."""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np
from matplotlib.figure import Figure

from attnflow.viz.figure import finish, new_figure


def plot_probability_grid(
    curves: Mapping[int, tuple[np.ndarray, np.ndarray]],
    betas: np.ndarray,
    dims: np.ndarray,
    measured: np.ndarray,
    intervals: np.ndarray,
    path: str | os.PathLike[str] | None = None,
    title: str | None = None,
    ylabel: str = "probability",
) -> Figure:
    """A predicted probability against β, one curve per dimension, with the measured points and intervals.

    Args:
        curves: ``(betas, predicted probability)`` by dimension ``d``.
        betas, dims: the grid points measured.
        measured: the measured probability at each point.
        intervals: ``(low, high)`` at each point, shape ``(points, 2)``.
        path: save the figure there if given.
        title: the figure title.
        ylabel: what the probability is of.
    """
    fig = new_figure(6.4, 4.2)
    ax = fig.add_subplot()
    colours = {}
    for d, (grid, probability) in curves.items():
        (line,) = ax.plot(grid, probability, label=f"d = {d}, theory")
        colours[int(d)] = line.get_color()
    for beta, d, value, (low, high) in zip(betas, dims, measured, intervals, strict=True):
        colour = colours.get(int(d), "k")
        ax.errorbar(beta, value, yerr=[[value - low], [high - value]], fmt="o", color=colour, capsize=3, ms=4)
    ax.set_xlabel("β")
    ax.set_ylabel(ylabel)
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize="small", title="points: measured, with intervals")
    if title:
        ax.set_title(title)
    return finish(fig, path)


def plot_retrieval_profile(
    profiles: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray | None]],
    path: str | os.PathLike[str] | None = None,
    title: str | None = None,
) -> Figure:
    """Retrieval against the source position: measured (with error bars) and predicted (dashed).

    Args:
        profiles: ``(positions, values, standard errors or None)`` by legend label; ``None`` draws a
            dashed prediction.
        path: save the figure there if given.
        title: the figure title.
    """
    fig = new_figure(6.4, 4.2)
    ax = fig.add_subplot()
    for label, (positions, values, errors) in profiles.items():
        if errors is None:
            ax.plot(positions, values, "--", lw=1.2, label=label)
        else:
            ax.errorbar(positions, values, yerr=errors, fmt="o-", ms=3, capsize=2, label=label)
    ax.set_xlabel("source position j")
    ax.set_ylabel("retrieval E⟨x_n(t), x_j(0)⟩")
    ax.legend(fontsize="small")
    if title:
        ax.set_title(title)
    return finish(fig, path)
