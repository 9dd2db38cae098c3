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


def plot_lens_curves(
    lens: xr.Dataset, path: str | os.PathLike[str] | None = None, title: str | None = None
) -> Figure:
    """KL to the final distribution and the rank of the model's answer, per layer (logit lens).

    The last position (the next token after the input) is drawn bold, the median over all positions
    thin; rows read after an attention sublayer (``l + 0.5``) are marked with open circles.

    Args:
        lens: a :func:`~attnflow.lm.logit_lens` Dataset.
        path: save the figure there if given.
        title: the figure title.

    Returns:
        The matplotlib ``Figure``.
    """
    layers = lens["layer"].values
    after_attention = layers % 1 != 0
    fig = new_figure(8.0, 5.5)
    top, bottom = fig.subplots(2, 1, sharex=True)
    for ax, name, label in (
        (top, "kl_to_final", "KL(final ‖ layer) (nats)"),
        (bottom, "final_top_rank", "rank of the answer + 1"),
    ):
        values = lens[name].values.astype(float) + (1.0 if name == "final_top_rank" else 0.0)
        last, median = values[:, -1], np.median(values, axis=1)
        ax.plot(layers, last, "-", color="tab:red", lw=2, label="last position")
        ax.plot(layers, median, "-", color="grey", lw=1, label="median over positions")
        ax.plot(layers[after_attention], last[after_attention], "o", mfc="none", color="tab:red")
        ax.set_ylabel(label)
        ax.set_yscale("symlog" if name == "kl_to_final" else "log")
    top.legend()
    if after_attention.any():
        bottom.plot([], [], "o", mfc="none", color="tab:red", label="after attention (l + 0.5)")
        bottom.legend()
    bottom.set_xlabel("layer")
    fig.suptitle(title or "logit lens: distance to the model's answer per layer")
    return finish(fig, path)


def plot_layer_measures(
    particles: xr.Dataset, path: str | os.PathLike[str] | None = None, title: str | None = None
) -> Figure:
    """Energy ``E_β``, mean pairwise cosine and effective rank of the token cloud per layer.

    Args:
        particles: a :func:`~attnflow.measure.particle_measures` Dataset over layers.
        path: save the figure there if given.
        title: the figure title.

    Returns:
        The matplotlib ``Figure``.
    """
    axis = next(iter(particles["mean_cosine"].dims))
    layers = particles[axis].values if axis in particles.coords else np.arange(particles.sizes[axis])
    fig = new_figure(8.0, 6.5)
    axes = fig.subplots(3, 1, sharex=True)
    rows = (
        ("energy", f"energy E_β (β = {particles.attrs.get('beta', 1.0):g})"),
        ("mean_cosine", "mean cosine"),
        ("effective_rank", "effective rank"),
    )
    for ax, (name, label) in zip(axes, rows, strict=True):
        ax.plot(layers, particles[name].values, "o-")
        ax.set_ylabel(label)
    axes[1].set_ylim(-0.05, 1.05)
    axes[-1].set_xlabel("layer")
    fig.suptitle(title or "the token cloud per layer")
    return finish(fig, path)


def plot_attention_patterns(
    patterns: np.ndarray,
    labels: list[str] | tuple[str, ...],
    layers: list[int] | None = None,
    path: str | os.PathLike[str] | None = None,
    title: str | None = None,
) -> Figure:
    """Attention weights (query × key) of every head of some layers, one panel each.

    Args:
        patterns: ``(L, H, n, n)`` weights (:attr:`~attnflow.lm.Recording.patterns`).
        labels: the ``n`` token strings.
        layers: the layers to draw (rows); default the first, middle and last.
        path: save the figure there if given.
        title: the figure title.

    Returns:
        The matplotlib ``Figure``.
    """
    patterns = np.asarray(patterns, dtype=float)
    n_layers, n_heads, n, _ = patterns.shape
    layers = sorted({0, n_layers // 2, n_layers - 1}) if layers is None else list(layers)
    fig = new_figure(min(1.6 + 2.0 * n_heads, 30.0), 0.8 + 2.0 * len(layers))
    axes = fig.subplots(len(layers), n_heads, squeeze=False)
    ticks = [_short(str(s), 6) for s in labels] if n <= 24 else None
    for row, layer in zip(axes, layers, strict=True):
        for head, ax in enumerate(row):
            ax.imshow(patterns[layer, head], cmap="magma", vmin=0.0, vmax=1.0, interpolation="nearest")
            ax.set_title(f"L{layer} H{head}", fontsize=7)
            if ticks is None:
                ax.set_xticks([])
                ax.set_yticks([])
            else:
                ax.set_xticks(range(n), ticks, rotation=90, fontsize=4)
                ax.set_yticks(range(n), ticks, fontsize=4)
    fig.suptitle(title or "attention patterns (rows: queries, columns: keys)")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        return finish(fig, path)


def plot_head_outputs(
    head_outputs: np.ndarray, path: str | os.PathLike[str] | None = None, title: str | None = None
) -> Figure:
    """Mean norm over tokens of what each head writes into the residual stream, layer × head.

    Args:
        head_outputs: ``(L, H, n, d)`` (:attr:`~attnflow.lm.Recording.head_outputs`).
        path: save the figure there if given.
        title: the figure title.

    Returns:
        The matplotlib ``Figure``.
    """
    norms = np.linalg.norm(np.asarray(head_outputs, dtype=float), axis=-1).mean(-1)  # (L, H)
    fig = new_figure(1.5 + 0.5 * norms.shape[1], 1.5 + 0.25 * norms.shape[0])
    ax = fig.add_subplot()
    image = ax.imshow(norms, aspect="auto", origin="lower", cmap="viridis")
    ax.set_xlabel("head")
    ax.set_ylabel("layer")
    fig.colorbar(image, ax=ax, label="mean |head output|")
    ax.set_title(title or "per-head output norm")
    return finish(fig, path)


def plot_trace(analysis: TraceAnalysis, out: str | os.PathLike[str], label: str) -> list[Path]:
    """The figures of ``attnflow trace``.

    ``lens.png``, ``cosines.png``, ``shares.png``, ``fit.png`` and ``measures.png`` (energy, mean cosine,
    effective rank per layer); ``lens_curves.png`` (KL to final, answer rank) for a causal LM; and
    ``patterns.png`` and ``heads.png`` when the recording holds attention patterns and head outputs.

    Args:
        analysis: the :class:`~attnflow.lm.TraceAnalysis` of one recording.
        out: the directory to write to.
        label: what was traced, for the titles (e.g. ``"smollm2-135m: 6 tokens"``).

    Returns:
        The paths written.
    """
    out = Path(out)
    lens, rec = analysis.lens, analysis.recording
    paths = [out / f"{name}.png" for name in ("lens", "cosines", "shares", "fit", "measures")]
    plot_lens(lens, paths[0], title=f"{lens.attrs['lens']} lens — {label}")
    plot_cosine_histograms(
        to_sphere(analysis.layers), path=paths[1], title=f"pairwise cosines per layer — {label}"
    )
    plot_attention_shares(analysis.decomposition, paths[2], title=f"attention vs filtering — {label}")
    plot_dynamics_fit(analysis.fit, paths[3], title=f"fitted self-attention step — {label}")
    plot_layer_measures(analysis.particles, paths[4], title=f"the token cloud per layer — {label}")
    if lens.attrs["lens"] == "logit":
        paths.append(out / "lens_curves.png")
        plot_lens_curves(lens, paths[-1], title=f"logit lens per layer — {label}")
    if rec.patterns is not None:
        paths.append(out / "patterns.png")
        plot_attention_patterns(
            rec.patterns.float().cpu().numpy(), rec.labels, path=paths[-1], title=f"attention — {label}"
        )
    if rec.head_outputs is not None:
        paths.append(out / "heads.png")
        plot_head_outputs(rec.head_outputs.float().cpu().numpy(), paths[-1], title=f"heads — {label}")
    return paths
