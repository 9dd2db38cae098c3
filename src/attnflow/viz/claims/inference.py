"""Figures of the attention-as-inference experiments: estimation error, generalisation gaps, and the
downstream value of a self-supervised representation."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from attnflow.viz.figure import finish, new_figure


def _errorbar(ax: Any, x: Any, runs: np.ndarray, label: str, fmt: str = "o-") -> None:
    """Mean over seeds (the rows of ``runs``) with one standard deviation as error bars."""
    ax.errorbar(x, runs.mean(0), yerr=runs.std(0, ddof=1), fmt=fmt, capsize=3, label=label)


def plot_conditional_mean_error(
    ns: np.ndarray,
    errors: Mapping[str, np.ndarray],
    fits: Mapping[str, tuple[float, float]],
    path: str | os.PathLike[str] | None = None,
) -> Figure:
    """Error of estimators of the conditional mean against the number of tokens, with fitted power laws.

    Args:
        ns: the numbers of tokens, shape ``(N,)``.
        errors: RMSE per seed, shape ``(S, N)``, by legend label.
        fits: ``(slope, intercept)`` of the log-log fit, by legend label.
        path: save the figure there if given.
    """
    ns = np.asarray(ns)
    fig = new_figure(6.8, 4.6)
    ax = fig.add_subplot()
    seeds = 0
    for label, runs in errors.items():
        slope, intercept = fits[label]
        seeds = runs.shape[0]
        line = ax.loglog(ns, runs.mean(axis=0), "o-", ms=4, label=label)[0]
        ax.fill_between(ns, runs.min(axis=0), runs.max(axis=0), color=line.get_color(), alpha=0.15)
        ax.loglog(ns, np.exp(intercept) * ns**slope, ":", color=line.get_color(), lw=1)
    ax.set_xlabel("tokens per set n")
    ax.set_ylabel("RMSE to E[v | k = q, z]")
    ax.set_title(f"attention as a conditional-mean estimator ({seeds} seeds, 95% CI of the slope)")
    ax.legend(frameon=False, fontsize=7)
    ax.grid(alpha=0.3, which="both")
    return finish(fig, path)


def plot_erm_gaps(
    ns: np.ndarray,
    gaps_vs_n: Mapping[str, np.ndarray],
    set_counts: np.ndarray,
    gaps_vs_sets: Mapping[str, np.ndarray],
    train_sets: int,
    n_fixed: int,
    path: str | os.PathLike[str] | None = None,
) -> Figure:
    """Generalisation gaps against the number of tokens (left) and of training sets (right).

    Args:
        ns: tokens per set, shape ``(N,)``.
        gaps_vs_n: gap per seed and ``n``, shape ``(S, N)``, by legend label.
        set_counts: numbers of training sets, shape ``(M,)``.
        gaps_vs_sets: gap per seed and set count, shape ``(S, M)``, by legend label.
        train_sets: training sets of the left panel.
        n_fixed: tokens per set of the right panel.
        path: save the figure there if given.
    """
    fig = new_figure(10.5, 4.0)
    left, right = fig.subplots(1, 2)
    seeds = 0
    for label, gaps in gaps_vs_n.items():
        _errorbar(left, ns, gaps, label)
        seeds = gaps.shape[0]
    for label, gaps in gaps_vs_sets.items():
        _errorbar(right, set_counts, gaps, label)
    left.set_title(f"gap vs n ({train_sets} training sets, {seeds} seeds)")
    right.set_title(f"gap vs training sets (n = {n_fixed})")
    for ax, xlabel in ((left, "tokens per set n"), (right, "number of training sets")):
        ax.axhline(0, color="k", lw=0.8)
        ax.set_xscale("log", base=2)
        ax.set(xlabel=xlabel, ylabel="generalisation gap (test − train risk)")
        ax.legend(frameon=False, fontsize=7)
        ax.grid(alpha=0.3)
    return finish(fig, path)
