"""Experiment ``mean-field-limit``: tokens on the circle follow the continuity equation as n grows."""

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
    status_of,
    trajectory_from,
    trajectory_values,
)
from attnflow.experiments.papers import MATHEMATICAL_PERSPECTIVE, PERSPECTIVE_TOC

# Tolerances of the verdict.
#: The claim: W₁(t) ∝ n^-1/2 at every t, so W₁(t)/W₁(0) is flat in n (exponent 0; Lipschitz stability of the
#: flow in W₁). The named rival: a flow only Hölder-½ stable in W₁ (W₁(t) ≲ W₁(0)^{1/2}), which gives
#: W₁(t) ∝ n^-1/4 and a ratio ∝ n^{+1/4}. Each exponent is accepted within half the gap to its rival,
#: 1/8, so a 95% interval inside the band excludes the rival: the margin follows from the rival, not from
#: the data. The exponents' intervals are Student t over seed groups (one log-log slope per group).
EXPONENT = -0.5
RIVAL_EXPONENT = -0.25
EXPONENT_MARGIN = abs(EXPONENT - RIVAL_EXPONENT) / 2
# Relative error of the fitted linear growth rates: the finite-volume solver's second-order error for mode
# ℓ ≤ 8 on 256–512 cells is ~(ℓ·2π/cells)² ≤ 4e-2 at 256 cells, ≤ 1e-2 at 512; the nonlinear terms at
# amplitude 1e-8 grown by e⁴ are ~1e-6. 2% covers the full size; at 256 cells (quick) it is the scale.
_RATE_TOLERANCE = 0.02
# Mass and energy: the conservative scheme preserves mass, and E_β rises, up to float64 rounding.
_MASS_TOLERANCE = 1e-12
_ENERGY_DROP_TOLERANCE = 1e-12  # largest relative decrease of E_β between saved states
_PERTURBATION = 1e-8  # amplitude of each mode in the linear-rate run (keeps it linear)


def initial_density(angles: np.ndarray) -> np.ndarray:
    """The start of the particle comparison: a smooth, unnormalised density with two unequal modes."""
    return 1 + 0.6 * np.cos(angles) + 0.4 * np.cos(3 * angles + 0.5)


def _compute(params: Mapping[str, Any]) -> dict[str, Any]:
    import torch

    import attnflow.meanfield as mf
    from attnflow import measure
    from attnflow import theory as circle_theory
    from attnflow.dynamics import SelfAttention
    from attnflow.integrate import simulate
    from attnflow.measure.fits import fit_loglog_slope, log_slope
    from attnflow.random import numpy_generator, spawn
    from attnflow.trajectory import angle_grid

    beta, variant, t_end = float(params["beta"]), str(params["variant"]), float(params["t_end"])
    steps, seeds, n_cells = int(params["steps"]), int(params["seeds"]), int(params["n_cells"])
    sizes = [int(n) for n in params["n_particles"]]
    grid = angle_grid(n_cells).numpy()

    # The PDE, saved at every particle step.
    pde = mf.solve(initial_density(grid), beta, variant, t_end=t_end, n_saves=steps + 1)
    mass_error = float(np.abs(pde.mass().values - 1).max())
    energy = measure.energy(pde, beta).values
    energy_drop = float(max(0.0, -np.min(np.diff(energy)) / energy[0]))
    min_density = float(pde.density.min())

    # Particles drawn i.i.d. from the initial density, moved by the particle simulator: one child seed
    # per size, one grandchild per run. The root seed also draws the phases of the linear run (NumPy).
    field = SelfAttention(beta, variant=variant, geometry="sphere")
    # W₁ per seed group (rows) and size (columns): group g averages its share of the runs at each n.
    w1_start, w1_end, shown = np.empty((seeds, len(sizes))), np.empty((seeds, len(sizes))), None
    for column, (n, size_seed) in enumerate(zip(sizes, spawn(int(params["seed"]), len(sizes)), strict=True)):
        # `seeds` runs at the largest n and proportionally more below it (cheap), for an even fit.
        runs_here = seeds * (max(sizes) // n)
        angles = torch.stack(
            [mf.sample_angles(pde.density[0], n, seed=s) for s in spawn(size_seed, runs_here)]
        )
        runs = simulate(field, mf.points_on_circle(angles), t_end=t_end, dt=t_end / steps, method="rk4")
        w1 = np.array([measure.distance_to_particles(pde, run[[0, -1]]).values for run in runs])
        groups = w1.reshape(seeds, runs_here // seeds, 2).mean(axis=1)
        w1_start[:, column], w1_end[:, column] = groups[:, 0], groups[:, 1]
        if shown is None or n == int(params["figure_particles"]):
            shown = runs[0]
    exponent = fit_loglog_slope(sizes, w1_end)
    ratio_exponent = fit_loglog_slope(sizes, w1_end / w1_start)
    ratios = w1_end.mean(axis=0) / w1_start.mean(axis=0)

    # Linear instability of the uniform density: every mode at once, tiny amplitude.
    modes = np.arange(1, int(params["modes"]) + 1)
    phases = numpy_generator(int(params["seed"])).uniform(0, 2 * np.pi, modes.size)
    perturbed = 1 / (2 * np.pi) + _PERTURBATION * np.cos(np.outer(grid, modes) + phases).sum(axis=1)
    theory = circle_theory.growth_rate(modes, beta, variant)
    linear = mf.solve(perturbed, beta, variant, t_end=4.0 / float(np.abs(theory).max()), n_saves=41)
    amplitudes = measure.fourier_modes(linear, int(modes[-1])).values
    times = linear.times.numpy()
    fitted = np.array([log_slope(times, amplitudes[:, k])[0] for k in range(modes.size)])

    return {
        "n_particles": sizes,
        "w1_start": w1_start.mean(axis=0),
        "w1_end": w1_end.mean(axis=0),
        "w1_exponent": exponent.slope,
        "w1_exponent_ci": np.array([exponent.ci_low, exponent.ci_high]),
        "ratio_exponent": ratio_exponent.slope,
        "ratio_exponent_ci": np.array([ratio_exponent.ci_low, ratio_exponent.ci_high]),
        "stability_rate_bound": circle_theory.dobrushin_rate(beta, variant),
        "stability_rate_measured": float(np.log(ratios.max()) / t_end),
        "modes": modes.tolist(),
        "rate_theory": theory.tolist(),
        "rate_fitted": fitted.tolist(),
        "rate_max_relative_error": float(np.max(np.abs(fitted / theory - 1))),
        "mass_error": mass_error,
        "energy_max_relative_drop": energy_drop,
        "min_density": min_density,
        "figure": {
            "density": {"times": pde.times.numpy(), "values": pde.density.numpy()},
            "particles": trajectory_values(shown),
        },
    }


def _checks(values: Mapping[str, Any]) -> dict[str, str]:
    """Each part of the prediction and its status."""
    exponent, ratio = values["w1_exponent_ci"], values["ratio_exponent_ci"]
    return {
        "exponent of W₁ in n": interval_status(
            float(exponent[0]), float(exponent[1]), EXPONENT - EXPONENT_MARGIN, EXPONENT + EXPONENT_MARGIN
        ),
        "W₁(t)/W₁(0) flat in n": interval_status(
            float(ratio[0]), float(ratio[1]), -EXPONENT_MARGIN, EXPONENT_MARGIN
        ),
        "W₁(t) ≤ e^{Ct}W₁(0)": status_of(values["stability_rate_measured"] <= values["stability_rate_bound"]),
        "linear rates": status_of(values["rate_max_relative_error"] <= _RATE_TOLERANCE),
        "mass": status_of(values["mass_error"] <= _MASS_TOLERANCE),
        "energy non-decreasing": status_of(values["energy_max_relative_drop"] <= _ENERGY_DROP_TOLERANCE),
        "positivity": status_of(values["min_density"] >= 0),
    }


def _rate_formula(variant: str) -> str:
    return "ℓ²I_ℓ(β)/β" + ("/I₀(β)" if variant == "SA" else "")


def _verdict(params: Mapping[str, Any], values: Mapping[str, Any]) -> Verdict:
    checks = _checks(values)
    failed = [name for name, status in checks.items() if status == "disagrees"]
    undecided = [name for name, status in checks.items() if status == "inconclusive"]
    ratios = np.asarray(values["w1_end"]) / np.asarray(values["w1_start"])
    exponent, ratio = values["w1_exponent_ci"], values["ratio_exponent_ci"]
    return Verdict(
        status=combine(*checks.values()),
        prediction=(
            "W₁ between n tokens and the PDE ∝ n^-1/2 at every t, "
            f"W₁(t) ≤ e^(Ct)·W₁(0) with C = {values['stability_rate_bound']:.3g}; "
            f"mode ℓ of the uniform density grows at {_rate_formula(params['variant'])}; "
            "mass conserved, E_β non-decreasing, ρ ≥ 0"
        ),
        measured=(
            f"W₁(t={params['t_end']:g}) ∝ n^{values['w1_exponent']:.3f} [{exponent[0]:.3f}, "
            f"{exponent[1]:.3f}]; W₁(t)/W₁(0) ∝ n^{values['ratio_exponent']:.3f} [{ratio[0]:.3f}, "
            f"{ratio[1]:.3f}], max {ratios.max():.3g} "
            f"(rate {values['stability_rate_measured']:.3g}); rates within "
            f"{100 * values['rate_max_relative_error']:.2g}%; mass error {values['mass_error']:.1e}"
        ),
        tolerance=(
            f"exponents: the 95% interval (Student t over {params['seeds']} seed groups) inside "
            f"−1/2 ± {EXPONENT_MARGIN:g} (W₁) and 0 ± {EXPONENT_MARGIN:g} (ratio) agrees, outside "
            "disagrees, across an edge is inconclusive (more seeds would decide); the margin is half the "
            "gap to the rival n^-1/4 (a flow only Hölder-½ stable in W₁), so agreement excludes it. Rates "
            f"to {100 * _RATE_TOLERANCE:g}% (the solver's O((ℓ·2π/cells)²) error); mass to "
            f"{_MASS_TOLERANCE:g} and energy drops ≤ {_ENERGY_DROP_TOLERANCE:g} (relative): float64 "
            "rounding"
        ),
        notes=(
            ("Failed: " + ", ".join(failed) + ". " if failed else "")
            + ("Undecided: " + ", ".join(undecided) + ". " if undecided else "")
            + "Tokens are i.i.d. samples of the initial density (so W₁(0) ~ n^-1/2) moved by "
            "attnflow.simulate "
            f"(RK4, {params['steps']} steps, float64); the PDE is the finite-volume solver on "
            f"{params['n_cells']} cells. "
            "C is the Dobrushin stability rate (attnflow.theory.dobrushin_rate), a worst-case bound."
        ),
    )


def _figures(params: Mapping[str, Any], values: Mapping[str, Any], out: Path) -> list[Path]:
    from attnflow.trajectory import DensityTrajectory
    from attnflow.viz.claims import plot_mean_field_limit

    figures = [out / "mean_field_limit.png"]
    plot_mean_field_limit(
        DensityTrajectory(values["figure.density.times"], values["figure.density.values"]),
        trajectory_from(values, "figure.particles"),
        values["n_particles"],
        values["w1_start"],
        values["w1_end"],
        values["w1_exponent"],
        values["modes"],
        values["rate_theory"],
        values["rate_fitted"],
        title=f"mean-field density with tokens on top ({params['variant']}, β = {params['beta']:g})",
        rate_label=f"theory {_rate_formula(params['variant'])}",
        path=figures[0],
    )
    return figures


MEAN_FIELD_LIMIT = Experiment(
    name="mean-field-limit",
    title="The mean-field limit on the circle: particles converge to the continuity equation",
    citation=MATHEMATICAL_PERSPECTIVE.at(
        "Section 3, measure to measure flow map: the law solves ∂_t μ + div(μ 𝒳[μ]) = 0",
        note="the growth rates of the uniform law's modes are attnflow's linearisation on the circle "
        "(Section 7, Dynamics on the circle)",
        checked=PERSPECTIVE_TOC,
    ),
    claim=(
        "The empirical law of n tokens follows the continuity equation of self-attention: their W₁ "
        "distance to the PDE solution decays like n^-1/2 and grows at most like e^(Ct); the uniform "
        "law is unstable, mode ℓ growing at the linearised rate."
    ),
    defaults={
        "beta": 4.0,
        "variant": "SA",
        "t_end": 2.0,
        "steps": 40,
        "n_cells": 512,
        "n_particles": [64, 128, 256, 512, 1024],
        # Seed groups, sized for power: 8 groups gave per-group exponents with s.d. ≈ 0.12, so a 95%
        # half-width of 0.10, wider than the band left around the measured −0.46 (inconclusive); 16 give
        # ≈ 0.065 (t₁₅ · 0.12 / 4). The band itself (±1/8) is fixed by the rival, not by this run.
        "seeds": 16,
        "figure_particles": 256,
        "modes": 8,
        "seed": 0,
    },
    quick={"steps": 16, "n_cells": 256, "n_particles": [32, 64, 128, 256], "seeds": 6, "modes": 6},
    compute=_compute,
    verdict=_verdict,
    figures=_figures,
)
