"""Causal attention parks its clusters at the strong Rényi centres, which stay almost still.

The claim (Karagodin, Polyanskiy & Rigollet, arXiv 2411.04990, Section 5 and Figure 2: n = 200, d = 2,
β = 64, Q = K = V = I): under causal attention the strong Rényi centres of the start (tokens at distance
≥ δ = 4β^{−1/2} from every earlier token; :mod:`attnflow.theory.renyi`) are visually stationary, and the
metastable clusters form around Rényi centres, as in Rényi's parking problem.

The centres are chosen on the start by :func:`attnflow.theory.renyi.renyi_centres` (NumPy, nothing
simulated); the runs integrate causal self-attention on the circle from the same uniform starts.

**Tolerance**, fixed before any run: a centre is *almost still* when it never leaves the ball of radius
δ/4 around its start up to ``t_end``. Centres start ≥ δ apart, so balls of radius δ/4 keep them ≥ δ/2 =
2/√β apart, the scale at which attention between two tokens falls to e^{−2} of a token's own weight:
a centre that stays in its ball stays a separate parking spot. All strong centres of all runs inside
agrees; more than half outside disagrees; anything between is inconclusive. Rivals
(``tests/experiments/test_rivals_long15.py``): the same number of tokens chosen at random as "centres",
and full (non-causal) attention from the same starts; both must disagree. How much of the cloud has
gathered within δ/2 of a strong or plain Rényi centre at ``t_end`` (against the start, and against as
many tokens drawn at random) is reported.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from attnflow.experiments.base import (
    Experiment,
    Verdict,
    majority_status,
    trajectory_from,
    trajectory_values,
)
from attnflow.experiments.papers import CAUSAL_ATTENTION_MASKING
from attnflow.theory.renyi import renyi_centres, separation

#: A centre is almost still while it stays within this fraction of δ of its start (see the module doc).
STILL_FRACTION = 0.25


def _near(x: np.ndarray, centres: np.ndarray, radius: float) -> float:
    """The fraction of tokens within ``radius`` of one of the tokens ``centres`` (positions in ``x``)."""
    distance = np.linalg.norm(x[:, None, :] - x[None, centres, :], axis=-1)
    return float((distance.min(axis=1) <= radius).mean())


def _compute(params: Mapping[str, Any]) -> dict[str, Any]:
    from attnflow.experiments.clustering import uniform_runs
    from attnflow.random import numpy_generator, spawn

    beta = float(params["beta"])
    delta = separation(beta)
    runs = uniform_runs(params, 2, beta, causal=bool(params["causal"]), dtype="float64")
    n, seeds = int(params["n"]), len(runs)
    strong, renyi = np.zeros((seeds, n), dtype=bool), np.zeros((seeds, n), dtype=bool)
    displacement = np.empty((seeds, n))
    near = np.empty((seeds, 6))
    # The comparison: as many tokens drawn at random as there are plain centres (a child of the seed, so
    # the starts' stream is untouched).
    draws = numpy_generator(spawn(int(params["seed"]), 1)[0])
    for r, run in enumerate(runs):
        x = run.x.numpy()
        strong[r, renyi_centres(x[0], delta, strong=True)] = True
        renyi[r, renyi_centres(x[0], delta)] = True
        displacement[r] = np.linalg.norm(x - x[0], axis=-1).max(axis=0)
        near[r, :4] = [
            _near(x[0], np.flatnonzero(strong[r]), delta / 2),
            _near(x[-1], np.flatnonzero(strong[r]), delta / 2),
            _near(x[0], np.flatnonzero(renyi[r]), delta / 2),
            _near(x[-1], np.flatnonzero(renyi[r]), delta / 2),
        ]
        drawn = draws.choice(n, int(renyi[r].sum()), replace=False)
        near[r, 4:] = [_near(x[0], drawn, delta / 2), _near(x[-1], drawn, delta / 2)]
    return {
        "delta": delta,
        "strong": strong,
        "renyi": renyi,
        "displacement": displacement,
        "near_strong_start": near[:, 0],
        "near_strong_end": near[:, 1],
        "near_renyi_start": near[:, 2],
        "near_renyi_end": near[:, 3],
        "near_random_start": near[:, 4],
        "near_random_end": near[:, 5],
        "figure": {"run": trajectory_values(runs[0])},
    }


def still_verdict(displacement: np.ndarray, chosen: np.ndarray, delta: float) -> tuple[str, int, int]:
    """Judge whether the ``chosen`` tokens (mask, runs × tokens) stayed within δ/4 of their starts.

    Returns:
        The status (all inside agrees, more than half outside disagrees, else inconclusive), the number
        outside and the number judged.
    """
    moved = np.asarray(displacement)[np.asarray(chosen, dtype=bool)]
    outside = int((moved > STILL_FRACTION * delta).sum())
    return majority_status(outside, moved.size), outside, int(moved.size)


def _verdict(params: Mapping[str, Any], values: Mapping[str, Any]) -> Verdict:
    delta = float(values["delta"])
    displacement, strong = np.asarray(values["displacement"]), np.asarray(values["strong"], dtype=bool)
    status, outside, judged = still_verdict(displacement, strong, delta)
    others = displacement[~strong]
    gathered = ", ".join(
        f"{name} {np.mean(values[f'near_{key}_start']):.0%} → {np.mean(values[f'near_{key}_end']):.0%}"
        for name, key in (("strong", "strong"), ("plain", "renyi"), ("as many random tokens", "random"))
    )
    field = "causal" if params["causal"] else "full (non-causal)"
    plain = int(np.asarray(values["renyi"]).sum())
    return Verdict(
        status,
        prediction=f"every strong Rényi centre of the start (separation δ = 4/√β = {delta:.3g}) stays "
        f"within δ/4 = {STILL_FRACTION * delta:.3g} of its start up to t = {params['t_end']:g}",
        measured=f"{judged} strong centres over {displacement.shape[0]} runs ({plain} plain Rényi "
        f"centres): largest displacement {displacement[strong].max():.3g}, median "
        f"{np.median(displacement[strong]):.3g}; {outside} beyond δ/4. Other tokens: median "
        f"displacement {np.median(others):.3g}. Tokens within δ/2 of a centre, start → t_end "
        f"(reported): {gathered}",
        tolerance="all strong centres within δ/4 of their starts agrees (balls of radius δ/4 keep the "
        "centres ≥ δ/2 = 2/√β apart, where mutual attention is e^{−2} of a token's own); more than half "
        "beyond disagrees; between is inconclusive",
        notes=f"{field} SA, Q = K = V = I, n = {params['n']}, d = 2, β = {params['beta']:g}, RK4 "
        f"dt = {params['dt']:g}, uniform starts. Centres chosen on the start in token order "
        "(attnflow.theory.renyi); the definitions are read from the paper's Figure 2 caption and the "
        "parking analogy, not from its Section 5 text.",
    )


def _figures(params: Mapping[str, Any], values: Mapping[str, Any], out: Path) -> list[Path]:
    from attnflow.viz import plot_trajectories

    path = out / "renyi_angles.png"
    plot_trajectories(
        trajectory_from(values, "figure.run"),
        path=path,
        title=f"causal SA, n = {params['n']}, β = {params['beta']:g}: token angles",
    )
    return [path]


CAUSAL_RENYI_CENTRES = Experiment(
    name="causal-renyi-centres",
    title="Causal attention: strong Rényi centres stay almost still while clusters gather",
    citation=CAUSAL_ATTENTION_MASKING.at(
        "Section 5 (Lemma 5.1) and Figure 2: n = 200, d = 2, β = 64, strong Rényi centres with "
        "δ = 4β^{-1/2} are visually stationary",
        checked="the setting (K = Q = V = I₂, n = 200, d = 2, β = 64), δ = 4β^{-1/2} and 'strong Rényi "
        "centers are visually stationary (Lemma 5.1)' against the Figure 2 caption of a stored review of the "
        "paper; the definitions of (strong) Rényi centres and Lemma 5.1's statement were not reached",
    ),
    claim="Under causal attention (n = 200, d = 2, β = 64), tokens at distance ≥ 4/√β from every earlier "
    "token (strong Rényi centres) stay almost still while the other tokens gather into clusters.",
    defaults={
        "n": 200,
        "beta": 64.0,
        "causal": True,
        "seeds": 8,
        "seed": 0,
        "t_end": 150.0,
        "dt": 0.1,
        "save_every": 10,
    },
    quick={"n": 100, "seeds": 3, "t_end": 40.0},
    compute=_compute,
    verdict=_verdict,
    figures=_figures,
)
