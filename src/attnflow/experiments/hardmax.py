"""Hardmax attention in Euclidean space: every token moves on a straight line towards its cell's vertex,
and one Euler step is a Frank–Wolfe step.

The field is ``ẋ_i = s_i − x_i`` with ``s_i`` the mean of the maximisers of ``⟨x_i, x_j⟩`` (hardmax
attention with Q = K = V = I, whose key–query matrix is positive semidefinite, plus the term ``−x_i``):
the β → ∞ limit of ``ẋ_i = Σ_j A_ij (x_j − x_i)``. One Euler step of size ``γ`` is
``x_i ← x_i + γ (s_i − x_i)``, a Frank–Wolfe step for ``½|x|²`` over the hull of the tokens.

Prediction (closed form, from the start alone, NumPy): a token whose maximiser ``s`` is itself never
moves (a vertex); every other token whose target ``s`` is such a vertex follows
``x(t) = s + (x(0) − s) e^{−t}`` (and ``s + (x(0) − s)(1 − γ)^k`` after ``k`` Frank–Wolfe steps), and so
stays in its initial cell. The start puts ``vertices`` tokens on the unit sphere (each its own maximiser)
and the rest inside the ball of radius ``inner_radius``.

Tolerance: RK4 at step ``dt`` on ``ẋ = s − x`` has a relative error per unit time of ``dt⁴/120``, so
positions agree within ``t_end·dt⁴/120`` relative to ``|x(0) − s|``, plus ``1e-9`` for rounding; the
Euler run is the closed form to rounding (``1e-9``). A maximiser that switched would move a token by a
distance of the order of the cloud.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from attnflow.experiments.base import Experiment, Verdict
from attnflow.experiments.papers import ATTENTION_FRANK_WOLFE, HARDMAX_LEADERS

# Rounding allowance on positions of order 1 after a few hundred float64 steps.
_ROUNDING = 1e-9


def _start(params: Mapping[str, Any]) -> np.ndarray:
    from attnflow.random import numpy_generator

    rng = numpy_generator(params["seed"])
    n, d, vertices = params["n"], params["d"], params["vertices"]
    directions = rng.standard_normal((n, d))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    radii = np.ones(n)
    radii[vertices:] = params["inner_radius"] * rng.uniform(size=n - vertices) ** (1 / d)
    return directions * radii[:, None]


def _targets(x0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The maximiser index of every token, and whether that maximiser is its own maximiser (a vertex)."""
    target = np.argmax(x0 @ x0.T, axis=1)
    return target, target[target] == target


def _field(params: Mapping[str, Any]) -> Any:
    from attnflow._validate import one_of
    from attnflow.dynamics import FeedForward, SelfAttention

    one_of("attention", params["attention"], ("hardmax", "softmax"))
    d = params["d"]
    eye = torch.eye(d, dtype=torch.float64)
    # w·relu(a x) with a = [I; −I], w = [−I, I] is −relu(x) + relu(−x) = −x: the term −x_i.
    minus_identity = FeedForward(
        w=torch.cat([-eye, eye], dim=1), a=torch.cat([eye, -eye]), b=torch.zeros(2 * d)
    )
    if params["attention"] == "hardmax":
        return SelfAttention(1.0, "hardmax", geometry="euclidean", feedforward=minus_identity)
    # A rival: softmax at finite β (not the β → ∞ limit).
    return SelfAttention(params["attention_beta"], "SA", geometry="euclidean", feedforward=minus_identity)


def _compute(params: Mapping[str, Any]) -> dict[str, Any]:
    from attnflow.integrate import simulate

    x0 = _start(params)
    target, settled = _targets(x0)
    field = _field(params)
    start = torch.from_numpy(x0)
    flow = simulate(
        field, start, params["t_end"], params["dt"], method="rk4", save_every=params["save_every"]
    )
    steps = simulate(field, start, params["steps"] * params["step_size"], params["step_size"], method="euler")
    values: dict[str, Any] = {"tokens_checked": int((settled & (target != np.arange(len(x0)))).sum())}
    values["vertices_fixed"] = int((target == np.arange(len(x0))).sum())
    checked = settled
    for name, traj, decay in (
        ("flow", flow, lambda t: np.exp(-t)),
        ("frank_wolfe", steps, lambda t: (1 - params["step_size"]) ** np.rint(t / params["step_size"])),
    ):
        times = traj.times.numpy()
        x = traj.x.numpy()
        s = x0[target]
        predicted = s[None] + (x0 - s)[None] * decay(times)[:, None, None]
        scale = np.maximum(np.linalg.norm(x0 - s, axis=1), 1e-12)
        gap = np.linalg.norm(x - predicted, axis=-1)[:, checked] / scale[checked]
        values[f"{name}_max_relative_gap"] = float(gap.max())
        final = x[-1]
        values[f"{name}_cell_changes"] = int((np.argmax(final @ final.T, axis=1) != target)[checked].sum())
    values["figure"] = {"x0": x0, "path": flow.x.numpy(), "target": target}
    return values


def _verdict(params: Mapping[str, Any], values: Mapping[str, Any]) -> Verdict:
    tol_flow = params["t_end"] * params["dt"] ** 4 / 120 + _ROUNDING
    flow_ok = values["flow_max_relative_gap"] <= tol_flow and values["flow_cell_changes"] == 0
    steps_ok = values["frank_wolfe_max_relative_gap"] <= _ROUNDING and values["frank_wolfe_cell_changes"] == 0
    checked = values["tokens_checked"]
    status = "inconclusive" if checked == 0 else ("agrees" if flow_ok and steps_ok else "disagrees")
    return Verdict(
        status=status,
        prediction="x_i(t) = s_i + (x_i(0) − s_i) e^{−t} towards the fixed vertex s_i of its cell; after k "
        "Frank–Wolfe steps of size γ, s_i + (x_i(0) − s_i)(1 − γ)^k; no token leaves its cell",
        measured=f"{checked} moving tokens and {values['vertices_fixed']} vertices; largest gap to the line: "
        f"{values['flow_max_relative_gap']:.2g} (flow), {values['frank_wolfe_max_relative_gap']:.2g} "
        f"(Frank–Wolfe steps), relative to |x(0) − s|; tokens whose maximiser changed: "
        f"{values['flow_cell_changes']} (flow), {values['frank_wolfe_cell_changes']} (steps)",
        tolerance=f"flow: ≤ t_end·dt⁴/120 + {_ROUNDING:g} = {tol_flow:.2g} (RK4); steps: ≤ {_ROUNDING:g}; "
        "no cell changes",
        notes=f"attention: {params['attention']}. Tokens whose maximiser is not itself a vertex (a chain) "
        "are left out of the straight-line check.",
    )


def _figures(params: Mapping[str, Any], values: Mapping[str, Any], out: Path) -> list[Path]:
    from attnflow.viz.claims import plot_hardmax_paths

    if params["d"] != 2:
        return []
    path = out / "hardmax_paths.png"
    plot_hardmax_paths(
        values["figure.x0"],
        values["figure.path"],
        values["figure.target"],
        path=path,
        title=f"hardmax attention, n = {params['n']}: straight lines to the cells' vertices",
    )
    return [path]


HARDMAX_STRAIGHT_LINES = Experiment(
    name="hardmax-straight-lines",
    title="Hardmax attention: tokens move on straight lines to their cell's vertex (Frank–Wolfe steps)",
    citation=ATTENTION_FRANK_WOLFE.at(
        "abstract: the positive semidefinite case (Voronoi cells, straight lines, exponential convergence)",
        note="the closed-form path is derived here",
        checked="the statement (Voronoi cells, straight lines, exponential convergence, Frank–Wolfe) "
        "against the abstract; theorem numbers not checked",
    ),
    claim="With a positive semidefinite key–query matrix, the hardmax dynamics keep vertices fixed and "
    "interior tokens in their initial cells, each moving along a straight line towards its cell's vertex "
    "with exponential convergence; a discrete layer is a Frank–Wolfe step.",
    defaults={
        "n": 400,
        "d": 2,
        "vertices": 40,
        "inner_radius": 0.8,
        "t_end": 10.0,
        "dt": 0.05,
        "save_every": 10,
        "steps": 40,
        "step_size": 0.25,
        "seed": 0,
        "attention": "hardmax",
        "attention_beta": 5.0,
    },
    quick={"n": 60, "vertices": 12},
    compute=_compute,
    verdict=_verdict,
    figures=_figures,
)


def _leaders_compute(params: Mapping[str, Any]) -> dict[str, Any]:
    from attnflow.integrate import simulate
    from attnflow.random import numpy_generator

    rng = numpy_generator(params["seed"])
    starts = rng.standard_normal((params["starts"], params["n"], params["d"]))
    runs = simulate(
        _field({**params, "attention": "hardmax"}),
        torch.from_numpy(starts),
        params["steps"] * params["step_size"],
        params["step_size"],
        method="euler",
        save_every=params["steps"],
    )
    return {
        "x0": starts,
        "final": np.stack([run.final.numpy() for run in runs]),
    }


def _leaders_prediction(params: Mapping[str, Any], x0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The leaders and each token's predicted leader; rivals change the rule (``prediction``)."""
    from attnflow.theory.leaders import leader_of_each_token, leaders, maximisers

    chiefs = leaders(x0)
    if params["prediction"] == "chain":
        return chiefs, leader_of_each_token(x0)
    if params["prediction"] == "first-maximiser":  # rival: one hop of the chain
        return chiefs, maximisers(x0)
    if params["prediction"] == "nearest-leader":  # rival: the Voronoi cell of the leaders
        distance = np.linalg.norm(x0[:, None] - x0[chiefs][None], axis=-1)
        return chiefs, chiefs[distance.argmin(axis=1)]
    raise ValueError(
        f"prediction must be 'chain', 'first-maximiser' or 'nearest-leader', got {params['prediction']!r}"
    )


def _leaders_verdict(params: Mapping[str, Any], values: Mapping[str, Any]) -> Verdict:
    starts, finals = values["x0"], values["final"]
    tokens = settled = matched = 0
    for x0, final in zip(starts, finals, strict=True):
        chiefs, predicted = _leaders_prediction(params, x0)
        diameter = np.ptp(x0, axis=0).max()
        distance = np.linalg.norm(final[:, None] - x0[chiefs][None], axis=-1)
        on_a_leader = distance.min(axis=1) <= params["settle"] * diameter
        reached = chiefs[distance.argmin(axis=1)]
        tokens += len(x0)
        settled += int(on_a_leader.sum())
        matched += int((on_a_leader & (reached == predicted)).sum())
    # An assignment is discrete: a token settled on another leader is a disagreement whatever the size;
    # one not yet settled is left undecided.
    wrong = settled - matched
    if wrong:
        status = "disagrees"
    elif settled < tokens:
        status = "inconclusive"
    else:
        status = "agrees"
    return Verdict(
        status=status,
        prediction="every token ends on the leader at the end of its chain of maximisers at t = 0 "
        f"(rule: {params['prediction']})",
        measured=f"{matched} of {tokens} tokens on the predicted leader, {wrong} on another, "
        f"{tokens - settled} not settled ({params['starts']} starts)",
        tolerance=f"settled: within {params['settle']:g} × the start's diameter of a leader (the step "
        f"contracts a token's distance by (1 − γ)^k = {(1 - params['step_size']) ** params['steps']:.1g} "
        "per chain link); the assignment itself is exact",
        notes="the chain rule is attnflow's reading of the leaders (attnflow.theory.leaders); the paper's "
        "own definition could not be read beyond the abstract",
    )


LEADERS_DECIDE = Experiment(
    name="leaders-decide-clusters",
    title="Hardmax attention: the leaders at t = 0 (tokens attending only to themselves) decide the clusters",
    citation=HARDMAX_LEADERS.at(
        "abstract: convergence to a clustered equilibrium determined by the leaders",
        note="leaders read as the tokens that are their own hardmax maximiser, and each token's leader as "
        "the end of its chain of maximisers at t = 0 (attnflow.theory.leaders); dynamics ẋ = s − x, the "
        "Frank–Wolfe layers of hardmax-straight-lines, not the paper's normalised layers",
        checked="the qualitative claim (a clustered equilibrium determined by leaders) against the abstract "
        "(stored copy of arXiv:2407.01602v1); the paper's definition of leaders and its theorem not reached",
    ),
    claim="Under hardmax attention (Q = K = V = I, ẋ = s − x) from a start in general position, the tokens "
    "that attend only to themselves never move, and every token ends on the leader its chain of "
    "maximisers at t = 0 leads to.",
    defaults={
        "n": 64,
        "d": 3,
        "starts": 40,
        "steps": 600,
        "step_size": 0.05,
        "settle": 1e-6,
        "seed": 0,
        "prediction": "chain",
    },
    quick={"n": 24, "d": 2, "starts": 8},
    compute=_leaders_compute,
    verdict=_leaders_verdict,
)
