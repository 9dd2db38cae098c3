"""Metastable clusters on the circle: they form with the period of the fastest linear mode,
``ℓ* = argmax_ℓ ℓ² I_ℓ(β)``.

The claim (Bruno, Pasqualotto & Agazzi): from a small perturbation of the uniform density on the circle
(d = 2), the fastest-growing Fourier mode of the linearised dynamics, ``ℓ*`` (≈ √(2β) for large β), sets
the period of the configuration the tokens gather into, which then lasts exponentially long.

**The start.** ``n`` tokens on an equispaced grid displaced so that their density is
``(1/2π)(1 + ε Σ_{ℓ ≤ L} cos(ℓθ + φ_ℓ))``: every mode up to ``L`` starts at the same amplitude ``ε``
with a random phase (one draw per run), so no mode is favoured by the start, as in the linear analysis.
An i.i.d. uniform sample would start each mode at a random amplitude ``~1/√n`` and let the luckiest of the
nearly equally fast modes win (at β = 64, ``λ_10, λ_11, λ_12`` differ by 3%); ``n ≥ 10⁴`` keeps the
particle cloud close to the mean-field density through the nonlinear phase.

**The measurement.** The Fourier amplitudes ``A_ℓ = 2|mean_j e^{−iℓθ_j}|`` (``= ε`` at the start) are
read at every save; formation is the first save where the largest reaches ``formation_amplitude`` ``a``;
the dominant mode there is the period clusters form with. The cluster count on the longest plateau
that follows is reported, not judged: it depends on the linking distance and on when it is read.

**The tolerance**, derived before any run: in the linear phase ``A_ℓ(T) = ε e^{λ_ℓ T}``, so at the
formation time ``T`` mode ℓ trails ℓ* by the factor ``e^{−(λ* − λ_ℓ)T}``. The neglected quadratic terms
change each amplitude by a relative amount of the order of the amplitudes themselves, at most ``a``
(the largest at ``T``), so the linear theory cannot order modes whose predicted amplitudes differ by less
than the factor ``(1 + a)/(1 − a)``: the predicted set is ``{ℓ : (λ* − λ_ℓ)T ≤ log((1 + a)/(1 − a))}``
(``λ`` from :func:`attnflow.theory.growth_rate`). At each β: every run's dominant mode in the set agrees,
more than half outside disagrees, anything between is inconclusive. The rival ``√β`` (the same rates at
β/2, whose fastest mode is ≈ √β; ``tests/experiments/test_rivals_long15.py``) predicts a set that the
measured modes miss at every β here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from attnflow.experiments.base import (
    Experiment,
    Verdict,
    combine,
    interval_status,
    majority_status,
    trajectory_from,
    trajectory_values,
)
from attnflow.experiments.papers import METASTABLE_CLUSTERING
from attnflow.simulation import Simulation
from attnflow.theory import fastest_mode, growth_rate

#: Rates of the linearised dynamics ``(modes, β) -> λ``: the claim's, or a rival's in the tests.
Rates = Callable[[np.ndarray, float], np.ndarray]


def sa_rates(modes: np.ndarray, beta: float) -> np.ndarray:
    """The linear growth rates of softmax self-attention on the circle (the claim's for ``variant="SA"``)."""
    return growth_rate(modes, beta, "SA")


def largest_mode(beta: float) -> int:
    """The largest Fourier mode perturbed and read: ``4√β + 10``, far above ``ℓ* ≈ √(2β)``."""
    return int(4 * np.sqrt(beta)) + 10


def perturbed_grid(n: int, amplitude: float, phases: np.ndarray) -> torch.Tensor:
    """``n`` points on the circle whose density is ``(1/2π)(1 + amplitude Σ_ℓ cos(ℓθ + φ_ℓ))`` to first order.

    The equispaced angles ``u_i = 2π(i + 1/2)/n`` are moved to ``θ_i = u_i − Σ_ℓ (amplitude/ℓ)
    sin(ℓu_i + φ_ℓ)``: then ``du/dθ = 1 + amplitude Σ_ℓ cos(ℓθ + φ_ℓ) + O(amplitude²)``. Float64.
    """
    modes = np.arange(1, len(phases) + 1)
    grid = 2 * np.pi * (np.arange(n) + 0.5) / n
    angles = grid - (amplitude / modes[:, None] * np.sin(np.outer(modes, grid) + phases[:, None])).sum(0)
    return torch.tensor(np.stack([np.cos(angles), np.sin(angles)], axis=-1))


def mode_amplitudes(traj: Any, max_mode: int) -> np.ndarray:
    """``A_ℓ = 2|mean_j e^{−iℓθ_j}|`` for ``ℓ = 1..max_mode`` at every state, shape ``(time, mode)``:
    the density ``(1/2π)(1 + ε cos(ℓθ + φ))`` has ``A_ℓ = ε``."""
    from attnflow.measure.density import particle_angles

    angles = particle_angles(traj).numpy()
    modes = np.arange(1, max_mode + 1)
    return np.stack([2 * np.abs(np.exp(-1j * ell * angles).mean(axis=-1)) for ell in modes], axis=-1)


def _plateau_count(count: Any) -> float:
    """The level of the longest plateau of the cluster count above one cluster (the final count if there
    is none): until the clusters separate, the perturbed grid is one chain at the linking distance."""
    from attnflow.measure import plateaus

    found = plateaus(count)
    several = np.flatnonzero(found["level"].values > 1)
    if several.size == 0:
        return float(count.values[-1])
    return float(found["level"].values[several[np.argmax(found["duration"].values[several])]])


def _compute(params: Mapping[str, Any]) -> dict[str, Any]:
    from attnflow import SelfAttention
    from attnflow.integrate import simulate
    from attnflow.measure import clusters
    from attnflow.random import numpy_generator, spawn

    betas = [float(b) for b in params["betas"]]
    dtype = torch.float32 if params["dtype"] == "float32" else torch.float64
    runs = spawn(int(params["seed"]), int(params["seeds"]))
    shape = (len(betas), len(runs))
    modes, times, amplitudes, counts = (np.full(shape, np.nan) for _ in range(4))
    examples = {}
    for k, beta in enumerate(betas):
        top = largest_mode(beta)
        # The same phases at every β for run r: its children draw nothing else.
        starts = torch.stack(
            [
                perturbed_grid(
                    params["n"], params["amplitude"], numpy_generator(r).uniform(0, 2 * np.pi, top)
                )
                for r in runs
            ]
        ).to(dtype)
        trajs = simulate(
            SelfAttention(beta, variant=params["variant"]),
            starts,
            params["t_end"],
            params["dt"],
            save_every=params["save_every"],
        )
        for r, traj in enumerate(trajs):
            spectrum = mode_amplitudes(traj, top)
            formed = np.flatnonzero(spectrum.max(axis=1) >= params["formation_amplitude"])
            if formed.size:
                index = formed[0]
                modes[k, r] = 1 + int(np.argmax(spectrum[index]))
                times[k, r] = float(traj.times[index])
                amplitudes[k, r] = float(spectrum[index].max())
                # Before formation the grid is one chain at the linking distance: count after it.
                counts[k, r] = _plateau_count(clusters(traj[index:], tol=params["tol"])["count"])
        # The first β's run is animated, the last β's run drawn.
        if k == 0:
            examples["first"] = trajectory_values(trajs[0])
        if k == len(betas) - 1:
            examples["last"] = trajectory_values(trajs[0])
    lifetime_betas = [float(b) for b in params["lifetime_betas"]]
    lifetimes = np.array([_collapse_times(params, beta) for beta in lifetime_betas]).T
    return {
        "betas": np.array(betas),
        "formation_modes": modes,
        "formation_times": times,
        "formation_amplitudes": amplitudes,
        "plateau_counts": counts,
        "fastest_mode": np.array([fastest_mode(b) for b in betas]),
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


def predicted_modes(beta: float, time: float, amplitude: float, rates: Rates = sa_rates) -> np.ndarray:
    """The modes the linear theory allows as dominant at ``time`` when the largest amplitude is
    ``amplitude``: ``{ℓ : (λ_max − λ_ℓ)·time ≤ log((1 + a)/(1 − a))}`` (see the module doc)."""
    modes = np.arange(1, largest_mode(beta) + 1)
    rate = rates(modes, beta)
    slack = np.log((1 + amplitude) / (1 - amplitude))
    return modes[(rate.max() - rate) * time <= slack]


def mode_verdict(
    betas: np.ndarray,
    modes: np.ndarray,
    times: np.ndarray,
    amplitudes: np.ndarray,
    rates: Rates = sa_rates,
) -> tuple[str, list[str]]:
    """Judge the dominant modes at formation (β × runs; NaN = not formed) against the predicted sets.

    At each β: every run inside its set agrees, more than half of the runs outside (or not formed)
    disagrees, anything between is inconclusive.

    Returns:
        The status and one line per β.
    """
    statuses, lines = [], []
    for beta, row, row_times, row_amplitudes in zip(betas, modes, times, amplitudes, strict=True):
        inside, sets = 0, set()
        for mode, time, amplitude in zip(row, row_times, row_amplitudes, strict=True):
            if np.isfinite(mode):
                allowed = predicted_modes(beta, time, amplitude, rates)
                sets.add(f"{allowed.min()}–{allowed.max()}")
                inside += int(mode in allowed)
        status = majority_status(row.size - inside, row.size)
        statuses.append(status)
        shown = ", ".join(str(int(m)) if np.isfinite(m) else "none" for m in row)
        lines.append(
            f"β = {beta:g}: dominant modes {shown} at t ≈ {np.nanmedian(row_times):.3g}, predicted "
            f"{' or '.join(sorted(sets)) or '–'} (ℓ* = {fastest_mode(beta)}, √β = {np.sqrt(beta):.3g}) "
            f"→ {status}"
        )
    return combine(*statuses), lines


def _verdict(params: Mapping[str, Any], values: Mapping[str, Any]) -> Verdict:
    status, lines = mode_verdict(
        values["betas"],
        values["formation_modes"],
        values["formation_times"],
        values["formation_amplitudes"],
        rates=lambda modes, beta: growth_rate(modes, beta, params["variant"]),
    )
    life_status, life_text, _ = lifetime_verdict(
        values["lifetime_betas"], values["lifetimes"], params["lifetime_t_end"]
    )
    counts = "; ".join(
        f"β = {b:g}: {np.mean(c):.3g}" for b, c in zip(values["betas"], values["plateau_counts"], strict=True)
    )
    return Verdict(
        status=combine(status, life_status),
        prediction="clusters form with the period of ℓ* = argmax_ℓ ℓ² I_ℓ(β), the fastest-growing mode of "
        "the linearised dynamics (≈ √(2β) for large β), not the rival √β; the multi-cluster configuration "
        "lasts exponentially long in β: log T grows linearly, slope > 0",
        measured="; ".join(lines) + f". Mean cluster count on the plateau (reported): {counts}. "
        f"Lifetime ({life_status}): {life_text}",
        tolerance="per run, the dominant mode at formation (largest amplitude a ≥ "
        f"{params['formation_amplitude']:g}, at time T) must be in "
        "{ℓ : (λ* − λ_ℓ)T ≤ log((1 + a)/(1 − a))}: "
        "modes the linear theory cannot order when quadratic terms change each amplitude by a relative a; "
        "all runs inside agrees, more than half outside disagrees. Lifetime: the 95% t interval of "
        "d log T / dβ (paired over starts) above 0 agrees, below 0 disagrees",
        notes=f"n = {params['n']} tokens on a grid perturbed by ε = {params['amplitude']:g} in every mode "
        f"up to 4√β + 10 (random phases), {params['dtype']}, RK4 dt = {params['dt']:g}. Plateau counts (not "
        "judged): "
        f"single linkage at tolerance {params['tol']:g}, the longest flat stretch of the count above one "
        "after formation; it depends on the linking distance and on when it is read (tokens still between "
        "clusters count apart at first; neighbouring modes, within 3% of ℓ*'s rate at β = 64, beat and merge "
        "clusters later). The lifetime T is the time until one cluster remains, from "
        f"the same {params['lifetime_seeds']} starts of {params['lifetime_n']} uniform tokens at every β in "
        f"{params['lifetime_betas']} (small β, so that merging happens within the run).",
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
        values["formation_modes"],
        values["plateau_counts"],
        values["fastest_mode"],
        path=figures[0],
        title=f"metastable clusters on the circle, n = {params['n']}",
    )
    plot_cloud(
        example,
        times=[0.0, params["t_end"] / 2, 0.7 * params["t_end"], params["t_end"]],
        path=figures[1],
        title=f"circle, β = {last:g}",
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
    title="Metastable clusters on the circle form with the period of the fastest linear mode",
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
    claim="On the circle, tokens near the uniform density gather with the period ℓ* = argmax_ℓ ℓ² I_ℓ(β) "
    "(the fastest-growing mode of the linearised dynamics, ≈ √(2β)), into a configuration that lasts "
    "exponentially long before merging.",
    defaults={
        "n": 10000,
        "betas": [64.0, 144.0, 256.0],
        "variant": "SA",
        "seeds": 3,
        "seed": 0,
        "amplitude": 1e-4,
        "formation_amplitude": 0.1,
        "dtype": "float32",
        "t_end": 15.0,
        "dt": 0.25,
        "save_every": 2,
        "tol": 0.05,
        "lifetime_betas": [1.5, 2.0, 2.5, 3.0],
        "lifetime_n": 64,
        "lifetime_seeds": 6,
        "lifetime_t_end": 1500.0,
        "lifetime_dt": 0.25,
        "gif_frames": 40,
    },
    quick={
        "n": 1000,
        "betas": [36.0, 100.0],
        "seeds": 2,
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
