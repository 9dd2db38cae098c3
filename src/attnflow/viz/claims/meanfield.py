"""Figure of the mean-field experiment: the density with tokens on top, W₁ against n, and growth rates."""

from __future__ import annotations

import os

import numpy as np
from matplotlib.figure import Figure

from attnflow.trajectory import DensityTrajectory, Trajectory
from attnflow.viz.density import draw_density
from attnflow.viz.figure import finish, new_figure


def plot_mean_field_limit(
    density: DensityTrajectory,
    particles: Trajectory,
    sizes: np.ndarray,
    w1_start: np.ndarray,
    w1_end: np.ndarray,
    w1_exponent: float,
    modes: np.ndarray,
    rate_theory: np.ndarray,
    rate_fitted: np.ndarray,
    title: str,
    rate_label: str,
    path: str | os.PathLike[str] | None = None,
) -> Figure:
    """Three panels: the PDE density with tokens on top, W₁(tokens, PDE) against n, and mode growth rates.

    Args:
        density: the mean-field solution.
        particles: tokens on the circle drawn over the density.
        sizes: numbers of tokens, shape ``(K,)``.
        w1_start: mean W₁ at t = 0 for each size.
        w1_end: mean W₁ at the final time for each size.
        w1_exponent: the fitted exponent of ``w1_end`` in ``n``.
        modes: the Fourier modes ℓ, shape ``(M,)``.
        rate_theory: the linearised growth rate of each mode.
        rate_fitted: the growth rate fitted from the PDE for each mode.
        title: the title of the density panel.
        rate_label: the legend label of the theory rates.
        path: save the figure there if given.
    """
    sizes = np.asarray(sizes)
    fig = new_figure(13, 4.2)
    heat, scaling, rates = fig.subplots(1, 3, width_ratios=[2.2, 1, 1])
    draw_density(heat, density, particles)
    heat.set_title(title)
    t_end = float(density.times[-1])
    scaling.loglog(sizes, w1_start, "o-", label="t = 0")
    scaling.loglog(sizes, w1_end, "s-", label=f"t = {t_end:g} (slope {w1_exponent:.2f})")
    reference = w1_end[0] * (sizes / sizes[0]) ** -0.5
    scaling.loglog(sizes, reference, "k--", lw=1, label="$n^{-1/2}$")
    scaling.set_xticks(sizes, [str(n) for n in sizes])
    scaling.minorticks_off()
    scaling.set_xlabel("number of tokens n")
    scaling.set_ylabel("W₁(tokens, PDE) (rad)")
    scaling.set_title("particles → PDE")
    scaling.legend(fontsize="small")
    rates.plot(modes, rate_theory, "k-", lw=1, label=rate_label)
    rates.plot(modes, rate_fitted, "o", mfc="none", ms=8, label="fitted from the PDE")
    rates.set_xlabel("mode ℓ")
    rates.set_ylabel("growth rate λ_ℓ")
    rates.set_title("instability of the uniform law")
    rates.legend(fontsize="small")
    return finish(fig, path)
