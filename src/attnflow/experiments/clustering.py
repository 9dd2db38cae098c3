"""Seed 002's clustering claims for Q = K = V = I: monotone energy, one cluster, causal and cone collapse.

Each experiment simulates the self-attention particle system from many random starts (batched, float64)
and compares a measured quantity with the theory's prediction. See ``docs/reproduce.md`` for full-size
results.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from attnflow.experiments._clustering import SOURCE, uniform_runs
from attnflow.experiments.base import Experiment, Outcome, register
from attnflow.measure.fits import log_slope


def _energy_monotone(params: Mapping[str, Any], out: Path) -> Outcome:
    from attnflow.measure import energy
    from attnflow.viz import plot_cloud, plot_energy

    worst, worst_config, runs, shown = -math.inf, "", 0, {}
    for variant in params["variants"]:
        for d in params["dims"]:
            for beta in params["betas"]:
                trajs = uniform_runs(params, d, beta, variant=variant, dtype=torch.float64)
                for traj in trajs:
                    e = energy(traj, beta).values
                    drop = float(np.max((e[:-1] - e[1:]) / np.abs(e[:-1])))
                    runs += 1
                    if drop > worst:
                        worst, worst_config = drop, f"{variant}, d={d}, β={beta:g}"
                if variant == params["variants"][0] and beta == params["betas"][-1]:
                    shown[f"{variant}, d = {d}, β = {beta:g}"] = trajs[0]
    figures = [out / "energy_staircase.png", out / "cloud.png"]
    plot_energy(shown, normalised=True, path=figures[0], title="energy staircase, one run per dimension")
    # Show the cloud of the run in d = 3 (on S²) when there is one.
    label = next((key for key in shown if "d = 3" in key), next(iter(shown)))
    plot_cloud(shown[label], path=figures[1], title=f"token cloud, {label}, Q = K = V = I")
    tol = params["tolerance"]
    return Outcome(
        prediction="E_β(t) never decreases (it is a Lyapunov function of the flow)",
        measured=f"largest relative decrease between saved states over {runs} runs: {worst:.3g} "
        f"({worst_config})",
        agrees=worst <= tol,
        tolerance=f"relative decrease ≤ {tol:g} (RK4 in float64, dt = {params['dt']:g})",
        values={"runs": runs, "largest_relative_decrease": worst},
        figures=figures,
        notes="A negative largest decrease means the energy rose at every step of every run.",
    )


register(
    Experiment(
        name="energy-monotone",
        title="The interaction energy E_β increases along SA and USA dynamics",
        source=SOURCE,
        claim="With Q = K = V = I, the energy E_β = (1/2βn²) Σ_ij e^{β⟨x_i,x_j⟩} is non-decreasing in time, "
        "for softmax (SA) and unnormalised (USA) attention, in every dimension.",
        defaults={
            "n": 32,
            "dims": [2, 3, 8],
            "betas": [1.0, 4.0],
            "variants": ["SA", "USA"],
            "seeds": 16,
            "seed": 0,
            "t_end": 10.0,
            "dt": 0.01,
            "tolerance": 1e-10,
        },
        quick={"n": 12, "seeds": 3, "t_end": 3.0, "dt": 0.02},
        runner=_energy_monotone,
    )
)


def _single_cluster(params: Mapping[str, Any], out: Path) -> Outcome:
    from attnflow.measure import min_inner_product
    from attnflow.viz import plot_cloud, plot_cosine_histograms
    from attnflow.viz.figure import finish, new_figure

    threshold = 1 - params["eps"]
    fig = new_figure(6.4, 4.0)
    ax = fig.add_subplot()
    finals, last_times, example = {}, {}, None
    for d in params["dims"]:
        for beta in params["betas"]:
            trajs = uniform_runs(
                params, d, beta, variant=params["variant"], method="dopri5", dtype=torch.float64
            )
            joined = np.array([min_inner_product(traj).values >= threshold for traj in trajs])
            fraction = joined.mean(axis=0)
            times = trajs[0].times.numpy()
            label = f"d = {d}, β = {beta:g}"
            finals[label] = float(fraction[-1])
            last_times[label] = float(times[np.argmax(fraction >= 1)]) if fraction[-1] >= 1 else math.inf
            ax.step(times, fraction, where="post", label=label)
            if example is None and d == params["dims"][0] and beta == params["betas"][-1]:
                example = trajs[0]
    ax.set_xscale("symlog", linthresh=1.0)
    ax.set_xlabel("time t")
    ax.set_ylabel(f"fraction of starts in one cluster\n(min ⟨xi,xj⟩ ≥ {threshold:g})")
    ax.set_title(f"{params['seeds']} uniform starts per curve, n = {params['n']}, {params['variant']}")
    ax.legend(frameon=False, fontsize=8)
    ax.grid(alpha=0.3)
    figures = [out / "fraction_one_cluster.png", out / "cloud.png", out / "cosine_histograms.png"]
    finish(fig, figures[0])
    shown = [0.0, 2.0, 10.0, float(example.times[-1])]
    plot_cloud(
        example,
        times=shown,
        path=figures[1],
        title=f"one start, d = {example.dim}, β = {params['betas'][-1]:g}",
    )
    plot_cosine_histograms(
        example, times=[0.0, 2.0, 4.0, 10.0, 20.0, float(example.times[-1])], path=figures[2]
    )
    lowest = min(finals.values())
    need = params["min_fraction"]
    return Outcome(
        prediction="for d ≥ 3 and any β ≥ 0, almost every start converges to a single cluster: fraction → 1",
        measured=f"fraction in one cluster at t = {params['t_end']:g}: lowest {lowest:.3g} over "
        f"{len(finals)} (d, β) settings; all joined by t = {max(last_times.values()):.4g}",
        agrees=lowest >= need,
        tolerance=f"every (d, β): fraction ≥ {need:g} of {params['seeds']} starts, one cluster meaning "
        f"min_ij ⟨xi,xj⟩ ≥ {threshold:g}",
        # Arrays over (dims, betas), the layout sweeps and reports store.
        values={
            "final_fraction": np.reshape(list(finals.values()), (len(params["dims"]), len(params["betas"]))),
            "time_all_joined": np.reshape(
                list(last_times.values()), (len(params["dims"]), len(params["betas"]))
            ),
        },
        figures=figures,
        notes="The time to reach one cluster grows exponentially with β (metastable multi-cluster states, "
        "see metastable-clusters); β is therefore kept moderate so the limit is reached within t_end.",
    )


register(
    Experiment(
        name="single-cluster",
        title="Almost every start ends in one cluster (d ≥ 3)",
        source=SOURCE,
        claim="On the sphere S^{d−1} with d ≥ 3 and Q = K = V = I, for any β ≥ 0 and almost every initial "
        "configuration, all tokens converge to a single point.",
        defaults={
            "n": 32,
            "dims": [3, 8],
            "betas": [0.5, 1.0, 2.0, 4.0],
            "variant": "SA",
            "seeds": 16,
            "seed": 0,
            "t_end": 5000.0,
            "dt": 0.5,
            "save_every": 4,
            "eps": 1e-3,
            "min_fraction": 1.0,
        },
        quick={"n": 12, "dims": [3], "betas": [1.0, 2.0], "seeds": 4, "t_end": 200.0},
        runner=_single_cluster,
    )
)


def _distance_plot(traj: Any, reference: torch.Tensor, path: Path, title: str) -> None:
    """Distance of tokens 2..n to ``reference`` over time, coloured by position in the sequence."""
    from matplotlib import colormaps

    from attnflow.viz.figure import finish, new_figure

    distance = (traj.x - reference).norm(dim=-1).numpy()
    fig = new_figure(6.0, 3.8)
    ax = fig.add_subplot()
    for k in range(1, traj.n_tokens):
        colour = colormaps["viridis"](k / max(traj.n_tokens - 1, 1))
        ax.semilogy(
            traj.times.numpy(),
            distance[:, k],
            color=colour,
            label=f"token {k + 1}" if k in (1, traj.n_tokens - 1) else None,
        )
    ax.legend(frameon=False, fontsize=8)
    ax.set_xlabel("time t")
    ax.set_ylabel("|x_k(t) − x_1(0)|")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    finish(fig, path)


def _causal_collapse(params: Mapping[str, Any], out: Path) -> Outcome:
    from attnflow.viz import plot_cloud

    trajs = uniform_runs(params, params["d"], params["beta"], causal=True, dtype=torch.float64)
    first_drift = max(float((traj.x[:, 0] - traj.x[0, 0]).norm(dim=-1).max()) for traj in trajs)
    final_distance = max(float((traj.final - traj.x[0, 0]).norm(dim=-1).max()) for traj in trajs)
    figures = [out / "distance_to_first_token.png", out / "cloud.png"]
    _distance_plot(
        trajs[0], trajs[0].x[0, 0], figures[0], f"causal SA, V = I, n = {params['n']}, β = {params['beta']:g}"
    )
    plot_cloud(trajs[0], path=figures[1], title="causal attention: every token goes to x₁(0)")
    tol = params["tolerance"]
    return Outcome(
        prediction="x₁ never moves; every token converges to x₁(0)",
        measured=f"over {params['seeds']} starts: max_t |x₁(t) − x₁(0)| = {first_drift:.3g}; "
        f"max_k |x_k(T) − x₁(0)| = {final_distance:.3g} at T = {params['t_end']:g}",
        agrees=first_drift <= 1e-12 and final_distance <= tol,
        tolerance=f"x₁ drift ≤ 1e-12 (float64); final distance ≤ {tol:g}",
        values={"first_token_drift": first_drift, "final_max_distance": final_distance},
        figures=figures,
    )


register(
    Experiment(
        name="causal-collapse",
        title="Causal attention: every token converges to the first token",
        source=SOURCE,
        claim="With a causal mask (token k attends to j ≤ k) and V = I, the first token never moves and "
        "every token converges to x₁(0).",
        defaults={
            "n": 32,
            "d": 3,
            "beta": 1.0,
            "seeds": 8,
            "seed": 0,
            "t_end": 80.0,
            "dt": 0.05,
            "save_every": 10,
            "tolerance": 1e-4,
        },
        quick={"n": 8, "seeds": 3, "t_end": 40.0, "dt": 0.1, "save_every": 5},
        runner=_causal_collapse,
    )
)


def _cone_collapse(params: Mapping[str, Any], out: Path) -> Outcome:
    from attnflow import init
    from attnflow.dynamics import SelfAttention
    from attnflow.integrate import simulate
    from attnflow.measure import collapse_residual
    from attnflow.viz.figure import finish, new_figure

    low, high = params["fit_window"]
    pole = torch.zeros(1, params["d"], dtype=torch.float64)
    pole[0, -1] = 1.0
    fig = new_figure(6.4, 4.0)
    ax = fig.add_subplot()
    rates, worst, worst_label = {}, 0.0, ""
    for variant in params["variants"]:
        for beta in params["betas"]:
            # Linearised at the consensus point, every deviation decays at rate 1 (SA: the attention is
            # uniform there) or e^β (USA: each weight e^{β⟨xi,xj⟩} is e^β there).
            predicted = 1.0 if variant == "SA" else math.exp(beta)
            x0 = torch.stack(
                [
                    init.caps(
                        pole, params["radius"], params["n"], seed=params["seed"] + s, dtype=torch.float64
                    )
                    for s in range(params["seeds"])
                ]
            )
            trajs = simulate(
                SelfAttention(beta=beta, variant=variant),
                x0,
                t_end=params["horizon"] / predicted,
                dt=params["dt"] / predicted,
                method="rk4",
            )
            label = f"{variant}, β = {beta:g}"
            fitted = []
            for k, traj in enumerate(trajs):
                residual = collapse_residual(traj, relative=True).values
                t = traj.times.numpy()
                window = (residual >= low) & (residual <= high)
                if window.sum() < 5:
                    raise RuntimeError(
                        f"{label}: the residual never entered the fit window {low:g}..{high:g}"
                    )
                slope, _ = log_slope(t[window], residual[window])
                fitted.append(-slope)
                if k == 0:
                    ax.semilogy(
                        t * predicted, residual, label=f"{label} (fit {-slope:.4g}, theory {predicted:.4g})"
                    )
            rates[label] = {"predicted": predicted, "fitted": fitted}
            error = max(abs(r / predicted - 1) for r in fitted)
            if error >= worst:
                worst, worst_label = error, label
    ax.axhspan(low, high, color="0.9", zorder=0, label="fit window")
    ax.set_xlabel("time × predicted rate")
    ax.set_ylabel("‖X − 1x̄ᵀ‖ / ‖X‖")
    ax.set_title(
        f"collapse from a cap of radius {params['radius']:g} rad < π/2, n = {params['n']}, d = {params['d']}"
    )
    ax.legend(frameon=False, fontsize=8)
    ax.grid(alpha=0.3)
    figures = [out / "residual.png"]
    finish(fig, figures[0])
    tol = params["tolerance"]
    summary = "; ".join(
        f"{k}: {np.median(v['fitted']):.4g} vs {v['predicted']:.4g}" for k, v in rates.items()
    )
    return Outcome(
        prediction="exponential collapse to one point; asymptotic rate 1 for SA and e^β for USA "
        "(linearisation at the consensus point)",
        measured=f"fitted rates (median over starts) {summary}; largest relative error {worst:.2g} "
        f"({worst_label})",
        agrees=worst <= tol,
        tolerance=f"|fitted / predicted − 1| ≤ {tol:g} for every start, fit of the log residual on "
        f"[{low:g}, {high:g}]",
        values={"rates": rates, "largest_relative_error": worst},
        figures=figures,
    )


register(
    Experiment(
        name="cone-collapse",
        title="Starts in an open hemisphere collapse exponentially; the fitted rate",
        source=SOURCE,
        claim="If all tokens start in an open hemisphere, they converge to a single point exponentially "
        "fast.",
        defaults={
            "n": 32,
            "d": 3,
            "radius": 1.4,
            "variants": ["SA", "USA"],
            "betas": [1.0, 4.0],
            "seeds": 4,
            "seed": 0,
            "horizon": 30.0,
            "dt": 0.02,
            "fit_window": [1e-10, 1e-4],
            "tolerance": 1e-3,
        },
        quick={"n": 10, "seeds": 2, "betas": [1.0], "dt": 0.05},
        runner=_cone_collapse,
    )
)
