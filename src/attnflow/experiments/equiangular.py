"""Seed 002: the equiangular curve γ(t) and the (t, β) phase transition it predicts.

From an orthogonal start every pairwise inner product follows the same curve γ(t), the solution of a
scalar ODE. In high dimension random tokens are nearly orthogonal, so the time at which the tokens
become close, ``γ_β(t) = 1 − δ``, draws the boundary of the simulated phase diagram over ``(t, β)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from attnflow.experiments._clustering import SOURCE, uniform_runs
from attnflow.experiments.base import Experiment, Outcome, register
from attnflow.measure.fits import crossing_time
from attnflow.theory.equiangular import gamma as equiangular_gamma
from attnflow.theory.equiangular import hitting_time as equiangular_hitting_time
from attnflow.theory.equiangular import phase_curve


def _curve_check(params: Mapping[str, Any], out: Path) -> tuple[float, Path]:
    """Simulate orthogonal starts; return the largest gap to γ(t) and the figure."""
    from attnflow import init
    from attnflow.dynamics import SelfAttention
    from attnflow.integrate import simulate
    from attnflow.viz.figure import finish, new_figure

    n = params["n"]
    fig = new_figure(6.4, 4.0)
    ax = fig.add_subplot()
    worst = 0.0
    upper = np.triu_indices(n, k=1)
    for beta in params["curve_betas"]:
        t_end = equiangular_hitting_time(n, beta, 1 - 1e-4, params["variant"])
        traj = simulate(
            SelfAttention(beta=beta, variant=params["variant"]),
            init.orthogonal(n, n, dtype=torch.float64),
            t_end=t_end,
            dt=t_end / 100,
            method="dopri5",
            rtol=1e-10,
            atol=1e-12,
        )
        t = traj.times.numpy()
        gram = torch.einsum("tid,tjd->tij", traj.x, traj.x).numpy()[:, upper[0], upper[1]]
        gamma = equiangular_gamma(t, n, beta, params["variant"])
        worst = max(worst, float(np.max(np.abs(gram - gamma[:, None]))))
        line = ax.plot(t, gamma, lw=1.5, label=f"γ(t), β = {beta:g}")[0]
        ax.plot(t[::5], gram[::5, 0], "o", ms=3.5, color=line.get_color(), mfc="none")
    ax.plot([], [], "ko", mfc="none", ms=3.5, label="simulated ⟨x₁, x₂⟩")
    ax.set_xscale("log")
    ax.set_xlabel("time t")
    ax.set_ylabel("pairwise inner product")
    ax.set_title(f"orthogonal start, n = d = {n}, {params['variant']}: simulation vs the γ ODE")
    ax.legend(frameon=False, fontsize=8)
    ax.grid(alpha=0.3)
    path = out / "equiangular_curve.png"
    finish(fig, path)
    return worst, path


def _phase_diagram(params: Mapping[str, Any], out: Path) -> tuple[dict[int, np.ndarray], np.ndarray, Path]:
    """Simulated P(⟨xi,xj⟩ ≥ 1 − δ) over (β, t) for every d; returns crossing times, theory and figure."""
    import xarray as xr

    from attnflow.measure import fraction_close_pairs
    from attnflow.viz import plot_phase_diagram

    n, delta = params["n"], params["delta"]
    betas = np.linspace(*params["beta_range"], params["n_betas"])
    theory = phase_curve(n, betas, delta, params["variant"])
    maps, crossings = {}, {}
    for d in params["dims"]:
        rows, times = [], None
        for beta in betas:
            trajs = uniform_runs(params, d, float(beta), variant=params["variant"], t_end=params["t_max"])
            times = trajs[0].times.numpy()
            rows.append(np.mean([fraction_close_pairs(traj, delta).values for traj in trajs], axis=0))
        heat = np.array(rows)
        maps[f"d = {d}"] = xr.DataArray(heat, dims=("beta", "time"), coords={"beta": betas, "time": times})
        crossings[d] = np.array([crossing_time(times, row, 0.5) for row in heat])
    fine = np.linspace(*params["beta_range"], 200)
    fine_theory = phase_curve(n, fine, delta, params["variant"])
    inside = fine_theory <= params["t_max"]
    curve = (fine_theory[inside], fine[inside])
    path = out / "phase_diagram.png"
    plot_phase_diagram(
        maps,
        curves=dict.fromkeys(maps, curve),
        path=path,
        title=f"P(⟨xi,xj⟩ ≥ {1 - delta:g}), n = {n}, {params['seeds']} uniform starts per pixel row",
    )
    return crossings, theory, path


def _equiangular(params: Mapping[str, Any], out: Path) -> Outcome:
    curve_error, curve_figure = _curve_check(params, out)
    crossings, theory, phase_figure = _phase_diagram(params, out)
    largest = max(params["dims"])
    compared = theory <= params["compare_fraction"] * params["t_max"]
    relative = np.abs(crossings[largest][compared] / theory[compared] - 1)
    phase_error = float(np.nanmax(relative)) if np.all(np.isfinite(relative)) else float("inf")
    tol_curve, tol_phase = params["curve_tolerance"], params["phase_tolerance"]
    others = ", ".join(
        f"d = {d}: {np.nanmedian(np.abs(crossings[d][compared] / theory[compared] - 1)):.2g}"
        for d in params["dims"]
        if d != largest
    )
    return Outcome(
        prediction="orthogonal start: every ⟨xi,xj⟩(t) equals γ(t) of the scalar ODE; in high dimension the "
        "transition of P(⟨xi,xj⟩ ≥ 1 − δ) follows the curve γ_β(t) = 1 − δ",
        measured=f"max |⟨xi,xj⟩ − γ| = {curve_error:.2g}; at d = {largest} the time where P = 1/2 is within "
        f"{phase_error:.2g} (relative) of the theory curve for {int(compared.sum())} β values "
        f"(median relative gap at {others or 'no other d'})",
        agrees=curve_error <= tol_curve and phase_error <= tol_phase,
        tolerance=f"curve: ≤ {tol_curve:g} absolute (dopri5, rtol 1e-10); phase boundary at the largest d: "
        f"≤ {tol_phase:g} relative, for β whose theory time ≤ {params['compare_fraction']:g}·t_max",
        values={
            "curve_max_error": curve_error,
            "phase_max_relative_gap": phase_error,
            "betas": np.linspace(*params["beta_range"], params["n_betas"]),
            "theory_time": theory,
            **{f"simulated_time_d{d}": c for d, c in crossings.items()},
        },
        figures=[phase_figure, curve_figure],
        notes="The theory curve is exact for orthogonal starts; random starts in low dimension (d = 8 < n) "
        "are far from orthogonal and cross earlier, as the phase diagram shows.",
    )


register(
    Experiment(
        name="equiangular-curve",
        title="The equiangular curve γ(t) and the (t, β) phase diagram",
        source=SOURCE,
        claim="From an orthogonal start all pairwise inner products follow one curve γ(t) solving a scalar "
        "ODE; the curve γ_β(t) = 1 − δ predicts where P(⟨xi,xj⟩ ≥ 1 − δ) jumps in the simulated (t, β) plane "
        "for random starts in high dimension.",
        defaults={
            "n": 32,
            "variant": "SA",
            "curve_betas": [1.0, 4.0, 9.0],
            "dims": [8, 128, 1024],
            "beta_range": [0.1, 9.0],
            "n_betas": 24,
            "seeds": 4,
            "seed": 0,
            "t_max": 30.0,
            "dt": 0.1,
            "save_every": 5,
            "delta": 1e-3,
            "compare_fraction": 0.8,
            "curve_tolerance": 1e-6,
            "phase_tolerance": 0.1,
        },
        quick={
            "n": 16,
            "curve_betas": [1.0, 4.0],
            "dims": [8, 512],
            "beta_range": [0.1, 4.0],
            "n_betas": 4,
            "seeds": 1,
            "t_max": 16.0,
            "dt": 0.2,
            "save_every": 2,
        },
        runner=_equiangular,
    )
)
