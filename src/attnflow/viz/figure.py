"""Figure plumbing: figures are created without pyplot (no global state) and saved on request."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import QuadMesh
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure

from attnflow.trajectory import Trajectory

DPI = 120


def new_figure(width: float, height: float) -> Figure:
    """A figure with an Agg canvas attached (renders anywhere, needs no display)."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


#: A PNG figure is also written as these, beside it, for papers (vector formats).
VECTOR_FORMATS = (".svg", ".pdf")

#: Where each format keeps the caption (matplotlib's metadata key for it).
_CAPTION_KEY = {".png": "Description", ".svg": "Description", ".pdf": "Subject"}


def finish(fig: Figure, path: str | os.PathLike[str] | None, caption: str | None = None) -> Figure:
    """Save ``fig`` to ``path`` (format from the suffix, parent folders created) if given; return it.

    Before saving, a legend that covers data is moved (see :func:`keep_legends_off_data`). A ``.png``
    is also written as ``.svg`` and ``.pdf`` beside it. Every file carries ``caption`` (default: one
    made from the titles and axis labels, :func:`describe`) in its metadata, where the report reads it
    (:func:`caption_of`).
    """
    if path is not None:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        keep_legends_off_data(fig)
        text = caption or describe(fig)
        targets = [target]
        if target.suffix.lower() == ".png":
            targets += [target.with_suffix(suffix) for suffix in VECTOR_FORMATS]
        for out in targets:
            key = _CAPTION_KEY.get(out.suffix.lower())
            fig.savefig(out, dpi=DPI, metadata={key: text} if key else None)
    return fig


def caption_of(path: str | os.PathLike[str]) -> str | None:
    """The caption :func:`finish` stored in a PNG, or ``None`` (another format, or none stored)."""
    from PIL import Image

    target = Path(path)
    if target.suffix.lower() != ".png":
        return None
    with Image.open(target) as image:
        return image.text.get("Description") or None


def describe(fig: Figure) -> str:
    """A caption from what the figure shows: its title, then each panel's y-axis against its x-axis."""
    panels = []
    for ax in fig.axes:
        if ax.get_label() == "<colorbar>":
            continue
        title, x, y = ax.get_title(), ax.get_xlabel(), ax.get_ylabel()
        what = f"{y} against {x}" if x and y else (y or x)
        if title and what:
            panels.append(f"{title}: {what}")
        elif title or what:
            panels.append(title or what)
    colourbars = [ax.get_ylabel() or ax.get_xlabel() for ax in fig.axes if ax.get_label() == "<colorbar>"]
    if any(colourbars):
        panels.append("colour: " + ", ".join(c for c in colourbars if c))
    heading = fig.get_suptitle() if hasattr(fig, "get_suptitle") else ""
    body = "; ".join(dict.fromkeys(panels))
    return ". ".join(part for part in (heading, body) if part) + "." if heading or body else ""


def keep_legends_off_data(fig: Figure) -> None:
    """Move every legend that covers plotted data: first to matplotlib's best place inside, else outside.

    Outside means to the right of its axes (the constrained layout makes room); text drawn for a dark
    background is then drawn dark, since it sits on the page.
    """
    for ax in _legend_axes(fig):
        if not _legend_covers_data(fig, ax):
            continue
        legend = ax.get_legend()
        legend.set_loc("best")
        if not _legend_covers_data(fig, ax):
            continue
        legend.set_loc("upper left")
        legend.set_bbox_to_anchor((1.02, 1.0), transform=ax.transAxes)
        for text in legend.get_texts():
            if np.mean(to_rgb(text.get_color())) > 0.8:
                text.set_color("0.1")
    fig.canvas.draw()


def legend_overlaps(fig: Figure) -> list[str]:
    """The panels (title, or ``"axes N"``) whose legend covers plotted data: empty when none does."""
    return [
        ax.get_title() or f"axes {i}"
        for i, ax in enumerate(_legend_axes(fig))
        if _legend_covers_data(fig, ax)
    ]


def _legend_axes(fig: Figure) -> list:
    return [ax for ax in fig.axes if ax.get_legend() is not None and ax.get_legend().get_visible()]


def _legend_covers_data(fig: Figure, ax) -> bool:
    """Whether the legend's box holds a point of a line, a marker, a bar, a cell text or a colour map."""
    fig.canvas.draw()
    box = ax.get_legend().get_window_extent()
    inside = ax.get_window_extent()
    for artist in [*ax.images, *(c for c in ax.collections if isinstance(c, QuadMesh))]:
        if artist.get_window_extent().overlaps(box) and inside.overlaps(box):
            return True
    for artist in [*ax.patches, *ax.texts]:
        if artist.get_visible() and artist.get_window_extent().overlaps(box):
            return True
    points = [
        _densify(line.get_transform().transform(line.get_xydata())) for line in ax.lines if line.get_visible()
    ]
    for collection in ax.collections:
        if isinstance(collection, QuadMesh) or not collection.get_visible():
            continue
        offsets = collection.get_offsets()
        if len(offsets):
            points.append(collection.get_offset_transform().transform(offsets))
        for p in collection.get_paths():
            if len(p.vertices):
                points.append(_densify(collection.get_transform().transform(p.vertices)))
    for xy in points:
        xy = xy[np.all(np.isfinite(xy), axis=1)]
        within = (xy[:, 0] >= box.x0) & (xy[:, 0] <= box.x1) & (xy[:, 1] >= box.y0) & (xy[:, 1] <= box.y1)
        if within.any():
            return True
    return False


def _densify(xy: np.ndarray, steps: int = 16) -> np.ndarray:
    """Points along each segment of a polyline, so a line crossing a box without a vertex in it counts."""
    if len(xy) < 2:
        return xy
    t = np.linspace(0.0, 1.0, steps, endpoint=False)[:, None, None]
    return np.concatenate([(xy[:-1] + t * (xy[1:] - xy[:-1])).reshape(-1, 2), xy[-1:]])


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
