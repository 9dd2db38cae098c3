"""Seed 001: attention as inference in exchangeable latent-variable worlds.

Three checks: attention with the right parameters estimates the conditional mean of the value given
the key with an error that falls with the number of tokens (``attention-conditional-mean``); ERM learns
the parameters with a generalisation gap that does not grow with the number of tokens
(``erm-generalisation``); the condition number of the pretext matrix governs how much of a downstream
target a self-supervised representation recovers (``ssl-condition-number``). Definitions: docs/inference.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from attnflow.experiments.base import Experiment, Outcome, register

SOURCE = "seed 001: attention as inference"


def _slope_text(fit: Any) -> str:
    return f"{fit.slope:+.3f} [{fit.ci_low:+.3f}, {fit.ci_high:+.3f}]"


def _seeds(params: Mapping[str, Any]) -> list[int]:
    return list(range(params["seed"], params["seed"] + params["seeds"]))


def _gaussian_world(params: Mapping[str, Any]) -> Any:
    from attnflow.inference import GaussianWorld

    return GaussianWorld(
        key_dim=params["key_dim"],
        value_dim=params["value_dim"],
        noise_var=params["noise_var"],
        query_scale=params["query_scale"],
    )


def _errorbar(ax: Any, x: Any, runs: np.ndarray, label: str, fmt: str = "o-") -> None:
    """Mean over seeds (the rows of ``runs``) with one standard deviation as error bars."""
    ax.errorbar(x, runs.mean(0), yerr=runs.std(0, ddof=1), fmt=fmt, capsize=3, label=label)


def _conditional_mean(params: Mapping[str, Any], out: Path) -> Outcome:
    """Error of attention to E[v | k = q, z] against n, in the Gaussian and regression worlds."""
    from attnflow.inference import (
        AttentionParameters,
        RegressionWorld,
        attention_estimator,
        error_curve,
    )
    from attnflow.measure.fits import fit_loglog_slope
    from attnflow.viz.figure import finish, new_figure

    ns = [int(n) for n in params["ns"]]
    seeds = _seeds(params)
    sizes = {"n_sets": params["n_sets"], "n_queries": params["n_queries"], "seeds": seeds}
    world = _gaussian_world(params)
    right = world.right_parameters(1)
    wrong = AttentionParameters(right.query, right.key, right.value, right.beta * params["misspecified_beta"])
    main_name, wrong_name = "attention, right parameters", f"attention, β × {params['misspecified_beta']:g}"
    reg_name = "regression world, β ∝ n^(2/5)"
    curves = {
        main_name: error_curve(world, ns, **sizes),
        wrong_name: error_curve(world, ns, attention_estimator(world, wrong), **sizes),
        "Bayes E[v | k = q, X]": error_curve(world, ns, world.predictive_mean, **sizes),
    }
    harmonic = params["regression_harmonic"]
    regression = RegressionWorld(
        lambda k: torch.sin(harmonic * torch.atan2(k[..., 1], k[..., 0]))[..., None],
        noise_var=params["noise_var"],
        bandwidth_constant=params["bandwidth_constant"],
    )
    curves[reg_name] = error_curve(regression, ns, **sizes)
    fits = {name: fit_loglog_slope(c.ns, c.errors) for name, c in curves.items()}
    main_fit, reg_fit = fits[main_name], fits[reg_name]
    right_errors = curves[main_name].errors[:, -1]
    wrong_errors = curves[wrong_name].errors[:, -1]
    beats_wrong = bool(np.all(right_errors < wrong_errors))
    agrees = main_fit.ci_high < 0 and reg_fit.ci_high < 0 and beats_wrong

    fig = new_figure(6.8, 4.6)
    ax = fig.add_subplot()
    for name, curve in curves.items():
        fit = fits[name]
        line = ax.loglog(curve.ns, curve.mean, "o-", ms=4, label=f"{name}: slope {_slope_text(fit)}")[0]
        ax.fill_between(
            curve.ns, curve.errors.min(axis=0), curve.errors.max(axis=0), color=line.get_color(), alpha=0.15
        )
        ax.loglog(curve.ns, np.exp(fit.intercept) * curve.ns**fit.slope, ":", color=line.get_color(), lw=1)
    ax.set_xlabel("tokens per set n")
    ax.set_ylabel("RMSE to E[v | k = q, z]")
    ax.set_title(f"attention as a conditional-mean estimator ({len(seeds)} seeds, 95% CI of the slope)")
    ax.legend(frameon=False, fontsize=7)
    ax.grid(alpha=0.3, which="both")
    figure = out / "conditional_mean_error.png"
    finish(fig, figure)

    return Outcome(
        prediction=(
            "the error of attention with the right parameters to E[v | k = q, z] decreases with n; at fixed "
            "parameters attention is a ratio of two sample means, so the expected rate is n^-1/2 "
            "(Gaussian world); with a bandwidth shrinking as β ∝ n^{2/5} on the circle, n^-2/5 "
            "asymptotically "
            "(regression world); right parameters beat mis-specified ones"
        ),
        measured=(
            f"log-log slope {_slope_text(main_fit)} (Gaussian world), {_slope_text(reg_fit)} (regression "
            f"world); -1/2 {'inside' if main_fit.contains(-0.5) else 'outside'} the Gaussian CI, -2/5 "
            f"{'inside' if reg_fit.contains(-0.4) else 'outside'} the regression CI; at n = {ns[-1]} RMSE "
            f"{right_errors.mean():.3g} (right) vs {wrong_errors.mean():.3g} "
            f"(β × {params['misspecified_beta']:g})"
        ),
        agrees=agrees,
        tolerance=(
            "agrees when the 95% CI (Student t over seeds) of both slopes lies below 0 and the right "
            "parameters have the lower error at the largest n for every seed; the rates are reported, "
            "not judged"
        ),
        values={
            "ns": np.asarray(ns),
            **{f"rmse[{name}]": c.errors for name, c in curves.items()},
            **{f"slope[{name}]": f.slope for name, f in fits.items()},
            **{f"slope_ci[{name}]": np.array([f.ci_low, f.ci_high]) for name, f in fits.items()},
        },
        figures=[figure],
        notes=(
            f"Gaussian world: Z with N(0,1) entries, k ~ N(0, I_{params['key_dim']}), v = Z k + ε "
            f"(σ² = {params['noise_var']:g}); queries are {params['query_scale']:g} × a key, because the "
            "importance weights e^{q·k} have infinite variance averaged over queries drawn like keys, which "
            "slows the rate. The Bayes curve is the posterior-mean prediction, the best any estimator can "
            "do. "
            "The -2/5 rate of the regression world is asymptotic; at small n its kernel holds only a "
            "few tokens."
        ),
    )


def _erm_generalisation(params: Mapping[str, Any], out: Path) -> Outcome:
    """Generalisation gap of supervised and self-supervised ERM against n and against the number of sets."""
    from attnflow.inference import parameter_distance, train_erm
    from attnflow.measure.fits import fit_slope
    from attnflow.viz.figure import finish, new_figure

    world = _gaussian_world(params)
    seeds = _seeds(params)
    training = {"steps": params["steps"], "lr": params["lr"], "n_test_sets": params["n_test_sets"]}
    ns = [int(n) for n in params["ns"]]
    set_counts = [int(m) for m in params["set_counts"]]

    def run(objective: str, n: int, sets: int, seed: int) -> Any:
        return train_erm(world, objective, n, sets, seed=seed, **training)

    gaps_n: dict[str, np.ndarray] = {}
    distances: dict[str, np.ndarray] = {}
    for objective in ("supervised", "self-supervised"):
        runs = [[run(objective, n, params["train_sets"], s) for n in ns] for s in seeds]
        gaps_n[objective] = np.array([[r.gap for r in row] for row in runs])
        distances[objective] = np.array(
            [
                [
                    parameter_distance(r.parameters, world.right_parameters(r.n_tokens), world.key_dim)
                    for r in row
                ]
                for row in runs
            ]
        )
    gaps_sets = np.array(
        [[run("supervised", params["n_fixed"], m, s).gap for m in set_counts] for s in seeds]
    )

    per_doubling = {obj: fit_slope(np.log2(ns), g) for obj, g in gaps_n.items()}
    over_sets = fit_slope(np.log2(set_counts), gaps_sets)
    not_growing = all(f.ci_low <= 0 for f in per_doubling.values())
    falls_with_sets = over_sets.ci_high < 0
    agrees = not_growing and falls_with_sets

    fig = new_figure(10.5, 4.0)
    left, right = fig.subplots(1, 2)
    for objective, gaps in gaps_n.items():
        _errorbar(left, ns, gaps, f"{objective}: {_slope_text(per_doubling[objective])} per doubling of n")
    _errorbar(right, set_counts, gaps_sets, f"supervised: {_slope_text(over_sets)} per doubling of sets")
    left.set_title(f"gap vs n ({params['train_sets']} training sets, {len(seeds)} seeds)")
    right.set_title(f"gap vs training sets (n = {params['n_fixed']})")
    for ax, xlabel in ((left, "tokens per set n"), (right, "number of training sets")):
        ax.axhline(0, color="k", lw=0.8)
        ax.set_xscale("log", base=2)
        ax.set(xlabel=xlabel, ylabel="generalisation gap (test − train risk)")
        ax.legend(frameon=False, fontsize=7)
        ax.grid(alpha=0.3)
    figure = out / "erm_generalisation_gap.png"
    finish(fig, figure)

    return Outcome(
        prediction=(
            "the generalisation gap of supervised and self-supervised ERM does not grow with the number of "
            "tokens n per set, and falls as the number of training sets grows"
        ),
        measured=(
            "gap change per doubling of n: "
            + ", ".join(f"{obj} {_slope_text(f)}" for obj, f in per_doubling.items())
            + f"; per doubling of the training sets {_slope_text(over_sets)}; mean gap "
            + ", ".join(f"{obj} {g.mean(0)[0]:.3g} → {g.mean(0)[-1]:.3g}" for obj, g in gaps_n.items())
            + f" from n = {ns[0]} to {ns[-1]}; learned-vs-right parameter distance at n = {ns[-1]} (median "
            + "over seeds; in brackets the runs above 0.5, stuck in another stationary point): "
            + ", ".join(
                f"{obj} {np.median(d[:, -1]):.2f} ({int((d[:, -1] > 0.5).sum())}/{d.shape[0]})"
                for obj, d in distances.items()
            )
        ),
        agrees=agrees,
        tolerance=(
            "agrees when, for both objectives, the 95% CI (t over seeds) of the gap's slope against log2 n "
            "reaches 0 or below (no evidence of growth), and the CI of its slope against log2(training sets) "
            "lies below 0"
        ),
        values={
            "ns": np.asarray(ns),
            "set_counts": np.asarray(set_counts),
            **{f"gap_vs_n[{obj}]": g for obj, g in gaps_n.items()},
            **{f"parameter_distance[{obj}]": d for obj, d in distances.items()},
            "gap_vs_sets[supervised]": gaps_sets,
            **{f"slope_per_doubling_n[{obj}]": f.slope for obj, f in per_doubling.items()},
            "slope_per_doubling_sets": over_sets.slope,
        },
        figures=[figure],
        notes=(
            "Gaussian world (in-context linear regression); one attention head, W_Q, W_K, W_V learned by "
            f"full-batch Adam ({params['steps']} steps), β = 1. Supervised: one labelled query per set; "
            "self-supervised: every token of a set of n + 1 masked in turn. The gap is test risk on "
            f"{params['n_test_sets']} fresh sets minus the final training risk. The parameter distance is "
            "taken up to the value scale (see parameter_distance)."
        ),
    )


def _ssl_condition_number(params: Mapping[str, Any], out: Path) -> Outcome:
    """Downstream error of a self-supervised attention representation against the condition number."""
    from attnflow.inference import (
        MixtureWorld,
        condition_number,
        fit_linear_head,
        probe_features,
        train_erm,
    )
    from attnflow.measure.fits import fit_loglog_slope
    from attnflow.viz.figure import finish, new_figure

    rng = np.random.default_rng(params["world_seed"])
    k, dk, dv = params["components"], params["key_dim"], params["value_dim"]
    shared = rng.standard_normal((dv, dk))
    offsets = rng.standard_normal((k, dv, dk))
    label_means = rng.standard_normal(k)
    probes = torch.eye(dk, dtype=torch.float64)
    separations = [float(e) for e in params["separations"]]
    seeds = _seeds(params)

    kappas = []
    excess = np.empty((len(seeds), len(separations)))
    excess_ideal = np.empty_like(excess)
    for j, eps in enumerate(separations):
        # Scaling the component offsets and the noise together leaves the posterior p(z | X) unchanged,
        # so the downstream task is equally solvable for the Bayes rule at every eps; only κ moves.
        world = MixtureWorld(shared + eps * offsets, key_var=1.0, noise_var=(eps * params["noise_std"]) ** 2)
        kappas.append(condition_number(world, probes))
        for s, seed in enumerate(seeds):
            learned = train_erm(
                world,
                "self-supervised",
                params["n_tokens"],
                params["train_sets"],
                seed=seed,
                steps=params["steps"],
                lr=params["lr"],
                n_test_sets=256,
            ).parameters
            generator = torch.Generator().manual_seed(10_000 + seed)
            train_sets = world.sample(params["downstream_sets"], params["n_tokens"], generator)
            test_sets = world.sample(params["downstream_sets"], params["n_tokens"], generator)
            label_noise = np.random.default_rng(10_000 + seed).standard_normal(train_sets.n_sets)
            labels = label_means[train_sets.latent.numpy()] + params["label_noise"] * label_noise
            bayes = world.posterior(test_sets) @ label_means
            head = fit_linear_head(probe_features(learned, train_sets, probes), labels)
            prediction = head(probe_features(learned, test_sets, probes))
            excess[s, j] = np.mean((prediction - bayes) ** 2) / np.var(bayes)

            # The same head on the Bayes pretext predictions Σ_z p(z | X) A_z p_j: a function of the
            # posterior alone, the representation the seed calls sufficient.
            ideal_train, ideal_test = (
                world.predictive_mean(probes.expand(d.n_sets, -1, -1), d).reshape(d.n_sets, -1)
                for d in (train_sets, test_sets)
            )
            ideal_head = fit_linear_head(ideal_train, labels)
            excess_ideal[s, j] = np.mean((ideal_head(ideal_test) - bayes) ** 2) / np.var(bayes)
    kappas_arr = np.asarray(kappas)
    fit = fit_loglog_slope(kappas_arr, excess)
    agrees = fit.ci_low > 0

    fig = new_figure(6.4, 4.4)
    ax = fig.add_subplot()
    _errorbar(ax, kappas_arr, excess, f"SSL attention + linear head: log-log slope {_slope_text(fit)}")
    _errorbar(ax, kappas_arr, excess_ideal, "Bayes pretext features (posterior) + linear head", fmt="s--")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("condition number κ of the pretext matrix")
    ax.set_ylabel("downstream excess risk / Var E[y | X]")
    ax.set_title(f"self-supervised representation, downstream task ({len(seeds)} seeds)")
    ax.legend(frameon=False, fontsize=7)
    ax.grid(alpha=0.3, which="both")
    figure = out / "ssl_condition_number.png"
    finish(fig, figure)

    return Outcome(
        prediction=(
            "the downstream error of a linear head on the self-supervised representation grows with the "
            "condition number κ of the pretext matrix, while the Bayes downstream error is held fixed"
        ),
        measured=(
            f"relative excess risk {excess.mean(0)[0]:.3g} at κ = {kappas_arr[0]:.3g} → "
            f"{excess.mean(0)[-1]:.3g} at κ = {kappas_arr[-1]:.3g}; log-log slope {_slope_text(fit)}; "
            f"with the Bayes pretext features {excess_ideal.mean(0)[0]:.3g} → {excess_ideal.mean(0)[-1]:.3g}"
        ),
        agrees=agrees,
        tolerance="agrees when the 95% CI (t over seeds) of the log-log slope of excess risk vs κ lies "
        "above 0",
        values={
            "separations": np.asarray(separations),
            "condition_number": kappas_arr,
            "relative_excess_risk": excess,
            "relative_excess_risk_bayes_features": excess_ideal,
            "slope": fit.slope,
            "slope_ci": np.array([fit.ci_low, fit.ci_high]),
        },
        figures=[figure],
        notes=(
            f"Mixture world with {k} components A_z = A_0 + ε Δ_z and noise std ε·{params['noise_std']:g}; "
            "the pretext task is masked-token prediction (values from keys and the other tokens); the "
            f"representation is the attention output at the {dk} unit probe keys; the downstream label is "
            "c_z plus noise, and the excess risk is measured against the exact Bayes "
            "E[y | X] = Σ p(z|X) c_z. "
            "κ = σ_max/σ_min of the matrix with columns (1, A_z p_1, ..., A_z p_r). The reference curve fits "
            "the same head on the Bayes pretext predictions, a function of the posterior p(z | X) alone."
        ),
    )


register(
    Experiment(
        name="attention-conditional-mean",
        title="Attention estimates the conditional mean of the value given the key",
        source=SOURCE,
        claim="With the right parameters, softmax attention over n exchangeable tokens approximates "
        "E[v | k = q] of the set's latent world, with an error that decreases in n.",
        defaults={
            "ns": [8, 32, 128, 512, 2048],
            "n_sets": 256,
            "n_queries": 8,
            "seeds": 5,
            "seed": 0,
            "key_dim": 2,
            "value_dim": 2,
            "noise_var": 0.25,
            "query_scale": 0.5,
            "misspecified_beta": 4.0,
            "regression_harmonic": 3,
            "bandwidth_constant": 10.0,
        },
        quick={"ns": [8, 32, 128, 512], "n_sets": 48, "n_queries": 4, "seeds": 3},
        runner=_conditional_mean,
    )
)

register(
    Experiment(
        name="erm-generalisation",
        title="ERM learns attention with a generalisation gap that does not grow with n",
        source=SOURCE,
        claim="Supervised and self-supervised empirical risk minimisation learn the attention parameters up "
        "to a generalisation error that does not depend on the number of tokens per set.",
        defaults={
            "ns": [4, 16, 64],
            "set_counts": [16, 64, 256, 1024],
            "train_sets": 128,
            "n_fixed": 16,
            "seeds": 5,
            "seed": 0,
            "key_dim": 2,
            "value_dim": 1,
            "noise_var": 0.25,
            "query_scale": 0.5,
            "steps": 300,
            "lr": 0.05,
            "n_test_sets": 1024,
        },
        quick={
            "ns": [4, 8],
            "set_counts": [16, 64],
            "train_sets": 32,
            "seeds": 3,
            "steps": 40,
            "n_test_sets": 128,
        },
        runner=_erm_generalisation,
    )
)

register(
    Experiment(
        name="ssl-condition-number",
        title="A condition number governs how useful a self-supervised representation is downstream",
        source=SOURCE,
        claim="In self-supervised learning a condition number linking the pretext task to the downstream "
        "task decides how well the learned representation solves the downstream task.",
        defaults={
            "separations": [1.0, 0.5, 0.25, 0.125, 0.0625],
            "components": 3,
            "key_dim": 2,
            "value_dim": 2,
            "noise_std": 0.5,
            "n_tokens": 32,
            "train_sets": 256,
            "downstream_sets": 1024,
            "label_noise": 0.1,
            "steps": 300,
            "lr": 0.05,
            "seeds": 4,
            "seed": 0,
            "world_seed": 1,
        },
        quick={
            "separations": [1.0, 0.125],
            "seeds": 3,
            "steps": 60,
            "n_tokens": 16,
            "train_sets": 64,
            "downstream_sets": 256,
        },
        runner=_ssl_condition_number,
    )
)
