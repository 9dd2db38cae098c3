"""Phase diagrams from a sweep: a heat map of one result over two swept (or value) dimensions."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr
from matplotlib import colormaps
from matplotlib.figure import Figure

from attnflow.viz.figure import finish, new_figure

# Grids up to this many cells get their values written in the cells.
_ANNOTATE_CELLS = 64
_LABELS = {"beta": "β", "time": "time t", "layer": "layer", "d": "dimension d", "n": "tokens n"}


def phase_diagram(
    ds: xr.Dataset,
    var: str | None = None,
    x: str | None = None,
    y: str | None = None,
    facet: str | None = None,
    sel: Mapping[str, Any] | None = None,
    contour: Sequence[float] = (),
    path: str | os.PathLike[str] | None = None,
    title: str | None = None,
) -> Figure:
    """Draw ``ds[var]`` as a heat map over dimensions ``x`` and ``y``, one panel per value of ``facet``.

    Every other dimension is first fixed by ``sel`` (nearest value for numbers) or else averaged over,
    ignoring runs that failed or have not run (the title says what was averaged). Evenly spaced numeric
    coordinates are drawn to scale, others as equal cells labelled by value; small grids (up to 64
    cells) get each cell's value written in it.

    Args:
        ds: a sweep's Dataset (:func:`attnflow.sweep.open`).
        var: the variable to draw (default: the first).
        x: dimension on the horizontal axis (default: the last dimension not otherwise used).
        y: dimension on the vertical axis (default: the first dimension not otherwise used).
        facet: a dimension to split into panels, or ``None`` for one panel.
        sel: fixed values of other dimensions, e.g. ``{"d": 8}``.
        contour: levels at which to draw contour lines on top (e.g. ``[0.5]`` for a phase boundary).
        path: save the figure there if given.
        title: the figure title (default: the variable and what was averaged).

    Returns:
        The matplotlib ``Figure``.

    Raises:
        KeyError: ``var`` or a named dimension does not exist (the message lists what does).
        ValueError: ``x``, ``y`` and ``facet`` are not distinct, or there are no two dimensions to draw.
    """
    names = [name for name in ds.data_vars if name != "run_status"]
    if not names:
        raise ValueError("the sweep holds no finished runs yet")
    var = var if var is not None else names[0]
    if var not in names:
        raise KeyError(f"var: no variable {var!r} in the sweep; it has {', '.join(names)}")
    data = ds[var]
    free = [d for d in data.dims if d not in (sel or {}) and d not in (x, facet)]
    y = y if y is not None else (free[0] if free else None)
    x = x if x is not None else next((d for d in reversed(free) if d != y), None)
    if x is None or y is None:
        raise ValueError(f"{var!r} needs two free dimensions for a heat map; its dimensions are {data.dims}")
    named = [d for d in (x, y, facet) if d is not None]
    if len(set(named)) != len(named):
        raise ValueError(f"x, y and facet must be different dimensions, got {named}")
    for label, dim in [("x", x), ("y", y), ("facet", facet), *((f"sel.{k}", k) for k in sel or {})]:
        if dim is not None and dim not in data.dims:
            raise KeyError(
                f"{label}: {var!r} has no dimension {dim!r}; its dimensions are {', '.join(data.dims)}"
            )
    for dim, value in (sel or {}).items():
        numeric = np.issubdtype(data[dim].dtype, np.number) if dim in data.coords else False
        data = data.sel({dim: value}, method="nearest" if numeric else None)
    averaged = [d for d in data.dims if d not in named]
    data = data.astype(np.float64).mean(averaged, skipna=True) if averaged else data.astype(np.float64)

    panels = [(None, data)] if facet is None else [(v, data.sel({facet: v})) for v in data[facet].values]
    fig = new_figure(3.8 * len(panels) + 0.9, 3.6)
    axes = fig.subplots(1, len(panels), sharey=True, squeeze=False)[0]
    finite = data.values[np.isfinite(data.values)]
    vmin, vmax = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    image = None
    for ax, (value, panel) in zip(axes, panels, strict=True):
        panel = panel.transpose(y, x)
        xs, ys = _axis_values(panel, x), _axis_values(panel, y)
        image = ax.pcolormesh(
            xs, ys, panel.values, cmap=colormaps["viridis"], vmin=vmin, vmax=vmax, shading="nearest"
        )
        if contour and panel.sizes[x] > 1 and panel.sizes[y] > 1:
            lines = ax.contour(xs, ys, panel.values, levels=sorted(contour), colors="w", linewidths=1.4)
            ax.clabel(lines, fmt="%g", fontsize=8)
        for dim, set_ticks in ((x, ax.set_xticks), (y, ax.set_yticks)):
            if not _evenly_spaced(panel, dim):
                set_ticks(
                    np.arange(panel.sizes[dim]),
                    [f"{v:g}" if _numeric(panel, dim) else str(v) for v in panel[dim].values],
                )
        if panel.sizes[x] * panel.sizes[y] <= _ANNOTATE_CELLS:
            for (j, i), cell in np.ndenumerate(panel.values):
                if np.isfinite(cell):
                    colour = "w" if cell < (vmin + vmax) / 2 else "k"
                    ax.text(xs[i], ys[j], f"{cell:.2g}", ha="center", va="center", fontsize=8, color=colour)
        ax.set_xlabel(_LABELS.get(x, x))
        if value is not None:
            ax.set_title(f"{_LABELS.get(facet, facet)} = {value}")
    axes[0].set_ylabel(_LABELS.get(y, y))
    fig.colorbar(image, ax=list(axes), label=var)
    suffix = f" (mean over {', '.join(averaged)})" if averaged else ""
    fig.suptitle(title or f"{var}{suffix}")
    return finish(fig, path)


def _numeric(panel: xr.DataArray, dim: str) -> bool:
    return bool(np.issubdtype(panel[dim].dtype, np.number))


def _evenly_spaced(panel: xr.DataArray, dim: str) -> bool:
    """Numeric coordinates with equal steps (drawn to scale); anything else is drawn as equal cells."""
    if not _numeric(panel, dim):
        return False
    steps = np.diff(panel[dim].values.astype(np.float64))
    return steps.size == 0 or bool(np.allclose(steps, steps[0], rtol=1e-6))


def _axis_values(panel: xr.DataArray, dim: str) -> np.ndarray:
    """Coordinates along ``dim`` if evenly spaced numbers, else positions (the labels go on the ticks)."""
    return panel[dim].values if _evenly_spaced(panel, dim) else np.arange(panel.sizes[dim])
