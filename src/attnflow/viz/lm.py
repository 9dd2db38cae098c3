"""Figures of a traced real model: the lens heat map, attention vs filtering per layer, the fitted dynamics,
and the set of figures that ``attnflow trace`` writes."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from attnflow.measure.particles import to_sphere
from attnflow.viz.figure import finish, new_figure
from attnflow.viz.series import plot_cosine_histograms

if TYPE_CHECKING:
    from attnflow.lm.analysis import TraceAnalysis


def _short(token: str, width: int = 8) -> str:
    text = token.replace("\n", "\\n").replace("\t", "\\t")
    if not text.strip():
        text = text.replace(" ", "␣") or "∅"  # a blank cell would hide that the top token is a space
    return text if len(text) <= width else text[: width - 1] + "…"


def plot_lens(
    lens: xr.Dataset, path: str | os.PathLike[str] | None = None, title: str | None = None
) -> Figure:
    """Heat map over (layer, token) of the lens, each cell labelled with the layer's top token.

    For a logit lens (:func:`~attnflow.lm.logit_lens`) the colour is the top token's probability; for an
    embedding lens (:func:`~attnflow.lm.embedding_lens`) the cosine with the nearest input embedding.

    Args:
        lens: the lens Dataset.
        path: save the figure there if given.
        title: the figure title.

    Returns:
        The matplotlib ``Figure``.
    """
    logit = lens.attrs.get("lens") == "logit"
    value = lens["top_prob" if logit else "nearest_cosine"].values
    words = lens["top_token" if logit else "nearest_token"].values
    n_layers, n_tokens = value.shape
    fig = new_figure(min(2.0 + 0.9 * n_tokens, 24.0), min(1.5 + 0.28 * n_layers, 20.0))
    ax = fig.add_subplot()
    image = ax.imshow(value, aspect="auto", origin="lower", cmap="viridis", vmin=0 if logit else None)
    font = 7 if n_tokens <= 16 else 5
    for layer in range(n_layers):
        for token in range(n_tokens):
            ax.text(
                token,
                layer,
                _short(str(words[layer, token])),
                ha="center",
                va="center",
                fontsize=font,
                color="white" if value[layer, token] < np.nanmean(value) else "black",
            )
    ax.set_xticks(
        range(n_tokens), [_short(str(s), 10) for s in lens["label"].values], rotation=60, ha="right"
    )
    ax.set_xlabel("input token")
    ax.set_ylabel("layer")
    fig.colorbar(image, ax=ax, label="top-token probability" if logit else "cosine to nearest embedding")
    default = "logit lens: top next token per layer" if logit else "embedding lens: nearest input embedding"
    ax.set_title(title or default)
    with warnings.catch_warnings():
        # Tokens of any script may be the top token; a missing glyph is drawn as a box, that is enough.
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        return finish(fig, path)


def plot_attention_shares(
    decomposition: xr.Dataset, path: str | os.PathLike[str] | None = None, title: str | None = None
) -> Figure:
    """Per layer: mean norms of the attention and filtering parts, and the attention share.

    Args:
        decomposition: the Dataset of :func:`~attnflow.lm.decompose`.
        path: save the figure there if given.
        title: the figure title.

    Returns:
        The matplotlib ``Figure``.
    """
    layers = decomposition["layer"].values
    fig = new_figure(8.0, 5.0)
    top, bottom = fig.subplots(2, 1, sharex=True)
    width = 0.4
    top.bar(
        layers - width / 2,
        decomposition["attention_norm"].mean("token"),
        width,
        label="attention (aggregation)",
    )
    top.bar(
        layers + width / 2, decomposition["filtering_norm"].mean("token"), width, label="MLP/norm (filtering)"
    )
    top.set_ylabel("mean norm of the part")
    top.set_yscale("log")
    top.legend()
    bottom.plot(layers, decomposition["layer_attention_share"], "o-", label="|a| / (|a| + |f|)")
    bottom.plot(layers, decomposition["layer_attention_projection"], "s--", label="⟨a, u⟩ / |u|²")
    bottom.axhline(0.5, color="grey", lw=0.8)
    bottom.set_xlabel("layer")
    bottom.set_ylabel("attention share of the update")
    bottom.legend()
    fig.suptitle(title or "residual update per layer: attention vs filtering")
    return finish(fig, path)


def plot_dynamics_fit(
    fit: xr.Dataset, path: str | os.PathLike[str] | None = None, title: str | None = None
) -> Figure:
    """The fitted β and the explained fraction of every step (:func:`~attnflow.measure.fit_dynamics`).

    Args:
        fit: the fit Dataset.
        path: save the figure there if given.
        title: the figure title.

    Returns:
        The matplotlib ``Figure``.
    """
    start = fit["start"].values
    fig = new_figure(8.0, 5.0)
    top, bottom = fig.subplots(2, 1, sharex=True)
    top.plot(start, fit["beta"], "o-")
    top.axhline(0.0, color="grey", lw=0.8)
    top.set_ylabel("fitted β")
    bottom.plot(start, fit["explained"], "o-", color="tab:green")
    bottom.set_ylim(0, 1)
    bottom.set_xlabel("layer (start of the step)")
    bottom.set_ylabel("fraction of motion explained")
    fig.suptitle(title or "one self-attention step fitted to each layer's token motion")
    return finish(fig, path)


def plot_trace(analysis: TraceAnalysis, out: str | os.PathLike[str], label: str) -> list[Path]:
    """The figures of ``attnflow trace``: ``lens.png``, ``cosines.png``, ``shares.png`` and ``fit.png``.

    Args:
        analysis: the :class:`~attnflow.lm.TraceAnalysis` of one recording.
        out: the directory to write to.
        label: what was traced, for the titles (e.g. ``"smollm2-135m: 6 tokens"``).

    Returns:
        The paths written.
    """
    out = Path(out)
    lens = analysis.lens
    paths = [out / f"{name}.png" for name in ("lens", "cosines", "shares", "fit")]
    plot_lens(lens, paths[0], title=f"{lens.attrs['lens']} lens — {label}")
    plot_cosine_histograms(
        to_sphere(analysis.layers), path=paths[1], title=f"pairwise cosines per layer — {label}"
    )
    plot_attention_shares(analysis.decomposition, paths[2], title=f"attention vs filtering — {label}")
    plot_dynamics_fit(analysis.fit, paths[3], title=f"fitted self-attention step — {label}")
    return paths
