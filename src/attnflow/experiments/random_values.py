"""Random value matrices prevent single-cluster collapse: two tokens end antipodal with the probability
that :mod:`attnflow.theory.random_values` predicts, and only past the transition ``cosh²β = (d − 1)/2``.

Measurement: ``runs`` independent deep Transformers of two tokens on ``S^{d−1}``, each layer
``x ← N(x + √h G m_x)``, ``y ← N(y + √h G m_y)`` with a fresh Gaussian value matrix ``G`` (entries
N(0, 1/d)) per layer and run, shared by the two tokens, softmax attention at inverse temperature β (the
model of the theory module). Only ``G m_x`` and ``G m_y`` enter, so they are drawn jointly: with
``e₁ = m_x/|m_x|`` and ``e₂`` the unit part of ``m_y`` orthogonal to it, ``G e₁`` and ``G e₂`` are
independent N(0, I/d) vectors, the same law as the whole matrix. Every run starts at ``⟨x, y⟩ = c₀`` in
a random orientation and runs for ``t_end``; it ends antipodal if ``1 + ⟨x, y⟩ < ε``, collapsed if
``1 − ⟨x, y⟩ < ε``, undecided otherwise. Theory: the probability ``P_anti(c₀)`` of the limit diffusion
(exact as ``h → 0`` and ``t → ∞``), 0 where ``λ_anti ≥ 0``.

Tolerance, term by term, at every ``(β, d)``: the measured probability's interval counts undecided runs
both ways (``[k/N, (k + u)/N]``), each end widened by three binomial standard errors (Wilson score
interval at z = 3, a 99.7 % two-sided interval); and the layers' step: the chain has weak order 1 in
``h``, so ``p(h) − p(0) ≈ p(h) − p(h/2)`` (Richardson), measured by a second, independent set of runs at
``h/2``, whose gap (with its own three standard errors) widens the interval. A point whose interval is
wider than ``max_width`` cannot tell the claim from its rivals and is inconclusive, never a disagreement.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from attnflow.experiments.base import Experiment, Verdict, combine
from attnflow.experiments.papers import DEEP_STOCHASTIC_TRANSFORMERS

# Wilson score intervals at three standard errors: a two-sided 99.73 % interval per grid point.
_LEVEL = math.erf(3 / math.sqrt(2))


def _wilson(k: float, n: int) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion ``k/n`` at three standard errors."""
    from scipy import stats

    interval = stats.binomtest(round(k), n).proportion_ci(confidence_level=_LEVEL, method="wilson")
    return float(interval.low), float(interval.high)


def simulate_pairs(
    beta: float, d: int, c0: float, runs: int, t_end: float, h: float, seed: Any
) -> tuple[torch.Tensor, torch.Tensor]:
    """``runs`` two-token deep Transformers with random values (module doc); the final ``(x, y)``."""
    from attnflow.integrate.solvers import small_problem_threads
    from attnflow.random import torch_generator

    gen = torch_generator(seed)
    x = torch.randn(runs, d, generator=gen, dtype=torch.float64)
    x = x / x.norm(dim=-1, keepdim=True)
    side = torch.randn(runs, d, generator=gen, dtype=torch.float64)
    side = side - (side * x).sum(-1, keepdim=True) * x
    side = side / side.norm(dim=-1, keepdim=True)
    y = c0 * x + math.sqrt(1 - c0 * c0) * side
    scale = math.sqrt(h / d)
    with small_problem_threads(torch.stack([x, y], dim=1)):
        return _layers(x, y, beta, scale, round(t_end / h), gen)


def _layers(
    x: torch.Tensor, y: torch.Tensor, beta: float, scale: float, layers: int, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """``layers`` random-value layers applied to the pairs ``(x, y)`` (module doc)."""
    runs, d = x.shape
    for _ in range(layers):
        c = (x * y).sum(-1, keepdim=True).clamp(-1.0, 1.0)
        p = torch.sigmoid(beta * (1 - c))  # e^β / (e^β + e^{βc})
        mx, my = p * x + (1 - p) * y, p * y + (1 - p) * x
        norm_x = mx.norm(dim=-1, keepdim=True).clamp_min(1e-300)
        e1 = mx / norm_x
        along = (my * e1).sum(-1, keepdim=True)
        rest = my - along * e1
        z1, z2 = torch.randn(2, runs, d, generator=gen, dtype=torch.float64) * scale
        x = x + norm_x * z1
        y = y + along * z1 + rest.norm(dim=-1, keepdim=True) * z2
        x = x / x.norm(dim=-1, keepdim=True)
        y = y / y.norm(dim=-1, keepdim=True)
    return x, y


def _outcomes(x: torch.Tensor, y: torch.Tensor, eps: float) -> dict[str, int]:
    """Antipodal (``|x + y|²/2 < ε``), collapsed (``|x − y|²/2 < ε``) and undecided counts."""
    plus = ((x + y).pow(2).sum(-1) / 2).numpy()
    minus = ((x - y).pow(2).sum(-1) / 2).numpy()
    anti, collapsed = int((plus < eps).sum()), int((minus < eps).sum())
    return {"antipodal": anti, "collapsed": collapsed, "undecided": len(plus) - anti - collapsed}


def _compute(params: Mapping[str, Any]) -> dict[str, Any]:
    from attnflow.random import spawn

    grid = [(beta, d) for d in params["dims"] for beta in params["betas"]]
    seeds = spawn(params["seed"], 2 * len(grid))
    counts = {"h": [], "half_h": []}
    for index, (beta, d) in enumerate(grid):
        for key, h, seed in (
            ("h", params["h"], seeds[2 * index]),
            ("half_h", params["h"] / 2, seeds[2 * index + 1]),
        ):
            x, y = simulate_pairs(beta, d, params["c0"], params["runs"], params["t_end"], h, seed)
            outcome = _outcomes(x, y, params["eps"])
            counts[key].append([outcome["antipodal"], outcome["collapsed"], outcome["undecided"]])
    return {
        "betas": np.array([beta for beta, _ in grid], dtype=float),
        "dims": np.array([d for _, d in grid], dtype=float),
        "counts_h": np.array(counts["h"], dtype=float),
        "counts_half_h": np.array(counts["half_h"], dtype=float),
    }


def _predict(params: Mapping[str, Any], beta: float, d: int) -> float:
    """The probability the claim predicts; ``value="identity"`` is the deterministic rival (0 always)."""
    from attnflow.theory.random_values import antipodal_probability

    if params["value"] == "identity":
        return 0.0
    return antipodal_probability(params["c0"], beta, d)


def _interval(counts: np.ndarray, runs: int) -> tuple[float, float]:
    """The probability's interval: undecided runs counted both ways, each end at three binomial SE."""
    anti, _, undecided = counts
    return _wilson(anti, runs)[0], _wilson(anti + undecided, runs)[1]


def _verdict(params: Mapping[str, Any], values: Mapping[str, Any]) -> Verdict:
    runs = params["runs"]
    statuses, rows, predictions = [], [], []
    for beta, d, at_h, at_half in zip(
        values["betas"], values["dims"], values["counts_h"], values["counts_half_h"], strict=True
    ):
        d = int(d)
        predicted = _predict(params, float(beta), d)
        predictions.append(predicted)
        low, high = _interval(at_half, runs)
        coarse_low, coarse_high = _interval(at_h, runs)
        # Richardson: the h/2 runs' bias is about their gap to the h runs (weak order 1).
        step = max(0.0, coarse_low - high, low - coarse_high)
        low, high = low - step, high + step
        if high - low > params["max_width"]:
            status = "inconclusive"
        else:
            status = "agrees" if low <= predicted <= high else "disagrees"
        statuses.append(status)
        rows.append(f"β={beta:g}, d={d}: {predicted:.3f} vs [{low:.3f}, {high:.3f}] ({status})")
    positive = sum(1 for predicted in predictions if predicted)
    return Verdict(
        status=combine(*statuses),
        prediction=f"P(antipodal | c₀ = {params['c0']:g}) from the limit diffusion; > 0 exactly where "
        f"cosh²β > (d − 1)/2 ({positive} of {len(statuses)} grid points)",
        measured="; ".join(rows),
        tolerance=f"Wilson intervals at 3 SE over {runs} runs, undecided runs counted both ways, widened by "
        f"the h − h/2 gap (weak order 1); inconclusive if wider than {params['max_width']:g}",
        notes="the model and its limit diffusion are attnflow's derivation (attnflow.theory.random_values); "
        "the paper's statement of the transition could not be read beyond its abstract",
    )


def _figures(params: Mapping[str, Any], values: Mapping[str, Any], out: Path) -> list[Path]:
    from attnflow.theory.random_values import antipodal_probability
    from attnflow.viz.claims import plot_probability_grid

    runs = params["runs"]
    counts = values["counts_half_h"]
    measured = counts[:, 0] / runs
    spread = np.array([_interval(row, runs) for row in counts])
    betas = np.linspace(0.0, max(params["betas"]) * 1.1, 121)
    curves = {
        int(d): (betas, np.array([antipodal_probability(params["c0"], b, int(d)) for b in betas]))
        for d in params["dims"]
    }
    path = out / "random_values_antipodal.png"
    plot_probability_grid(
        curves,
        values["betas"],
        values["dims"].astype(int),
        measured,
        spread,
        path=path,
        title=f"two tokens, random values, c₀ = {params['c0']:g}",
        ylabel="P(antipodal)",
    )
    return [path]


RANDOM_VALUES_ANTIPODAL = Experiment(
    name="random-values-antipodal",
    title="Random value matrices: two tokens end antipodal with positive probability past cosh²β = (d − 1)/2",
    citation=DEEP_STOCHASTIC_TRANSFORMERS.at(
        "abstract: the two-token phase transition in the interaction strength and the dimension",
        note="the limit diffusion, the threshold cosh²β = (d − 1)/2 and the probability are derived for "
        "attnflow's model (attnflow.theory.random_values), not read off the paper",
        checked="the qualitative claim (a transition in (β, d) past which antipodal pairs attract with "
        "positive probability) against the abstract (stored copy of arXiv:2601.21942v1); the paper's "
        "scaling, normalisation (RMS) and constants not checked (body text not reached)",
    ),
    claim="Two tokens whose value matrices are random at every layer end antipodal with the probability of "
    "the limit diffusion, positive exactly where cosh²β > (d − 1)/2; with V = I they never do.",
    defaults={
        "betas": [0.5, 3.0],
        "dims": [3, 8],
        "c0": 0.0,
        "runs": 2000,
        "t_end": 80.0,
        "h": 0.02,
        "eps": 1e-6,
        "max_width": 0.15,
        "seed": 0,
        "value": "random",
    },
    quick={"betas": [0.25, 3.0], "dims": [3, 6], "runs": 500, "t_end": 40.0, "h": 0.05, "max_width": 0.3},
    compute=_compute,
    verdict=_verdict,
    figures=_figures,
)
