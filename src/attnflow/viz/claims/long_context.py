"""Figure of the long-context experiment: the output cosine against γ/γ_c for growing n, and the rates."""

from __future__ import annotations

import os

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from attnflow.viz.figure import finish, new_figure


def plot_long_context_transition(
    ratios: np.ndarray,
    sizes: np.ndarray,
    cosines: np.ndarray,
    limits: np.ndarray,
    exponents: np.ndarray,
    path: str | os.PathLike[str] | None = None,
    title: str | None = None,
) -> Figure:
    """Left: output cosine against γ/γ_c, one line per n, with the n → ∞ step; right: distance to the
    limit against n (log–log), measured points and the predicted slopes.

    Args:
        ratios: shape ``(R,)``, γ/γ_c.
        sizes: shape ``(N,)``, the token counts.
        cosines: shape ``(R, N)``, measured mean output cosines.
        limits: shape ``(R,)``, the predicted n → ∞ cosines.
        exponents: shape ``(R,)``, the predicted rates of approach.
        path: save there if given.
        title: the figure title.
    """
    fig = new_figure(10.0, 4.0)
    left, right = fig.subplots(1, 2)
    shades = colormaps["viridis"](np.linspace(0.15, 0.85, len(sizes)))
    for j, n in enumerate(sizes):
        left.plot(ratios, cosines[:, j], "o-", color=shades[j], label=f"n = {int(n)}")
    left.plot(ratios, limits, "k_", markersize=18, markeredgewidth=2, label="n → ∞ (theorem)")
    left.axvline(1.0, color="0.6", linestyle=":")
    left.set_xlabel("γ / γ_c   (β = γ log n, γ_c = 1/(1−ρ))")
    left.set_ylabel("cosine between layer outputs")
    left.legend(frameon=False, fontsize=8)
    left.grid(alpha=0.3)
    lines = colormaps["plasma"](np.linspace(0.1, 0.8, len(ratios)))
    for i, ratio in enumerate(ratios):
        distance = np.abs(cosines[i] - limits[i])
        right.loglog(sizes, distance, "o", color=lines[i], label=f"γ/γ_c = {ratio:g}")
        anchor = distance[-1] * (sizes / sizes[-1]) ** exponents[i]
        right.loglog(sizes, anchor, "--", color=lines[i], linewidth=1)
    right.set_xticks(sizes, [str(int(n)) for n in sizes])
    right.minorticks_off()
    right.set_xlabel("tokens n")
    right.set_ylabel("|cosine − its n → ∞ limit|")
    right.set_title("dashed: predicted rate n^b", fontsize=9)
    right.legend(frameon=False, fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))
    right.grid(alpha=0.3, which="both")
    if title:
        fig.suptitle(title)
    return finish(fig, path)
