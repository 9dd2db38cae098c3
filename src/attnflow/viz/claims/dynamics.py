"""Figures of the experiments on dynamics beyond the idealised layer: normalisation schemes, noise and
hardmax attention."""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from attnflow.viz.figure import finish, new_figure


def plot_normalization_decay(
    curves: Mapping[str, tuple[np.ndarray, np.ndarray]],
    path: str | os.PathLike[str] | None = None,
    title: str | None = None,
) -> Figure:
    """``1 − ρ(t)`` per scheme: against ``t`` (log scale) and against ``log t``, with the two laws.

    Args:
        curves: ``(times, 1 − ρ)`` by scheme name (``"post"``, ``"pre"``, …).
        path: save the figure there if given.
        title: the figure title.
    """
    fig = new_figure(11, 4.2)
    linear, loglog = fig.subplots(1, 2)
    for scheme, (times, spread) in curves.items():
        positive = (times > 0) & (spread > 0)
        linear.semilogy(times[positive], spread[positive], label=f"{scheme}-LN")
        loglog.loglog(times[positive], spread[positive], label=f"{scheme}-LN")
    _draw_decay_laws(linear, loglog, curves)
    if "post" in curves:
        linear.set_xlim(0, curves["post"][0][-1])
    for ax in (linear, loglog):
        ax.set_xlabel("time t")
        ax.set_ylabel("1 − ρ(t)")
        ax.legend(fontsize="small")
    if title:
        fig.suptitle(title)
    return finish(fig, path)


def _draw_decay_laws(linear: Axes, loglog: Axes, curves: Mapping[str, tuple[np.ndarray, np.ndarray]]) -> None:
    """The laws e^{−2t} (post-LN, on ``linear``) and t^{−2} (pre-LN, on ``loglog``), each anchored on its
    scheme's curve ``(times, values)`` at the middle of the run and drawn over its second half."""
    for ax, scheme in ((linear, "post"), (loglog, "pre")):
        if scheme not in curves:
            continue
        times, values = curves[scheme]
        late = times >= times[-1] / 2
        anchor = np.argmax(late)
        if scheme == "post":
            law = values[anchor] * np.exp(-2 * (times[late] - times[anchor]))
        else:
            law = values[anchor] * (times[late] / times[anchor]) ** -2.0
        ax.plot(times[late], law, "k--", lw=1, label="e^{−2t}" if scheme == "post" else "t^{−2}")


def plot_normalization_band(
    bands: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
    path: str | os.PathLike[str] | None = None,
    title: str | None = None,
) -> Figure:
    """``1 − ρ(t)`` over draws per scheme: the median and a shaded band, against ``t`` (log scale) and on
    log–log axes, with the laws ``e^{−2t}`` and ``t^{−2}`` anchored on the median.

    Args:
        bands: ``(times, median, low, high)`` by scheme name (``"post"``, ``"pre"``).
        path: save the figure there if given.
        title: the figure title.
    """
    fig = new_figure(11, 4.2)
    linear, loglog = fig.subplots(1, 2)
    for scheme, (times, median, low, high) in bands.items():
        shown = (times > 0) & (low > 0)
        for ax in (linear, loglog):
            (line,) = ax.plot(times[shown], median[shown], label=f"{scheme}-LN, median")
            ax.fill_between(times[shown], low[shown], high[shown], color=line.get_color(), alpha=0.25)
    _draw_decay_laws(linear, loglog, {scheme: (band[0], band[1]) for scheme, band in bands.items()})
    linear.set_yscale("log")
    loglog.set_xscale("log")
    loglog.set_yscale("log")
    for ax in (linear, loglog):
        ax.set_xlabel("time t (layers)")
        ax.set_ylabel("1 − ρ(t), shaded: 90% of draws")
        ax.legend(fontsize="small")
    if title:
        fig.suptitle(title)
    return finish(fig, path)


def plot_mode_growth(
    curves: Mapping[str, tuple[np.ndarray, np.ndarray, float]],
    path: str | os.PathLike[str] | None = None,
    title: str | None = None,
    ylabel: str = "⟨m(t), a⟩, mean over replicates",
    rate_label: str = "dashed: e^{λ₁t}, theory",
) -> Figure:
    """An amplitude over time (log scale), with the predicted ``e^{λt}`` dashed.

    Args:
        curves: ``(times, amplitude, predicted rate λ)`` by legend label.
        path: save the figure there if given.
        title: the figure title.
        ylabel: what the amplitude is (default: the first mode of the noisy-threshold experiment).
        rate_label: the legend title naming the predicted rate.
    """
    fig = new_figure(6.4, 4.2)
    ax = fig.add_subplot()
    for label, (times, amplitude, rate) in curves.items():
        (line,) = ax.semilogy(times, np.where(amplitude > 0, amplitude, np.nan), label=label)
        ax.plot(times, amplitude[0] * np.exp(rate * times), "--", color=line.get_color(), lw=1)
    ax.set_xlabel("time t")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize="small", title=rate_label)
    if title:
        ax.set_title(title)
    return finish(fig, path)


def plot_hardmax_paths(
    x0: np.ndarray,
    path_of_tokens: np.ndarray,
    target: np.ndarray,
    path: str | os.PathLike[str] | None = None,
    title: str | None = None,
) -> Figure:
    """Tokens in the plane with their paths, coloured by the vertex they move to.

    Args:
        x0: the start, shape ``(n, 2)``.
        path_of_tokens: the positions over time, shape ``(T, n, 2)``.
        target: the index of each token's vertex, shape ``(n,)``.
        path: save the figure there if given.
        title: the figure title.
    """
    from matplotlib import colormaps

    fig = new_figure(5.6, 5.6)
    ax = fig.add_subplot()
    colours = colormaps["tab20"]
    vertices = np.unique(target)
    for k, vertex in enumerate(vertices):
        colour = colours(k % 20)
        for i in np.flatnonzero(target == vertex):
            ax.plot(path_of_tokens[:, i, 0], path_of_tokens[:, i, 1], color=colour, lw=0.8)
            ax.plot(*x0[i], "o", color=colour, ms=3)
        ax.plot(*x0[vertex], "*", color=colour, ms=11, mec="k")
    ax.set_aspect("equal")
    ax.set_xlabel("x₁")
    ax.set_ylabel("x₂")
    if title:
        ax.set_title(title, fontsize="medium")
    return finish(fig, path)


__all__ = ["plot_hardmax_paths", "plot_mode_growth", "plot_normalization_decay"]
