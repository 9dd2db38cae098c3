"""Curves and maps: energy, the energy staircase, cosine histograms, and the one phase-diagram plotter."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr
from matplotlib import colormaps, patheffects
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from attnflow._validate import check_trajectory, finite_number, positive_number
from attnflow.measure import DEFAULT_TOL, clusters, cosine_histogram, energy, energy_staircase, plateaus
from attnflow.trajectory import Trajectory
from attnflow.viz.figure import axis_label, finish, new_figure, stamp, state_indices

# Maps up to this many cells get their values written in the cells.
_ANNOTATE_CELLS = 64
_LABELS = {"beta": "β", "time": "time t", "layer": "layer", "d": "dimension d", "n": "tokens n"}


def _beta_of(traj: Trajectory, beta: float | None, label: str) -> float:
    if beta is not None:
        return finite_number("beta", beta)
    if "beta" not in traj.params:
        raise ValueError(f"run {label!r} has no 'beta' in its params; pass beta=...")
    return finite_number("beta", traj.params["beta"])


#: The one energy of the claims, E_β = (1/(2βn²)) Σ_ij e^{β⟨x_i,x_j⟩} (:func:`attnflow.measure.energy`).
ENERGY = r"energy $E_\beta = \frac{1}{2\beta n^2}\sum_{ij} e^{\beta\langle x_i,x_j\rangle}$"
#: The same energy rescaled to (0, 1], so runs at different β compare (``measure.energy_staircase``).
NORMALISED_ENERGY = r"$2\beta e^{-\beta} E_\beta = n^{-2}\sum_{ij} e^{\beta(\langle x_i,x_j\rangle - 1)}$"
_ENERGY_CAPTION = "the interaction energy E_β = (1/(2βn²)) Σ_ij e^{β⟨x_i,x_j⟩}"
_NORMALISED_CAPTION = (
    "the normalised energy 2β e^{−β} E_β = n^{−2} Σ_ij e^{β(⟨x_i,x_j⟩−1)} (1 when all tokens coincide, "
    "about 1/k on k equal clusters), the claims' E_β rescaled so runs at different β compare"
)


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
    ax.set_ylabel(NORMALISED_ENERGY if normalised else ENERGY)
    ax.set_title(title or ("energy staircase" if normalised else "interaction energy E_β"))
    ax.legend(frameon=False)
    ax.grid(alpha=0.3)
    what = _NORMALISED_CAPTION if normalised else _ENERGY_CAPTION
    return finish(
        fig, path, caption=f"{ax.get_title()}: {what} against {axis_label(first)}, one curve per run."
    )


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
    # Single linkage chains a dense cloud into one "cluster" long before it clusters: counts are shown
    # only at states where the cloud is separated (see separated_states), elsewhere they are blank.
    shown = separated_states(traj, found["labels"].values, tol)
    squares = (found["mass"] ** 2).sum("cluster").values.copy()
    counts = found["count"].values.astype(np.float64)
    squares[~shown], counts[~shown] = np.nan, np.nan
    t = traj.times.numpy()
    fig = new_figure(6.4, 5.0)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(2, 1))
    top.plot(t, steps.values, lw=1.8, label=NORMALISED_ENERGY)
    top.plot(t, squares, "--", lw=1.2, color="k", label=f"Σ m_q² (clusters at tol {tol:g})")
    if traj.n_states >= 3:
        flat = plateaus(steps)
        for start, end in zip(flat["start"].values, flat["end"].values, strict=True):
            top.axvspan(start, end, color="tab:orange", alpha=0.15, lw=0)
    top.set_ylabel("normalised energy")
    top.set_title(title or f"energy staircase, β = {b:g}, n = {traj.n_tokens}, d = {traj.dim}")
    top.legend(frameon=False, loc="best")
    top.grid(alpha=0.3)
    bottom.step(t, counts, where="post", color="tab:green")
    for start, end in _runs(t, ~shown):
        bottom.axvspan(start, end, color="0.85", lw=0)
    bottom.yaxis.set_major_locator(MaxNLocator(integer=True))
    bottom.set_ylabel("clusters")
    bottom.set_xlabel(axis_label(traj))
    bottom.grid(alpha=0.3)
    caption = (
        f"{top.get_title()}. Top: {_NORMALISED_CAPTION}, with its plateaus shaded, and Σ m_q² of the "
        f"clusters found at tolerance {tol:g} (dashed). Bottom: the number of those clusters, shown "
        f"only where the cloud is separated (every cluster within {SEPARATION_LINKS} links of its centre; "
        "grey: single linkage would chain a dense cloud into one cluster there)."
    )
    return finish(fig, path, caption=caption)


#: A state's clusters are a result when every cluster lies within this many linking distances of its
#: centre; a wider one is a single-linkage chain through a cloud that has not separated.
SEPARATION_LINKS = 2


def separated_states(traj: Trajectory, labels: np.ndarray, tol: float) -> np.ndarray:
    """Whether each state's single-linkage clusters (``labels``, ``(states, tokens)``) are separated.

    Separated means every cluster is compact: each member within ``SEPARATION_LINKS × tol`` of its
    cluster's mean point. A uniform cloud dense enough that neighbours are closer than ``tol`` is one
    chain spanning the sphere, far wider than that, so it is not reported as "1 cluster".
    """
    x = traj.x.detach().cpu().numpy().astype(np.float64)
    result = np.empty(x.shape[0], dtype=bool)
    for i, (cloud, label) in enumerate(zip(x, labels, strict=True)):
        k = int(label.max()) + 1
        centres = np.zeros((k, cloud.shape[1]))
        np.add.at(centres, label, cloud)
        centres /= np.bincount(label, minlength=k)[:, None]
        result[i] = np.linalg.norm(cloud - centres[label], axis=1).max() <= SEPARATION_LINKS * tol
    return result


def _runs(t: np.ndarray, mask: np.ndarray) -> list[tuple[float, float]]:
    """The spans of ``t`` where ``mask`` holds, each to the next saved time."""
    spans, start = [], None
    for i, flag in enumerate(mask):
        if flag and start is None:
            start = t[i]
        if start is not None and (not flag or i == len(mask) - 1):
            spans.append((start, t[i] if not flag else t[-1]))
            start = None
    return spans


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
    data: xr.Dataset | xr.DataArray | Mapping[str, xr.DataArray],
    var: str | None = None,
    x: str | None = None,
    y: str | None = None,
    facet: str | None = None,
    sel: Mapping[str, Any] | None = None,
    contour: Sequence[float] = (),
    curves: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
    limits: tuple[float, float] | None = None,
    label: str | None = None,
    path: str | os.PathLike[str] | None = None,
    title: str | None = None,
) -> Figure:
    """The phase-diagram plotter: heat maps over two dimensions (e.g. time × β), one panel per map or facet.

    ``data`` is a sweep's Dataset (:func:`attnflow.sweep.load_results`; draw its ``var``), one
    DataArray, or several DataArrays by panel title (e.g. ``{"d = 8": p8, "d = 128": p128}``). In each
    map every dimension other than ``x``, ``y`` and ``facet`` is first fixed by ``sel`` (nearest value
    for numbers) or else averaged over, ignoring NaN (runs that failed or have not run); the title says
    what was averaged. Evenly spaced numeric coordinates are drawn to scale, others as equal cells
    labelled by value; small maps (up to 64 cells) get each cell's value written in it.

    Args:
        data: a Dataset, a DataArray, or DataArrays by panel title.
        var: the Dataset variable to draw (default: the first besides ``run_status``).
        x: dimension on the horizontal axis (default: the last dimension not otherwise used).
        y: dimension on the vertical axis (default: the first dimension not otherwise used).
        facet: a dimension to split into panels (one map only), or ``None``.
        sel: fixed values of other dimensions, e.g. ``{"d": 8}``.
        contour: levels at which to draw contour lines on top (e.g. ``[0.5]`` for a phase boundary).
        curves: curves drawn on every panel, by legend label, as ``(x values, y values)`` (e.g. a theory
            curve ``{"theory: γ_β(t) = 1 − δ": (t, beta)}``).
        limits: the colour range ``(low, high)`` (default: the range of the data).
        label: the colour bar's label (default: the variable's name).
        path: save the figure there if given.
        title: the figure title (default: the variable and what was averaged).

    Returns:
        The matplotlib ``Figure``.

    Raises:
        KeyError: ``var`` or a named dimension does not exist (the message lists what does).
        ValueError: ``x``, ``y`` and ``facet`` are not distinct, there are no two dimensions to draw, or
            ``facet`` is given with several maps.
    """
    maps, name = _maps(data, var)
    if facet is not None and len(maps) > 1:
        raise ValueError("facet splits one map into panels; several maps are already one panel each")
    fixed = dict(sel or {})
    reference = next(iter(maps.values()))
    free = [d for d in reference.dims if d not in fixed and d not in (x, facet)]
    y = y if y is not None else (free[0] if free else None)
    x = x if x is not None else next((d for d in reversed(free) if d != y), None)
    if x is None or y is None:
        raise ValueError(
            f"{name!r} needs two free dimensions for a heat map; its dimensions are {reference.dims}"
        )
    named = [d for d in (x, y, facet) if d is not None]
    if len(set(named)) != len(named):
        raise ValueError(f"x, y and facet must be different dimensions, got {named}")
    panels: dict[str | None, xr.DataArray] = {}
    averaged: list[str] = []
    for key, array in maps.items():
        what = name if key is None else key
        for role, dim in [("x", x), ("y", y), ("facet", facet), *((f"sel.{k}", k) for k in fixed)]:
            if dim is not None and dim not in array.dims:
                raise KeyError(
                    f"{role}: {what!r} has no dimension {dim!r}; its dimensions are {', '.join(array.dims)}"
                )
        for dim, value in fixed.items():
            numeric = np.issubdtype(array[dim].dtype, np.number) if dim in array.coords else False
            array = array.sel({dim: value}, method="nearest" if numeric else None)
        averaged = [d for d in array.dims if d not in named]
        array = array.astype(np.float64)
        array = array.mean(averaged, skipna=True) if averaged else array
        if facet is None:
            panels[key] = array
        else:
            panels.update(
                {f"{_LABELS.get(facet, facet)} = {v}": array.sel({facet: v}) for v in array[facet].values}
            )

    fig = new_figure(3.8 * len(panels) + 0.9, 3.6)
    axes = fig.subplots(1, len(panels), sharey=True, squeeze=False)[0]
    if limits is None:
        finite = np.concatenate([p.values[np.isfinite(p.values)] for p in panels.values()])
        limits = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    vmin, vmax = limits
    image = None
    for ax, (heading, panel) in zip(axes, panels.items(), strict=True):
        panel = panel.transpose(y, x)
        xs, ys = _axis_values(panel, x), _axis_values(panel, y)
        image = ax.pcolormesh(
            xs, ys, panel.values, cmap=colormaps["viridis"], vmin=vmin, vmax=vmax, shading="nearest"
        )
        extent = ax.get_xlim(), ax.get_ylim()
        if contour and panel.sizes[x] > 1 and panel.sizes[y] > 1:
            lines = ax.contour(xs, ys, panel.values, levels=sorted(contour), colors="w", linewidths=1.4)
            ax.clabel(lines, fmt="%g", fontsize=8)
        for curve_label, (curve_x, curve_y) in (curves or {}).items():
            # A white line with a black outline reads on every colour of the map, and so does its legend
            # handle on the page (the legend goes below the maps: a map is data everywhere).
            ax.plot(
                curve_x,
                curve_y,
                color="w",
                lw=1.4,
                label=curve_label if ax is axes[0] else None,
                path_effects=[patheffects.withStroke(linewidth=3.0, foreground="k")],
            )
        if curves:
            ax.set_xlim(extent[0])
            ax.set_ylim(extent[1])
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
        if heading is not None:
            ax.set_title(heading)
    axes[0].set_ylabel(_LABELS.get(y, y))
    fig.colorbar(image, ax=list(axes), label=label if label is not None else (name or ""))
    if curves:
        fig.legend(loc="outside lower center", frameon=False, ncols=len(curves))
    suffix = f"(mean over {', '.join(averaged)})" if averaged else ""
    heading = title or " ".join(part for part in (name, suffix) if part)
    if heading:
        fig.suptitle(heading)
    return finish(fig, path)


def _maps(
    data: xr.Dataset | xr.DataArray | Mapping[str, xr.DataArray], var: str | None
) -> tuple[dict[str | None, xr.DataArray], str | None]:
    """The maps to draw (by panel title; ``None`` for a single unnamed one) and the variable's name."""
    if isinstance(data, xr.Dataset):
        names = [name for name in data.data_vars if name != "run_status"]
        if not names:
            raise ValueError("the Dataset holds no variable to draw (a sweep with no finished runs yet)")
        var = var if var is not None else str(names[0])
        if var not in names:
            raise KeyError(f"var: no variable {var!r} in the Dataset; it has {', '.join(map(str, names))}")
        return {None: data[var]}, var
    if var is not None:
        raise ValueError("var selects a variable of a Dataset; pass the DataArray itself instead")
    if isinstance(data, xr.DataArray):
        return {None: data}, None if data.name is None else str(data.name)
    if not data:
        raise ValueError("data must hold at least one map")
    for key, array in data.items():
        if not isinstance(array, xr.DataArray):
            raise TypeError(f"data[{key!r}] must be an xarray.DataArray, got {type(array).__name__}")
    return dict(data), None


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
