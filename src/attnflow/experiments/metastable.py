"""Metastable clusters on the circle: their number is the fastest linear mode, ``argmax_ℓ ℓ² I_ℓ(β)``.

From a near-uniform start on the circle (d = 2) the tokens first gather into a number of clusters set
by the fastest-growing Fourier mode of the linearised dynamics, ``ℓ* = argmax_ℓ ℓ² I_ℓ(β)`` (≈ √(2β) for
large β); this configuration then persists for a long time before clusters merge. The sizes are chosen
where ``ℓ*`` and the rival ``√β`` are several clusters apart, so the verdict can tell them apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from attnflow.experiments.base import (
    Experiment,
    Verdict,
    combine,
    interval_status,
    trajectory_from,
    trajectory_values,
)
from attnflow.experiments.papers import METASTABLE_CLUSTERING
from attnflow.simulation import Simulation
from attnflow.theory import fastest_mode


def _plateau_count(count: Any) -> float:
    """The level of the longest plateau of the cluster count (the final count if there is none)."""
    from attnflow.measure import plateaus

    found = plateaus(count)
    if found.sizes["plateau"] == 0:
        return float(count.values[-1])
    return float(found["level"].values[int(np.argmax(found["duration"].values))])


def _compute(params: Mapping[str, Any]) -> dict[str, Any]:
    from attnflow.measure import clusters, energy_staircase, plateaus

    betas = [float(b) for b in params["betas"]]
    counts, staircase_counts, examples = [], [], {}
    for k, beta in enumerate(betas):
        spec = Simulation.from_flat(
            {
                "n": params["n"],
                "d": 2,
                "beta": beta,
                "variant": params["variant"],
                "t_end": params["t_end"],
                "dt": params["dt"],
                "save_every": params["save_every"],
                "seed": params["seed"],
            }
        )
        trajs = spec.run(replicates=params["seeds"])
        counts.append([_plateau_count(clusters(traj, tol=params["tol"])["count"]) for traj in trajs])
        levels = []
        for traj in trajs:
            staircase = energy_staircase(traj, beta)
            steps = plateaus(staircase)
            levels.append(steps["level"].values[-1] if steps.sizes["plateau"] else staircase[-1])
        staircase_counts.append([float(1 / level) for level in levels])
        # The first β's run is animated, the last β's run drawn.
        if k == 0:
            examples["first"] = trajectory_values(trajs[0])
        if k == len(betas) - 1:
            examples["last"] = trajectory_values(trajs[0])
    predicted = np.array([fastest_mode(b) for b in betas])
    lifetime_betas = [float(b) for b in params["lifetime_betas"]]
    lifetimes = np.array([_collapse_times(params, beta) for beta in lifetime_betas]).T
    return {
        "betas": np.array(betas),
        "plateau_counts": np.array(counts),
        "staircase_counts": np.array(staircase_counts),
        "fastest_mode": predicted,
        "lifetime_betas": np.array(lifetime_betas),
        "lifetimes": lifetimes,
        "figure": examples,
    }


def _collapse_times(params: Mapping[str, Any], beta: float) -> list[float]:
    """The time each run's multi-cluster configuration lasts: the first time it is one cluster (``inf``
    if it never is by ``lifetime_t_end``). Replicate k starts from the same points at every β."""
    from attnflow.measure import clusters

    spec = Simulation.from_flat(
        {
            "n": params["lifetime_n"],
            "d": 2,
            "beta": beta,
            "variant": params["variant"],
            "t_end": params["lifetime_t_end"],
            "dt": params["lifetime_dt"],
            "save_every": 4,
            "seed": params["seed"],
        }
    )
    times = []
    for traj in spec.run(replicates=params["lifetime_seeds"]):
        one = np.flatnonzero(clusters(traj, tol=params["tol"])["count"].values == 1)
        times.append(float(traj.times[one[0]]) if one.size else np.inf)
    return times


def lifetime_verdict(betas: np.ndarray, lifetimes: np.ndarray, t_end: float) -> tuple[str, str, str]:
    """Judge ``log T = a + c β`` with ``c > 0`` (an exponentially long lifetime) from lifetimes
    (runs × betas; ``inf`` = not collapsed by ``t_end``).

    The slope's 95% t interval over the paired runs (the same start at every β) agrees when above 0 and
    disagrees when below 0. A run not collapsed by ``t_end`` counts as ``T = t_end``, a lower bound that
    can only pull the slope down: an interval above 0 still agrees, one below 0 is then inconclusive.

    Returns:
        The status, the measured text and the slope text.
    """
    from attnflow.measure.fits import fit_slope

    censored = int(np.isinf(lifetimes).sum())
    log_t = np.log(np.minimum(lifetimes, t_end))
    fit = fit_slope(betas, log_t)
    status = interval_status(fit.ci_low, fit.ci_high, 0.0, np.inf)
    if status == "disagrees" and censored:
        status = "inconclusive"
    medians = ", ".join(f"β = {b:g}: {np.median(t):.3g}" for b, t in zip(betas, lifetimes.T, strict=True))
    slope = f"{fit.slope:+.3f} [{fit.ci_low:+.3f}, {fit.ci_high:+.3f}]"
    measured = (
        f"median lifetime {medians} ({censored} runs not collapsed by t = {t_end:g}); d log T / dβ = {slope}"
    )
    return status, measured, slope


def count_verdict(
    betas: np.ndarray, counts: np.ndarray, predicted: np.ndarray, z: float = 2.0
) -> tuple[str, list[str]]:
    """Judge the plateau counts (runs along the last axis) against ``ℓ* = argmax_ℓ ℓ² I_ℓ(β)``.

    The rival law ``√β`` predicts fewer clusters; the criterion separates the two before looking: at each
    β the accepted band is the half of the line nearer ``ℓ*`` than ``√β``, ``[(ℓ* + √β)/2, ℓ* + (ℓ* − √β)/2]``
    (the symmetric band of the same half-width above ``ℓ*``). The mean count's interval ``mean ± z·se``
    (``se`` over runs, at least the ±1/2 of an integer count over ``√runs``) agrees when inside the band,
    disagrees when wholly outside, and is inconclusive when it straddles an edge: more runs would decide.

    Returns:
        The status and one line per β.
    """
    statuses, lines = [], []
    for beta, row, mode in zip(betas, counts, predicted, strict=True):
        row = np.asarray(row, dtype=float)
        rival = np.sqrt(beta)
        half = (mode - rival) / 2
        se = max(row.std(ddof=1) / np.sqrt(row.size) if row.size > 1 else np.inf, 0.5 / np.sqrt(row.size))
        mean = row.mean()
        status = interval_status(mean - z * se, mean + z * se, mode - half, mode + half)
        statuses.append(status)
        lines.append(
            f"β = {beta:g}: {mean:.3g} ± {z * se:.2g} vs ℓ* = {mode:g} (√β = {rival:.3g}; band "
            f"[{mode - half:.3g}, {mode + half:.3g}]) → {status}"
        )
    return combine(*statuses), lines


def _verdict(params: Mapping[str, Any], values: Mapping[str, Any]) -> Verdict:
    betas = values["betas"]
    status, lines = count_verdict(betas, values["plateau_counts"], values["fastest_mode"])
    life_status, life_text, _ = lifetime_verdict(
        values["lifetime_betas"], values["lifetimes"], params["lifetime_t_end"]
    )
    return Verdict(
        status=combine(status, life_status),
        prediction="the number of clusters on the metastable plateau is ℓ* = argmax_ℓ ℓ² I_ℓ(β), the "
        "fastest-growing mode of the linearised dynamics (≈ √(2β) for large β), not the rival √β; the "
        "multi-cluster configuration lasts exponentially long in β: log T grows linearly, slope > 0",
        measured="; ".join(lines) + f". Lifetime ({life_status}): {life_text}",
        tolerance="at each β, mean ± 2 s.e. over the starts inside the half-line nearer ℓ* than √β "
        "(band [(ℓ* + √β)/2, ℓ* + (ℓ* − √β)/2]); any interval wholly outside disagrees, any straddling "
        "is inconclusive (more starts, or larger β where ℓ* − √β grows, would decide). Lifetime: the 95% t "
        "interval of d log T / dβ (paired over starts) above 0 agrees, below 0 disagrees",
        notes=f"Clusters by single linkage at tolerance {params['tol']:g}; the plateau is the longest flat "
        "stretch of the cluster count. Right after they form, neighbouring clusters of the fastest mode "
        "partly merge, so the plateau count tends to sit below ℓ*. The old check (count/ℓ* in [0.6, 1.4] "
        "and exponent 1/2) could not tell ℓ* from √β: both have exponent 1/2. The lifetime T is the time "
        f"until one cluster remains, from the same {params['lifetime_seeds']} starts of "
        f"{params['lifetime_n']} tokens at every β in {params['lifetime_betas']} (small β, so that "
        "merging happens within the run); T includes the short formation phase. A lifetime that does not "
        "grow with β would leave the interval around 0: inconclusive, not a disagreement.",
    )


def _figures(params: Mapping[str, Any], values: Mapping[str, Any], out: Path) -> list[Path]:
    from attnflow.viz import animate_cloud, plot_cloud, plot_staircase, plot_trajectories
    from attnflow.viz.claims import plot_clusters_against_beta

    first, last = values["betas"][0], values["betas"][-1]
    example = trajectory_from(values, "figure.last")
    figures = [
        out / "clusters_vs_beta.png",
        out / f"cloud_beta{last:g}.png",
        out / f"staircase_beta{last:g}.png",
        out / f"angles_beta{last:g}.png",
        out / f"run_beta{first:g}.gif",
    ]
    plot_clusters_against_beta(
        values["betas"],
        values["plateau_counts"],
        values["staircase_counts"],
        values["fastest_mode"],
        path=figures[0],
        title=f"metastable clusters on the circle, n = {params['n']}",
    )
    plot_cloud(
        example, times=[0.0, 2.0, 5.0, params["t_end"]], path=figures[1], title=f"circle, β = {last:g}"
    )
    plot_staircase(example, last, tol=params["tol"], path=figures[2])
    plot_trajectories(example, path=figures[3], title=f"token angles, n = {params['n']}, β = {last:g}")
    animate_cloud(
        trajectory_from(values, "figure.first"),
        figures[4],
        frames=params["gif_frames"],
        title=f"β = {first:g}",
    )
    return figures


METASTABLE_CLUSTERS = Experiment(
    name="metastable-clusters",
    title="Metastable clusters on the circle: their number is the fastest linear mode",
    citation=METASTABLE_CLUSTERING.at(
        "main result: the periodicity of the meta-stable manifold is the index maximising a rescaling of "
        "the Gegenbauer polynomials (on the circle, argmax_ℓ ℓ² I_ℓ(β))",
        note="the exponentially long lifetime of the multi-cluster configuration is proved in Geshkovski, "
        "Koubbi, Polyanskiy & Rigollet (2024), Dynamic metastability in the self-attention model, "
        "arXiv:2410.06833",
        checked="the argmax of a rescaled Gegenbauer index checked against the abstract of "
        "arXiv:2410.23228v2 (stored copy), the exponential lifetime against the abstract of "
        "arXiv:2410.06833; theorem and figure numbers were not checked against the body texts",
    ),
    claim="On the circle, a near-uniform start first forms ℓ* = argmax_ℓ ℓ² I_ℓ(β) clusters (the "
    "fastest-growing mode of the linearised dynamics, ≈ √(2β)), a configuration that lasts exponentially "
    "long before merging.",
    defaults={
        "n": 2000,
        "betas": [16.0, 64.0, 144.0],
        "variant": "SA",
        "seeds": 4,
        "seed": 0,
        "t_end": 30.0,
        "dt": 0.1,
        "save_every": 5,
        "tol": 0.05,
        "lifetime_betas": [1.5, 2.0, 2.5, 3.0],
        "lifetime_n": 64,
        "lifetime_seeds": 6,
        "lifetime_t_end": 1500.0,
        "lifetime_dt": 0.25,
        "gif_frames": 40,
    },
    quick={
        "n": 600,
        "betas": [9.0, 36.0],
        "seeds": 3,
        "t_end": 15.0,
        "dt": 0.2,
        "save_every": 2,
        "lifetime_betas": [1.5, 2.5],
        "lifetime_n": 32,
        "lifetime_seeds": 4,
        "lifetime_t_end": 300.0,
        "lifetime_dt": 0.5,
        "gif_frames": 6,
    },
    compute=_compute,
    verdict=_verdict,
    figures=_figures,
)
