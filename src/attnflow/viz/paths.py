"""Figures of path-world training runs (:mod:`attnflow.paths`)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from matplotlib.figure import Figure

from attnflow.viz.figure import finish, new_figure

if TYPE_CHECKING:
    from attnflow.paths import Evaluation


def plot_kl_history(
    evaluations: Sequence[Evaluation], path: str | os.PathLike[str] | None = None, title: str = ""
) -> Figure:
    """Next-token ``KL(world ‖ model)`` against training step, on a log scale.

    Args:
        evaluations: the evaluations of a run (:attr:`attnflow.paths.TrainResult.evaluations`).
        path: where to save the figure (format from the suffix); not saved if ``None``.
        title: the axes' title.

    Returns:
        The figure.

    Raises:
        ValueError: no evaluations.
    """
    if not evaluations:
        raise ValueError("evaluations must hold at least one evaluation")
    fig = new_figure(6, 4)
    ax = fig.add_subplot()
    ax.semilogy([e.step for e in evaluations], [e.kl_next for e in evaluations], "o-", label="next token")
    ax.set(xlabel="training step", ylabel="KL(world‖model) (nats/token)", title=title)
    ax.legend()
    return finish(fig, path)


__all__ = ["plot_kl_history"]
