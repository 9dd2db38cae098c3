"""Figures of the real-model experiments of :mod:`attnflow.experiments.lm_frontier`."""

from __future__ import annotations

import os

import numpy as np
from matplotlib.figure import Figure

from attnflow.viz.figure import finish, new_figure


def plot_layer_cosine_histograms(
    counts: np.ndarray,
    edges: np.ndarray,
    model: str,
    path: str | os.PathLike[str] | None = None,
    layers: int = 8,
) -> Figure:
    """Histograms of the pairwise cosines pooled over prompts, for evenly spaced layers.

    Args:
        counts: ``(L + 1, bins)`` pair counts per layer.
        edges: the ``bins + 1`` bin edges on ``[-1, 1]``.
        model: the model's name, for the title.
        path: save the figure there if given.
        layers: how many layers to draw (the first and the last included).

    Returns:
        The matplotlib ``Figure``.
    """
    counts = np.asarray(counts, dtype=float)
    chosen = np.unique(np.linspace(0, counts.shape[0] - 1, min(layers, counts.shape[0])).round().astype(int))
    width = np.diff(edges)
    centres = (edges[:-1] + edges[1:]) / 2
    fig = new_figure(2.0 * len(chosen), 2.6)
    axes = fig.subplots(1, len(chosen), sharey=True, squeeze=False)[0]
    for ax, layer in zip(axes, chosen, strict=True):
        density = counts[layer] / (counts[layer].sum() * width)
        ax.bar(centres, density, width=width, color="tab:blue", alpha=0.8)
        ax.set_title(f"layer {layer}")
        ax.set_xlim(-0.3, 1.0)
        ax.set_xlabel("cos")
    axes[0].set_ylabel("density of pairs")
    fig.suptitle(f"pairwise cosines per layer, pooled over prompts — {model}")
    return finish(fig, path)


def plot_sinks(
    ratio: np.ndarray,
    sink: np.ndarray,
    uniform: float,
    model: str,
    path: str | os.PathLike[str] | None = None,
) -> Figure:
    """Per layer: largest activation over the median (log), and the attention share of the first token."""
    layers = np.arange(1, len(ratio) + 1)
    fig = new_figure(7.0, 5.0)
    top, bottom = fig.subplots(2, 1, sharex=True)
    top.semilogy(layers, ratio, "o-")
    top.set_ylabel("largest |h| / median |h|")
    bottom.plot(layers, sink, "o-", color="tab:orange")
    bottom.axhline(uniform, color="grey", lw=0.8, label="uniform attention")
    bottom.set_ylabel("attention to token 0")
    bottom.set_xlabel("layer (block output)")
    bottom.legend()
    fig.suptitle(f"massive activations and the attention sink — {model}")
    return finish(fig, path)


def plot_looped_curves(
    repeats: np.ndarray,
    curves: dict[str, tuple[np.ndarray, np.ndarray]],
    model: str,
    path: str | os.PathLike[str] | None = None,
) -> Figure:
    """Diversity ``1 − mean|cos|`` and the cluster count against the number of loops, per setting.

    Args:
        repeats: the kept repeat counts (0 = the embeddings, drawn at the left edge of the log axis).
        curves: setting name → ``(diversity, clusters)``, each ``(prompts, kept)``.
        model: the model's name, for the title.
        path: save the figure there if given.

    Returns:
        The matplotlib ``Figure``: the median over prompts bold, each prompt thin.
    """
    repeats = np.asarray(repeats, dtype=float)
    x = np.where(repeats > 0, repeats, 0.5)  # the embeddings at N = ½ on the log axis
    fig = new_figure(10.0, 3.8)
    left, right = fig.subplots(1, 2, sharex=True)
    for index, (name, (spread, counts)) in enumerate(curves.items()):
        colour = f"C{index}"
        for ax, values in ((left, np.asarray(spread, float)), (right, np.asarray(counts, float))):
            ax.plot(x, values.T, color=colour, lw=0.5, alpha=0.4)
            ax.plot(x, np.median(values, axis=0), "o-", color=colour, ms=3, label=name)
    left.set_xscale("log")
    left.set_yscale("log")
    right.set_yscale("log")
    left.set_ylabel("1 − mean |cos|")
    right.set_ylabel("clusters")
    for ax in (left, right):
        ax.set_xlabel("loops N (embeddings at ½)")
    left.legend(fontsize=7)
    fig.suptitle(f"looped layers, from the embeddings — {model}")
    return finish(fig, path)


def plot_head_phases(
    scaled: np.ndarray, entropy: np.ndarray, n: float, path: str | os.PathLike[str] | None = None
) -> Figure:
    """Each head's ``s = γ(1−ρ)`` against its normalised attention entropy, coloured by layer."""
    scaled, entropy = np.asarray(scaled, float), np.asarray(entropy, float)
    layers = np.broadcast_to(np.arange(scaled.shape[0])[:, None], scaled.shape)
    fig = new_figure(6.5, 4.5)
    ax = fig.add_subplot()
    points = ax.scatter(scaled.ravel(), entropy.ravel(), c=layers.ravel(), s=10, cmap="viridis")
    band = 1 / np.log(n)
    ax.axvspan(1 - band, 1 + band, color="grey", alpha=0.2, label="critical band |s − 1| ≤ 1/log n")
    ax.set_xlabel("s = γ(1 − ρ)")
    ax.set_ylabel("attention entropy / log(keys)")
    ax.legend(fontsize=7)
    fig.colorbar(points, ax=ax, label="layer")
    ax.set_title(f"heads on the long-context phase map (n = {n:.0f})")
    return finish(fig, path)
