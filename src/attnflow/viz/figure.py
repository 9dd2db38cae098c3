"""Figure plumbing: figures are created without pyplot (no global state) and saved on request."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from attnflow.trajectory import Trajectory

DPI = 120


def new_figure(width: float, height: float) -> Figure:
    """A figure with an Agg canvas attached (renders anywhere, needs no display)."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def finish(fig: Figure, path: str | os.PathLike[str] | None) -> Figure:
    """Save ``fig`` to ``path`` (format from the suffix, parent folders created) if given; return it."""
    if path is not None:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(target, dpi=DPI)
    return fig


def state_indices(traj: Trajectory, times: float | list[float] | None, default: int = 4) -> list[int]:
    """Sorted distinct indices of the states nearest to ``times`` (default: ``default`` evenly spaced)."""
    if times is None:
        count = min(default, traj.n_states)
        return sorted({round(i) for i in np.linspace(0, traj.n_states - 1, count)})
    wanted = np.atleast_1d(np.asarray(times, dtype=np.float64))
    if wanted.size == 0 or not np.all(np.isfinite(wanted)):
        raise ValueError(f"times must be finite {traj.axis} values, got {times!r}")
    stamps = traj.times.numpy()
    # Several requested times may share a nearest saved state; each state is shown once, in order.
    return sorted({int(np.argmin(np.abs(stamps - t))) for t in wanted})


def axis_label(traj: Trajectory) -> str:
    """``"time t"`` or ``"layer"``."""
    return "time t" if traj.axis == "time" else "layer"


def stamp(traj: Trajectory, index: int) -> str:
    """``"t = 1.5"`` or ``"layer 3"`` for the state at ``index``."""
    value = traj.times[index].item()
    return f"t = {value:.3g}" if traj.axis == "time" else f"layer {value:g}"
