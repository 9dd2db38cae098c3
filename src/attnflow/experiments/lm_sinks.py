"""Removing the attention sink: hide the first token from every later query in every layer and see what
happens to the collapse of the other tokens.

Barbero et al. read the first-token sink as a brake on over-mixing: a head that parks its attention on
the first token leaves the other tokens' states alone. Without the sink the heads must spread their
attention over the real tokens, so the tokens should end closer together. Measured per prompt on
:data:`attnflow.experiments.lm_frontier.PASSAGES`: the mean pairwise cosine of tokens 1…n−1 at the last
layer, intact and with the sink removed (:func:`attnflow.lm.attention_ablated` with ``"no-sink"``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from attnflow.experiments.base import (
    Experiment,
    Verdict,
    sign_test,
    sign_test_undecided_text,
)
from attnflow.experiments.lm_frontier import PASSAGES
from attnflow.experiments.lm_heads import mean_cosine_without_first
from attnflow.experiments.papers import ATTENTION_SINKS


def _compute(params: Mapping[str, Any]) -> dict[str, Any]:
    from attnflow.lm import attention_ablated, load, record

    lm = load(params["model"])
    passages = list(params["passages"])

    def curves() -> np.ndarray:
        recordings = record(lm, passages, sublayers=False, logits=False)
        return np.array([mean_cosine_without_first(r.residual.double().cpu().numpy()) for r in recordings])

    intact = curves()
    with attention_ablated(lm, range(lm.n_layers), "no-sink"):
        removed = curves()
    return {"intact": intact, "removed": removed}


def _verdict(params: Mapping[str, Any], values: Mapping[str, Any]) -> Verdict:
    intact = np.asarray(values["intact"], dtype=float)
    removed = np.asarray(values["removed"], dtype=float)
    alpha = params["alpha"]
    change = removed[:, -1] - intact[:, -1]
    status, p_up, p_down = sign_test(change, alpha)
    undecided = sign_test_undecided_text(status, change, alpha)
    return Verdict(
        status=status,
        prediction="without the first-token sink the other tokens mix more: their mean pairwise cosine at "
        "the last layer rises, prompt by prompt",
        measured=f"last-layer mean cosine of tokens 1…n−1: intact {intact[:, -1].mean():.3f}, sink removed "
        f"{removed[:, -1].mean():.3f}; higher without the sink in {int((change > 0).sum())}/{change.size} "
        f"prompts (p = {p_up:.3g}; p of a fall = {p_down:.3g}){undecided}",
        tolerance=f"one-sided sign test over prompts at α = {alpha:g} in each direction (fewer than 5 "
        "prompts cannot reach α = 0.05, so quick sizes end inconclusive)",
        notes="The sink is removed in every layer: the first token is masked out of the keys of every "
        "later query before the model's own softmax; the first token's own state still flows. States "
        "are the residual stream (no final norm).",
    )


SINK_REMOVAL = Experiment(
    name="sink-removal",
    title="Removing the first-token attention sink makes the other tokens collapse further (SmolLM2)",
    citation=ATTENTION_SINKS.at(
        "the reading of the first-token sink as a way for the model to avoid over-mixing its tokens",
        "the test by removal is attnflow's",
        checked="the reading against the title and the abstract's framing only; the paper's own removal "
        "experiments (if any) were not re-read",
    ),
    claim="The first-token sink slows the tokens' collapse: hiding the first token from the later "
    "queries raises the last layer's mean cosine between the other tokens.",
    defaults={"model": "smollm2-135m", "passages": list(PASSAGES), "alpha": 0.05},
    quick={"passages": list(PASSAGES[:3])},
    compute=_compute,
    verdict=_verdict,
)
