"""Seed 002 on the circle: metastable clusters whose number grows like √β.

From a near-uniform start on the circle (d = 2) the tokens first gather into a number of clusters set
by the fastest-growing Fourier mode of the linearised dynamics, ``ℓ* ≈ √(2β)``; this configuration then
persists for a time exponential in β before clusters merge.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from attnflow.experiments._clustering import SOURCE, uniform_runs
from attnflow.experiments.base import Experiment, Outcome, register
from attnflow.theory import fastest_mode


def _plateau_count(count: Any) -> float:
    """The level of the longest plateau of the cluster count (the final count if there is none)."""
    from attnflow.measure import plateaus

    found = plateaus(count)
    if found.sizes["plateau"] == 0:
        return float(count.values[-1])
    return float(found["level"].values[int(np.argmax(found["duration"].values))])


def _metastable(params: Mapping[str, Any], out: Path) -> Outcome:
    from matplotlib.ticker import ScalarFormatter

    from attnflow.measure import clusters, energy_staircase, plateaus
    from attnflow.viz import animate_cloud, plot_cloud, plot_staircase, plot_trajectories
    from attnflow.viz.figure import finish, new_figure

    betas = [float(b) for b in params["betas"]]
    counts, staircase_counts, predicted = {}, {}, {}
    figures = []
    for k, beta in enumerate(betas):
        trajs = uniform_runs(params, 2, beta, variant=params["variant"])
        counts[beta] = [_plateau_count(clusters(traj, tol=params["tol"])["count"]) for traj in trajs]
        levels = []
        for traj in trajs:
            staircase = energy_staircase(traj, beta)
            steps = plateaus(staircase)
            levels.append(steps["level"].values[-1] if steps.sizes["plateau"] else staircase[-1])
        staircase_counts[beta] = [float(1 / level) for level in levels]
        predicted[beta] = fastest_mode(beta)
        example = trajs[0]
        tag = f"beta{beta:g}"
        if k == len(betas) - 1:
            figures += [out / f"cloud_{tag}.png", out / f"staircase_{tag}.png", out / f"angles_{tag}.png"]
            plot_cloud(
                example,
                times=[0.0, 2.0, 5.0, params["t_end"]],
                path=figures[-3],
                title=f"circle, β = {beta:g}",
            )
            plot_staircase(example, beta, tol=params["tol"], path=figures[-2])
            plot_trajectories(
                example, path=figures[-1], title=f"token angles, n = {params['n']}, β = {beta:g}"
            )
        if k == 0:
            figures.append(out / f"run_{tag}.gif")
            animate_cloud(example, figures[-1], frames=params["gif_frames"], title=f"β = {beta:g}")
    mean = np.array([np.mean(counts[b]) for b in betas])
    exponent = float(np.polyfit(np.log(betas), np.log(mean), 1)[0]) if len(betas) > 1 else float("nan")
    ratios = mean / np.array([predicted[b] for b in betas])

    fig = new_figure(5.6, 4.0)
    ax = fig.add_subplot()
    fine = np.geomspace(min(betas) / 1.5, max(betas) * 1.5, 100)
    ax.loglog(fine, np.sqrt(2 * fine), "k-", lw=1, label="√(2β)")
    ax.loglog(betas, [predicted[b] for b in betas], "ks", mfc="none", label="ℓ* = argmax ℓ² I_ℓ(β)")
    for b in betas:
        ax.loglog([b] * len(counts[b]), counts[b], "o", color="tab:blue", alpha=0.7)
        ax.loglog([b] * len(counts[b]), staircase_counts[b], "x", color="tab:orange")
    ax.plot([], [], "o", color="tab:blue", label="clusters on the metastable plateau")
    ax.plot([], [], "x", color="tab:orange", label="1 / staircase level")
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(ScalarFormatter())
        axis.set_minor_formatter(ScalarFormatter())
    ax.set_xlabel("β")
    ax.set_ylabel("number of clusters")
    ax.set_title(f"metastable clusters on the circle, n = {params['n']}")
    ax.legend(frameon=False, fontsize=8)
    ax.grid(alpha=0.3, which="both")
    figures.insert(0, out / "clusters_vs_beta.png")
    finish(fig, figures[0])

    low, high = params["ratio_range"]
    exponent_tol = params["exponent_tolerance"]
    agrees = bool(np.all((ratios >= low) & (ratios <= high))) and (
        len(betas) < 2 or abs(exponent - 0.5) <= exponent_tol
    )
    per_beta = "; ".join(f"β = {b:g}: {np.mean(counts[b]):.3g} vs ℓ* = {predicted[b]}" for b in betas)
    return Outcome(
        prediction="the number of clusters on the metastable plateau grows like √β, near the fastest linear "
        "mode ℓ* ≈ √(2β)",
        measured=f"{per_beta}; fitted exponent {exponent:.3g}",
        agrees=agrees,
        tolerance=f"exponent 0.5 ± {exponent_tol:g} and count/ℓ* in [{low:g}, {high:g}] at every β "
        f"(mean over {params['seeds']} starts)",
        values={
            "betas": betas,
            "plateau_counts": counts,
            "staircase_counts": staircase_counts,
            "fastest_mode": predicted,
            "count_over_mode": ratios,
            "exponent": exponent,
        },
        figures=figures,
        notes=f"Clusters by single linkage at tolerance {params['tol']:g}; the plateau is the longest flat "
        "stretch of the cluster count. Right after they form, neighbouring clusters of the fastest mode "
        "partly merge, so the plateau count sits somewhat below ℓ*.",
    )


register(
    Experiment(
        name="metastable-clusters",
        title="Metastable clusters on the circle: their number grows like √β",
        source=SOURCE,
        claim="On the circle, a near-uniform start first forms about ℓ* ≈ √(2β) clusters (the "
        "fastest-growing mode of the linearised dynamics), a configuration that lasts exponentially long "
        "before merging.",
        defaults={
            "n": 2000,
            "betas": [9.0, 25.0, 100.0],
            "variant": "SA",
            "seeds": 3,
            "seed": 0,
            "t_end": 30.0,
            "dt": 0.1,
            "save_every": 5,
            "tol": 0.05,
            "ratio_range": [0.6, 1.4],
            "exponent_tolerance": 0.15,
            "gif_frames": 40,
        },
        quick={
            "n": 600,
            "betas": [9.0, 36.0],
            "seeds": 3,
            "t_end": 15.0,
            "dt": 0.2,
            "save_every": 2,
            "gif_frames": 6,
        },
        runner=_metastable,
    )
)
