"""Figure of the real-model experiment: the next-token distribution narrows as context grows."""

from __future__ import annotations

import os

import numpy as np
from matplotlib.figure import Figure

from attnflow.viz.figure import finish, new_figure


def plot_context_narrows(
    windows: np.ndarray,
    entropy: np.ndarray,
    nll: np.ndarray,
    model: str,
    path: str | os.PathLike[str] | None = None,
) -> Figure:
    """Mean next-token entropy and negative log-likelihood against the tokens of context visible.

    Args:
        windows: tokens of context, shape ``(W,)``.
        entropy: mean entropy of the next-token distribution (nats), shape ``(W,)``.
        nll: mean negative log-likelihood of the actual next token (nats), shape ``(W,)``.
        model: the model's name, for the title.
        path: save the figure there if given.
    """
    fig = new_figure(6.0, 4.0)
    ax = fig.add_subplot()
    ax.plot(windows, entropy, "o-", label="entropy of the next-token distribution")
    ax.plot(windows, nll, "s--", label="negative log-likelihood of the actual token")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("tokens of context visible")
    ax.set_ylabel("nats (mean over targets and texts)")
    ax.set_title(f"{model}: context narrows the next-token distribution")
    ax.legend()
    return finish(fig, path)
