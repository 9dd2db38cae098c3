"""Figures of the path-world experiments: learning the path law, context narrowing it, in-context
inference, and four sequence mixers compared."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from attnflow.viz.figure import finish, new_figure


def plot_path_law_learning(
    steps: np.ndarray,
    kl_next: np.ndarray,
    kl_path: np.ndarray,
    kl_path_stderr: np.ndarray,
    reverse_kl_path: np.ndarray,
    seq_len: int,
    title: str,
    path: str | os.PathLike[str] | None = None,
) -> Figure:
    """KL between the world's and the model's laws over training: next token (left), whole paths (right).

    Args:
        steps: training steps of the evaluations, shape ``(E,)``.
        kl_next: next-token KL(world‖model) per token.
        kl_path: whole-path KL(world‖model), a Monte Carlo mean.
        kl_path_stderr: its standard error.
        reverse_kl_path: KL(model‖world) over model samples (NaN where not measured).
        seq_len: the path length, for the axis label.
        title: the figure title.
        path: save the figure there if given.
    """
    fig = new_figure(10, 4)
    axes = fig.subplots(1, 2)
    axes[0].semilogy(steps, kl_next, "o-", label="next token, KL(world‖model) per token")
    axes[0].set(xlabel="training step", ylabel="KL (nats)", title="Next-token law")
    axes[0].legend()
    axes[1].errorbar(
        steps, kl_path, yerr=2 * kl_path_stderr, fmt="o-", capsize=3, label="KL(world‖model), ±2 s.e."
    )
    if np.isfinite(reverse_kl_path).any():
        axes[1].plot(steps, reverse_kl_path, "s--", label="KL(model‖world), model samples")
    axes[1].set(xlabel="training step", ylabel=f"KL over whole paths of {seq_len} tokens (nats)")
    axes[1].set_yscale("symlog", linthresh=0.1)  # Monte Carlo estimates near 0 may be negative
    axes[1].set_title("Whole-path law (Monte Carlo over paths)")
    axes[1].legend()
    fig.suptitle(title)
    return finish(fig, path)


def plot_entropy_by_context(
    world_entropy: np.ndarray,
    model_entropy: np.ndarray,
    unigram_entropy: float,
    model: str,
    path: str | os.PathLike[str] | None = None,
) -> Figure:
    """Next-token entropy against context length for the world and a trained model, with the unigram's.

    Args:
        world_entropy: the world's exact next-token entropy at each position.
        model_entropy: the model's, on the same contexts.
        unigram_entropy: the entropy of the context-free unigram law.
        model: the model's name, for the legend.
        path: save the figure there if given.
    """
    fig = new_figure(6, 4)
    ax = fig.add_subplot()
    positions = np.arange(len(world_entropy))
    ax.plot(positions, world_entropy, "o-", label="world (exact law)")
    ax.plot(positions, model_entropy, "s--", label=f"trained {model}")
    ax.axhline(unigram_entropy, color="grey", ls=":", label="no context (unigram)")
    ax.set(xlabel="context length (tokens)", ylabel="next-token entropy (nats)")
    ax.set_title("Context narrows the paths")
    ax.legend()
    return finish(fig, path)


def plot_in_context_losses(
    unigram_loss: np.ndarray,
    fixed_chain_loss: np.ndarray,
    model_loss: np.ndarray,
    bayes_loss: np.ndarray,
    model: str,
    path: str | os.PathLike[str] | None = None,
) -> Figure:
    """Cross-entropy by position of the unigram, the best fixed chain, a trained model and the Bayes rule.

    Args:
        unigram_loss: per position, nats per token.
        fixed_chain_loss: the best context-free chain's, per position.
        model_loss: the trained model's, per position.
        bayes_loss: the exact Bayes in-context predictor's, per position.
        model: the model's name, for the legend.
        path: save the figure there if given.
    """
    fig = new_figure(6.5, 4)
    ax = fig.add_subplot()
    positions = np.arange(len(model_loss))
    ax.plot(positions, unigram_loss, ":", color="grey", label="unigram")
    ax.plot(positions, fixed_chain_loss, "-", label="best fixed chain (context-free)")
    ax.plot(positions, model_loss, "s--", label=f"trained {model}")
    ax.plot(positions, bayes_loss, "o-", label="Bayes in-context predictor (exact)")
    ax.set(xlabel="position in the path", ylabel="cross-entropy (nats/token)")
    ax.set_title("In-context world: does the model use the context?")
    ax.legend()
    return finish(fig, path)


def plot_mixers_compared(
    mixers: Sequence[str],
    kl_next: np.ndarray,
    bound: float,
    mixer_share: np.ndarray,
    aggregating: Sequence[bool],
    title: str,
    context_free: float | None = None,
    path: str | os.PathLike[str] | None = None,
) -> Figure:
    """Fit to the exact law (left) and the mixer's share of the residual update (right), per mixer.

    Args:
        mixers: the mixers' names.
        kl_next: next-token KL(world‖model) of each.
        bound: the agreement bound on ``kl_next``.
        mixer_share: each mixer's share of the residual-update norm (the rest is the MLP's).
        aggregating: whether each mixer's token weights depend on the data (attention).
        title: the figure title.
        context_free: KL of the best law that ignores the context (the rival's level), drawn if given.
        path: save the figure there if given.
    """
    mixers = list(mixers)
    fig = new_figure(10, 4)
    axes = fig.subplots(1, 2)
    axes[0].bar(mixers, kl_next, color=["C0" if a else "C2" for a in aggregating])
    axes[0].axhline(bound, color="k", ls=":", label="agreement bound")
    if context_free is not None:
        axes[0].axhline(context_free, color="tab:red", ls="--", label="best context-free law")
    axes[0].set(ylabel="next-token KL(world‖model) (nats/token)", title="Fit to the exact law")
    # The bar colour says whether the mixer's token weights depend on the data: give it a legend.
    kinds = [
        Patch(color="C0", label="data-dependent weights (attention)"),
        Patch(color="C2", label="fixed weights"),
    ]
    axes[0].legend(handles=[*axes[0].get_legend_handles_labels()[0], *kinds], fontsize="small")
    axes[1].bar(mixers, mixer_share, label="mixer (across tokens)")
    axes[1].bar(mixers, 1 - np.asarray(mixer_share), bottom=mixer_share, label="MLP filter (per token)")
    axes[1].set(ylabel="share of residual-update norm", title="Aggregation (attention) vs filtering")
    axes[1].legend(fontsize="small")
    for ax in axes:
        ax.tick_params(axis="x", rotation=20)
    fig.suptitle(title)
    return finish(fig, path)


def plot_mixers_across_worlds(
    worlds: Sequence[str],
    mixers: Sequence[str],
    kl_next: np.ndarray,
    bound: Sequence[float],
    context_free: Sequence[float],
    aggregating: Sequence[bool],
    path: str | os.PathLike[str] | None = None,
) -> Figure:
    """Every mixer's fit on every world, on one log axis, with each world's agreement bound and the level of
    the best context-free law (the rival that uses nothing of the context).

    Args:
        worlds: the worlds' names, ``W`` of them.
        mixers: the mixers' names, ``M`` of them.
        kl_next: next-token KL(world‖model) in nats/token, shape ``(W, M)``.
        bound: per world, the KL below which a fixed-filter mixer agrees.
        context_free: per world, the KL of the best context-free law.
        aggregating: per mixer, whether its token weights depend on the data (attention).
        path: save the figure there if given.
    """
    kl_next = np.asarray(kl_next, dtype=float)
    fig = new_figure(10, 4.5)
    ax = fig.add_subplot()
    centres = np.arange(len(worlds))
    width = 0.8 / len(mixers)
    for j, mixer in enumerate(mixers):
        kind = "data-dependent" if aggregating[j] else "fixed filters"
        offsets = centres + (j - (len(mixers) - 1) / 2) * width
        ax.bar(offsets, kl_next[:, j], width, color=f"C{j}", label=f"{mixer} ({kind})")
    levels = [
        (bound, "k", ":", "agreement bound (attention + G/2)"),
        (context_free, "tab:red", "--", "best context-free law"),
    ]
    for values, color, style, label in levels:
        for i, value in enumerate(values):
            span = (centres[i] - 0.45, centres[i] + 0.45)
            ax.hlines(value, *span, color=color, ls=style, label=label if i == 0 else None)
    ax.set_yscale("log")
    ax.set_xticks(centres, [f"{world} world" for world in worlds])
    ax.set(ylabel="next-token KL(world‖model) (nats/token)", title="Four sequence mixers on every world")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return finish(fig, path)
