"""Experiment ``mean-field-limit``: tokens on the circle follow the continuity equation as n grows."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from attnflow.experiments.base import Experiment, Outcome, register

# Tolerances of the verdict.
_SLOPE_TOLERANCE = 0.15  # |fitted exponent of W₁(t_end) in n − (−1/2)|
_RATIO_SLOPE_TOLERANCE = 0.15  # |exponent of W₁(t_end)/W₁(0) in n|: the ratio must not grow with n
_RATE_TOLERANCE = 0.02  # relative error of the fitted linear growth rates
_MASS_TOLERANCE = 1e-12
_ENERGY_DROP_TOLERANCE = 1e-12  # largest relative decrease of E_β between saved states
_PERTURBATION = 1e-8  # amplitude of each mode in the linear-rate run (keeps it linear)


def initial_density(angles: np.ndarray) -> np.ndarray:
    """The start of the particle comparison: a smooth, unnormalised density with two unequal modes."""
    return 1 + 0.6 * np.cos(angles) + 0.4 * np.cos(3 * angles + 0.5)


def _run(params: Mapping[str, Any], out_dir: Path) -> Outcome:
    import torch

    import attnflow.meanfield as mf
    from attnflow import theory as circle_theory
    from attnflow.dynamics import SelfAttention
    from attnflow.integrate import simulate
    from attnflow.viz.figure import finish, new_figure

    beta, variant, t_end = float(params["beta"]), str(params["variant"]), float(params["t_end"])
    steps, seeds, n_cells = int(params["steps"]), int(params["seeds"]), int(params["n_cells"])
    sizes = [int(n) for n in params["n_particles"]]
    grid = mf.angle_grid(n_cells).numpy()

    # The PDE, saved at every particle step.
    pde = mf.solve(initial_density(grid), beta, variant, t_end=t_end, n_saves=steps + 1)
    mass_error = float(np.abs(pde.mass().values - 1).max())
    energy = mf.energy(pde, beta).values
    energy_drop = float(max(0.0, -np.min(np.diff(energy)) / energy[0]))
    min_density = float(pde.density.min())

    # Particles drawn i.i.d. from the initial density, moved by the particle simulator.
    field = SelfAttention(beta, variant=variant, geometry="sphere")
    generator = torch.Generator().manual_seed(int(params["seed"]))
    w1_start, w1_end, shown = [], [], None
    for n in sizes:
        # `seeds` runs at the largest n and proportionally more below it (cheap), for an even fit.
        runs_here = seeds * max(sizes) // n
        angles = torch.stack([mf.sample_angles(pde.density[0], n, generator) for _ in range(runs_here)])
        runs = simulate(field, mf.points_on_circle(angles), t_end=t_end, dt=t_end / steps, method="rk4")
        w1 = np.array([mf.distance_to_particles(pde, run[[0, -1]]).values for run in runs])
        w1_start.append(w1[:, 0].mean())
        w1_end.append(w1[:, 1].mean())
        if shown is None or n == int(params["figure_particles"]):
            shown = runs[0]
    log_n = np.log(sizes)
    slope = float(np.polyfit(log_n, np.log(w1_end), 1)[0])
    ratios = np.array(w1_end) / np.array(w1_start)
    ratio_slope = float(np.polyfit(log_n, np.log(ratios), 1)[0])
    stability = circle_theory.dobrushin_rate(beta, variant)
    measured_rate = float(np.log(ratios.max()) / t_end)

    # Linear instability of the uniform density: every mode at once, tiny amplitude.
    modes = np.arange(1, int(params["modes"]) + 1)
    phases = np.random.default_rng(int(params["seed"])).uniform(0, 2 * np.pi, modes.size)
    perturbed = 1 / (2 * np.pi) + _PERTURBATION * np.cos(np.outer(grid, modes) + phases).sum(axis=1)
    theory = circle_theory.growth_rate(modes, beta, variant)
    linear = mf.solve(perturbed, beta, variant, t_end=4.0 / float(np.abs(theory).max()), n_saves=41)
    amplitudes = mf.fourier_modes(linear, int(modes[-1])).values
    fitted = np.polyfit(linear.times.numpy(), np.log(amplitudes), 1)[0]
    rate_error = float(np.max(np.abs(fitted / theory - 1)))

    checks = {
        "exponent of W₁ in n": abs(slope + 0.5) <= _SLOPE_TOLERANCE,
        "W₁(t)/W₁(0) flat in n": abs(ratio_slope) <= _RATIO_SLOPE_TOLERANCE,
        "W₁(t) ≤ e^{Ct}W₁(0)": measured_rate <= stability,
        "linear rates": rate_error <= _RATE_TOLERANCE,
        "mass": mass_error <= _MASS_TOLERANCE,
        "energy non-decreasing": energy_drop <= _ENERGY_DROP_TOLERANCE,
        "positivity": min_density >= 0,
    }
    failed = [name for name, ok in checks.items() if not ok]

    fig = new_figure(13, 4.2)
    heat, scaling, rates = fig.subplots(1, 3, width_ratios=[2.2, 1, 1])
    mf.draw_density(heat, pde, shown)
    heat.set_title(f"mean-field density with tokens on top ({variant}, β = {beta:g})")
    scaling.loglog(sizes, w1_start, "o-", label="t = 0")
    scaling.loglog(sizes, w1_end, "s-", label=f"t = {t_end:g} (slope {slope:.2f})")
    reference = w1_end[0] * (np.array(sizes) / sizes[0]) ** -0.5
    scaling.loglog(sizes, reference, "k--", lw=1, label="$n^{-1/2}$")
    scaling.set_xticks(sizes, [str(n) for n in sizes])
    scaling.minorticks_off()
    scaling.set_xlabel("number of tokens n")
    scaling.set_ylabel("W₁(tokens, PDE) (rad)")
    scaling.set_title("particles → PDE")
    scaling.legend(fontsize="small")
    fine = np.arange(1, modes[-1] + 1)
    rates.plot(
        fine,
        circle_theory.growth_rate(fine, beta, variant),
        "k-",
        lw=1,
        label="theory ℓ²I_ℓ(β)/β" + ("/I₀(β)" if variant == "SA" else ""),
    )
    rates.plot(modes, fitted, "o", mfc="none", ms=8, label="fitted from the PDE")
    rates.set_xlabel("mode ℓ")
    rates.set_ylabel("growth rate λ_ℓ")
    rates.set_title("instability of the uniform law")
    rates.legend(fontsize="small")
    figure = out_dir / "mean_field_limit.png"
    finish(fig, figure)

    return Outcome(
        prediction=(
            "W₁ between n tokens and the PDE ∝ n^-1/2 at every t, "
            f"W₁(t) ≤ e^(Ct)·W₁(0) with C = {stability:.3g}; "
            f"mode ℓ of the uniform density grows at ℓ²I_ℓ(β)/β{'/I₀(β)' if variant == 'SA' else ''}; "
            "mass conserved, E_β non-decreasing, ρ ≥ 0"
        ),
        measured=(
            f"W₁(t={t_end:g}) ∝ n^{slope:.3f}; W₁(t)/W₁(0) ∝ n^{ratio_slope:.3f}, max {ratios.max():.3g} "
            f"(rate {measured_rate:.3g}); rates within {100 * rate_error:.2g}%; mass error {mass_error:.1e}"
        ),
        agrees=not failed,
        tolerance=(
            f"|exponent + 1/2| ≤ {_SLOPE_TOLERANCE}; |ratio exponent| ≤ {_RATIO_SLOPE_TOLERANCE}; rates to "
            f"{100 * _RATE_TOLERANCE:g}%; mass to {_MASS_TOLERANCE:g}; "
            f"energy drops ≤ {_ENERGY_DROP_TOLERANCE:g} (relative)"
        ),
        values={
            "n_particles": sizes,
            "w1_start": w1_start,
            "w1_end": w1_end,
            "w1_exponent": slope,
            "ratio_exponent": ratio_slope,
            "stability_rate_bound": stability,
            "stability_rate_measured": measured_rate,
            "modes": modes.tolist(),
            "rate_theory": theory.tolist(),
            "rate_fitted": fitted.tolist(),
            "rate_max_relative_error": rate_error,
            "mass_error": mass_error,
            "energy_max_relative_drop": energy_drop,
            "min_density": min_density,
        },
        figures=[figure],
        notes=(
            ("Failed: " + ", ".join(failed) + ". " if failed else "")
            + "Tokens are i.i.d. samples of the initial density (so W₁(0) ~ n^-1/2) moved by "
            "attnflow.simulate "
            f"(RK4, {steps} steps, float64); the PDE is the finite-volume solver on {n_cells} cells. "
            "C is the Dobrushin stability rate (attnflow.theory.dobrushin_rate), a worst-case bound."
        ),
    )


register(
    Experiment(
        name="mean-field-limit",
        title="The mean-field limit on the circle: particles converge to the continuity equation",
        source="seed 002: tokens as particles; the law solves ∂_t μ + div(μ 𝒳[μ]) = 0",
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
            "seeds": 8,
            "figure_particles": 256,
            "modes": 8,
            "seed": 0,
        },
        quick={"steps": 16, "n_cells": 256, "n_particles": [32, 64, 128, 256], "seeds": 6, "modes": 6},
        runner=_run,
    )
)
