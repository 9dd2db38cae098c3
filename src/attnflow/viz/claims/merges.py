"""Figure of the merge-order experiment: the energy staircase of each run over log time."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from attnflow.viz.figure import finish, new_figure


def plot_energy_staircases(
    times: Sequence[np.ndarray],
    energies: Sequence[np.ndarray],
    path: str | os.PathLike[str] | None = None,
    title: str | None = None,
) -> Figure:
    """``n⁻² Σ_ij e^{β(⟨x_i,x_j⟩−1)}`` against time (log axis), one line per run: plateaus and merge jumps.

    Args:
        times: per run, the saved times (positive entries are drawn).
        energies: per run, the normalised energy at those times.
        path: save there if given.
        title: the figure title.
    """
    fig = new_figure(7.0, 4.0)
    ax = fig.subplots()
    for k, (t, e) in enumerate(zip(times, energies, strict=True)):
        keep = t > 0
        ax.step(t[keep], e[keep], where="post", label=f"run {k}")
    ax.set_xscale("log")
    ax.set_xlabel("time t")
    ax.set_ylabel("n⁻² Σ exp(β(⟨xi,xj⟩−1))")
    ax.grid(alpha=0.3, which="both")
    ax.legend(frameon=False, fontsize=8)
    if title:
        fig.suptitle(title)
    return finish(fig, path)
