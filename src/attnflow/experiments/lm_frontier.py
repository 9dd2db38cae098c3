"""Claims of the flow picture checked on real weights (MiniLM, SmolLM2): the clouds contract with depth,
normalisation acts as speed, massive activations and attention sinks, and concept vectors.

The former ``ideal-sa-step-explains-little`` is retired: its "at most 7 %" bound was one prompt's
measurement, not a prediction of any theory, so it could not be judged by the verdict standard. The
measurement itself stays (:func:`attnflow.measure.fit_dynamics`, ``fit.zarr`` of ``attnflow lm``).

Every model is run through :func:`attnflow.lm.record` on a batch of passages written for attnflow
(:data:`PASSAGES`; plain expository prose, no corpus download), one padded forward pass per model.
Each verdict is a test over prompts, so the quick sizes (few prompts) end inconclusive rather than in a
disagreement that is only low power.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from attnflow.experiments.base import (
    Experiment,
    Verdict,
    combine,
    mean_interval,
    samples_to_decide,
    sign_test,
    sign_test_undecided_text,
    size_to_decide_text,
)
from attnflow.experiments.papers import (
    EMBEDDING_SPACE_MOVEMENT,
    MASSIVE_ACTIVATIONS,
    MATHEMATICAL_PERSPECTIVE,
    NORMALIZATION_IN_ATTENTION,
)

#: Passages written for attnflow (each 50–80 words of ordinary prose on a different topic).
PASSAGES = (
    "The river rose slowly through the night, and by morning the low fields were under water. Farmers "
    "moved their animals to the hills, while the children watched from the bridge as branches and "
    "broken fences drifted past. By noon the rain had stopped, but the water kept rising for two more days.",
    "A good cup of tea starts with fresh water brought just to the boil. Warm the pot first, add one "
    "spoon of leaves for each cup, pour the water over them and wait four minutes. Then pour it through "
    "a strainer, and add milk or lemon if you like.",
    "The library opened at nine, and the first visitors were always the same: an old man who read the "
    "newspapers from front to back, a student preparing for her exams, and a writer who sat by the "
    "window and filled page after page of a yellow notebook.",
    "Bees carry pollen from flower to flower as they collect nectar, and in doing so they help many "
    "plants to make seeds and fruit. A single colony can visit millions of flowers in a summer, and "
    "farmers often rent hives to place them beside their orchards in spring.",
    "The train left the city just after dawn. For an hour it crossed flat farmland, then it climbed "
    "into the mountains, through long tunnels and over narrow bridges, until the passengers could see "
    "snow on the peaks and a blue lake far below the tracks.",
    "To change a flat tyre, first park on level ground and loosen the wheel nuts a little. Raise the "
    "car with the jack, remove the nuts and the wheel, fit the spare, and tighten the nuts by hand. "
    "Lower the car, then tighten the nuts firmly in a star pattern.",
    "Volcanoes form where molten rock from deep inside the earth reaches the surface. Some erupt "
    "violently, throwing ash high into the sky, while others release slow rivers of lava that cool "
    "into black rock. Over many years, repeated eruptions can build whole islands.",
    "The market was busy on Saturday morning. Traders called out the prices of apples, cheese and fresh "
    "bread, a musician played the violin near the fountain, and families moved slowly between the "
    "stalls, stopping to taste honey and to buy flowers for the week.",
    "Clocks were once driven by falling weights and swinging pendulums. Later, small springs made it "
    "possible to carry a watch in a pocket, and today most clocks count the vibrations of a tiny quartz "
    "crystal, which keeps time far more precisely than any pendulum.",
    "After the storm, the village came together to repair the damage. Some people cleared fallen trees "
    "from the roads, others fixed broken roofs, and the baker gave bread to every family whose kitchen "
    "had flooded. Within a week the streets looked almost normal again.",
    "Owls hunt mostly at night. Their large eyes gather what little light there is, their soft feathers "
    "let them fly almost silently, and their ears are so sensitive that some species can catch a mouse "
    "moving under the snow without seeing it at all.",
    "The museum's new exhibition shows tools, pottery and jewellery found in an ancient town by the sea. "
    "Visitors can follow the life of the town from its first houses to its slow decline, when the "
    "harbour filled with sand and the traders moved further along the coast.",
)

GLPR_FIGURE = MATHEMATICAL_PERSPECTIVE.at(
    "Figure 1: histograms of the pairwise cosines of the tokens, layer by layer, for ALBERT (xlarge-v2) "
    "on a text passage; the mass moves towards 1 with depth",
    checked="the computation against the authors' own notebook (github.com/borjanG/2023-transformers-rotf, "
    "albert.ipynb: normalise the hidden states of output_hidden_states, histogram every pairwise inner "
    "product per layer); the figure number is the issue's, the paper's caption was not read",
)


def _batch(model: str, passages: Sequence[str], **record_options: Any) -> tuple[Any, tuple[Any, ...]]:
    from attnflow.lm import load, record

    lm = load(model)
    return lm, record(lm, list(passages), logits=False, **record_options)


# ---------------------------------------------------------------------------------------------------
# The clouds contract with depth (GLPR Fig. 1 on MiniLM and SmolLM2)


def _cosines_compute(params: Mapping[str, Any]) -> dict[str, Any]:
    import torch

    bins = np.linspace(-1.0, 1.0, int(params["bins"]) + 1)
    out: dict[str, Any] = {"figure": {}}
    for index, model in enumerate(params["models"]):
        _, recordings = _batch(model, params["passages"], sublayers=False)
        mean_cosine, counts = [], 0
        for rec in recordings:
            z = rec.residual.double().cpu()
            z = z / z.norm(dim=-1, keepdim=True)
            gram = z @ z.transpose(1, 2)  # (L + 1, n, n): n ≤ a few hundred tokens per passage
            n = gram.shape[-1]
            off = gram[:, ~torch.eye(n, dtype=torch.bool)]  # distinct pairs
            mean_cosine.append(off.mean(-1).numpy())
            cosines = off.clamp(-1.0, 1.0).numpy()  # rounding can step past ±1, out of the bins
            counts = counts + np.stack([np.histogram(row, bins)[0] for row in cosines])
        mean_cosine = np.array(mean_cosine)  # (prompts, L + 1)
        out[f"model{index}"] = {
            "mean_cosine": mean_cosine.mean(0),
            "first_to_last": mean_cosine[:, -1] - mean_cosine[:, 0],
        }
        out["figure"][f"model{index}"] = {"counts": counts, "edges": bins}
    return out


def _cosines_verdict(params: Mapping[str, Any], values: Mapping[str, Any]) -> Verdict:
    alpha = params["alpha"]
    statuses, parts = [], []
    for index, model in enumerate(params["models"]):
        change = np.asarray(values[f"model{index}.first_to_last"], dtype=float)
        curve = np.asarray(values[f"model{index}.mean_cosine"], dtype=float)
        status, p_up, p_down = sign_test(change, alpha)
        statuses.append(status)
        undecided = sign_test_undecided_text(status, change, alpha)
        parts.append(
            f"{model}: mean cosine {curve[0]:.3f} (embeddings) → {curve[-1]:.3f} (last layer), up in "
            f"{int((change > 0).sum())}/{change.size} prompts (p = {p_up:.3g}; p of a decrease = "
            f"{p_down:.3g}{undecided})"
        )
    status = combine(*statuses)
    return Verdict(
        status=status,
        prediction="the tokens' pairwise cosines move towards 1 with depth: the mean cosine at the last "
        "layer exceeds the one at the embeddings, prompt by prompt, in every model",
        measured="; ".join(parts),
        tolerance=f"one-sided sign test over prompts at α = {alpha:g} in each direction (a sign test needs "
        "no model of the spread between prompts; with fewer than 5 prompts neither side can reach α = "
        "0.05, so quick sizes are inconclusive rather than wrong)",
        notes="States are the residual stream without the final norm (the flow's states); every distinct "
        "pair of tokens counts, the first token included.",
    )


def _cosines_figures(params: Mapping[str, Any], values: Mapping[str, Any], out: Path) -> list[Path]:
    from attnflow.viz.claims.lm_frontier import plot_layer_cosine_histograms

    paths = []
    for index, model in enumerate(params["models"]):
        paths.append(out / f"layer_cosines_{index}.png")
        plot_layer_cosine_histograms(
            values[f"figure.model{index}.counts"], values[f"figure.model{index}.edges"], model, path=paths[-1]
        )
    return paths


LAYER_COSINES = Experiment(
    name="layer-cosine-histograms",
    title="Pairwise cosines per layer on real models contract with depth (GLPR Fig. 1)",
    citation=GLPR_FIGURE,
    claim="Tokens of a trained Transformer cluster as they go through the layers: the histogram of "
    "pairwise cosines moves towards 1 with depth.",
    defaults={
        "models": ["minilm-l6", "smollm2-135m"],
        "passages": list(PASSAGES),
        "bins": 60,
        "alpha": 0.05,
    },
    quick={"passages": list(PASSAGES[:5])},
    compute=_cosines_compute,
    verdict=_cosines_verdict,
    figures=_cosines_figures,
)


# ---------------------------------------------------------------------------------------------------
# Normalisation as speed: angular speed ∝ 1/r in pre-norm models


def _speed_compute(params: Mapping[str, Any]) -> dict[str, Any]:
    from attnflow.lm import load, record

    out: dict[str, Any] = {}
    for index, model in enumerate(params["models"]):
        lm = load(model)
        recordings = record(lm, list(params["passages"]), sublayers=False, logits=False)
        slopes = []
        for rec in recordings:
            h = rec.residual.double().cpu()  # (L + 1, n, d)
            r = h.norm(dim=-1)
            cos = (h[1:] * h[:-1]).sum(-1) / (r[1:] * r[:-1])
            angle = np.arccos(np.clip(cos.numpy(), -1.0, 1.0))  # (L, n): angular step of each token
            log_r, log_angle = np.log(r[:-1].numpy()), np.log(np.maximum(angle, 1e-12))
            # Slope of log(angle) on log(r) within each layer (layer means removed: each layer's update
            # has its own size), pooled over layers.
            x = log_r - log_r.mean(1, keepdims=True)
            y = log_angle - log_angle.mean(1, keepdims=True)
            slopes.append(float((x * y).sum() / (x * x).sum()))
        out[f"model{index}"] = {"slope": np.array(slopes), "pre_norm": float(lm.family.pre_norm)}
    return out


def _speed_verdict(params: Mapping[str, Any], values: Mapping[str, Any]) -> Verdict:
    alpha, width = params["alpha"], params["width"]
    parts, checks = [], []
    for index, model in enumerate(params["models"]):
        slopes = np.asarray(values[f"model{index}.slope"], dtype=float)
        pre = bool(values[f"model{index}.pre_norm"])
        mean, low, high = (
            mean_interval(slopes, 1 - alpha) if slopes.size > 1 else (float(slopes.mean()), -np.inf, np.inf)
        )
        # Pre-norm: the interval must sit inside −1 ± width; post-norm: it must exclude −1 ± width.
        if pre:
            checks.append(
                "agrees"
                if -1 - width <= low and high <= -1 + width
                else "disagrees"
                if high < -1 - width or low > -1 + width
                else "inconclusive"
            )
        else:
            checks.append(
                "agrees"
                if low > -1 + width or high < -1 - width
                else "disagrees"
                if -1 - width <= low and high <= -1 + width
                else "inconclusive"
            )
        parts.append(
            f"{model} ({'pre' if pre else 'post'}-norm): slope {mean:.2f} "
            f"[{low:.2f}, {high:.2f}] over {slopes.size} prompts"
        )
    status = (
        "disagrees" if "disagrees" in checks else "agrees" if set(checks) == {"agrees"} else "inconclusive"
    )
    return Verdict(
        status=status,
        prediction="within a layer, log(angular step) falls with log|h| at slope −1 in the pre-norm model "
        "(speed ∝ 1/r), and not in the post-norm one",
        measured="; ".join(parts),
        tolerance=f"{1 - alpha:.0%} t-interval over prompts of the per-prompt slope, against −1 ± {width:g} "
        f"(the band allows the tangential update size to vary with r by a factor r^±{width:g})",
        notes="Angular step = angle between a token's states before and after a block; layer means of both "
        "logs are removed before pooling, so only the spread across tokens within a layer counts.",
    )


NORMALISATION_AS_SPEED = Experiment(
    name="normalisation-as-speed",
    title="Angular speed ∝ 1/r in a pre-norm model (SmolLM2), not in a post-norm one (MiniLM)",
    citation=NORMALIZATION_IN_ATTENTION.at(
        "each token written x = r θ; normalisation acts as speed regulation: in Pre-LN the update "
        "f(norm x) has bounded size, so the direction θ moves at a speed ∝ 1/r, while Post-LN keeps r fixed",
        checked="the abstract and the r·θ decomposition (arxiv.org/html/2510.22026v2); the 1/r form is our "
        "reading of the Pre-LN case, not a quoted equation",
    ),
    claim="With pre-norm the update of a token has a size independent of its norm r, so its direction moves "
    "at a speed ∝ 1/r; post-norm fixes r after every block.",
    defaults={
        "models": ["smollm2-135m", "minilm-l6"],
        "passages": list(PASSAGES),
        "alpha": 0.05,
        "width": 0.25,
    },
    quick={"passages": list(PASSAGES[:3])},
    compute=_speed_compute,
    verdict=_speed_verdict,
)


# ---------------------------------------------------------------------------------------------------
# Massive activations and attention sinks


def _sinks_compute(params: Mapping[str, Any]) -> dict[str, Any]:
    _, recordings = _batch(params["model"], params["passages"], sublayers=False, patterns=True)
    ratio, at_first, sink = [], [], []
    for rec in recordings:
        size = rec.residual[1:].abs().double().cpu()  # (L, n, d): block outputs
        flat = size.reshape(size.shape[0], -1)
        top, where = flat.max(-1)
        ratio.append((top / flat.median(-1).values).numpy())
        at_first.append((where // size.shape[-1] == 0).numpy())  # token index of the largest entry
        weights = rec.patterns.double().cpu()[:, :, 1:, 0]  # attention of queries 1.. to token 0
        sink.append(weights.mean((1, 2)).numpy())
    ratio, at_first = np.array(ratio), np.array(at_first)
    best = ratio.argmax(1)
    return {
        "largest_over_median": ratio.max(1),
        "largest_at_first_token": at_first[np.arange(len(best)), best].astype(float),
        "ratio_per_layer": ratio.mean(0),
        "sink_per_layer": np.array(sink).mean(0),
        "uniform_share": float(np.mean([1.0 / rec.n_tokens for rec in recordings])),
    }


def _sinks_verdict(params: Mapping[str, Any], values: Mapping[str, Any]) -> Verdict:
    ratios = np.asarray(values["largest_over_median"], dtype=float)
    first = np.asarray(values["largest_at_first_token"], dtype=float)
    threshold, alpha = params["threshold"], params["alpha"]
    n = ratios.size
    massive = int((ratios >= threshold).sum())
    on_first = int(first.sum())
    # Each prompt is one Bernoulli trial; the claim is that (nearly) every prompt has a massive
    # activation on its first token, the rival that it is no more common than not (p = 1/2).
    p_massive = float(stats.binomtest(massive, n, 0.5, alternative="greater").pvalue)
    p_first = float(stats.binomtest(on_first, n, 0.5, alternative="greater").pvalue)
    p_not = float(stats.binomtest(n - massive, n, 0.5, alternative="greater").pvalue)
    if p_massive < alpha and p_first < alpha:
        status = "agrees"
    elif p_not < alpha:
        status = "disagrees"
    else:
        status = "inconclusive"
    sink = np.asarray(values["sink_per_layer"], dtype=float)
    return Verdict(
        status=status,
        prediction=f"in most prompts one residual-stream entry is ≥ {threshold:g}× the median magnitude "
        "of its layer, on the first token",
        measured=f"largest/median ≥ {threshold:g} in {massive}/{n} prompts (median ratio "
        f"{np.median(ratios):.0f}), on the first token in {on_first}/{n}; attention of later tokens to "
        f"the first: {sink.min():.2f} … {sink.max():.2f} per layer (uniform would give "
        f"{values['uniform_share']:.3f})",
        tolerance=f"one-sided binomial tests over prompts against a coin (p = 1/2) at α = {alpha:g}; the "
        f"factor {threshold:g} is the paper's 'about 1000× the median' cut",
        notes="Block outputs of the residual stream (no final norm); the sink share is the mean over "
        "heads and queries 1…n−1 of the weight on token 0. Removing the first token's sink is not run.",
    )


def _sinks_figures(params: Mapping[str, Any], values: Mapping[str, Any], out: Path) -> list[Path]:
    from attnflow.viz.claims.lm_frontier import plot_sinks

    path = out / "sinks.png"
    plot_sinks(
        values["ratio_per_layer"],
        values["sink_per_layer"],
        values["uniform_share"],
        params["model"],
        path=path,
    )
    return [path]


MASSIVE_ACTIVATIONS_SINKS = Experiment(
    name="massive-activations-sinks",
    title="Massive activations on the first token, and attention sinks, in SmolLM2",
    citation=MASSIVE_ACTIVATIONS.at(
        "abstract and Sec. 2: very few activations are orders of magnitude larger than the rest, and they "
        "sit at the starting token (and delimiters)",
        "attention sinks: Barbero et al., arXiv 2504.02732 (most heads put much attention on the first "
        "token; author list and wording not re-checked)",
        checked="the abstract (e.g. '100,000 times larger'); the Sec. 2 criterion used here (|a| > 100 and "
        "≈ 1000× the median magnitude) is quoted from memory of the paper, not re-read",
    ),
    claim="A few residual-stream entries are about a thousand times the median, they sit on the first "
    "token, and later tokens put much of their attention on it (an attention sink).",
    defaults={"model": "smollm2-135m", "passages": list(PASSAGES), "threshold": 1000.0, "alpha": 0.05},
    quick={"passages": list(PASSAGES[:3])},
    compute=_sinks_compute,
    verdict=_sinks_verdict,
    figures=_sinks_figures,
)


# ---------------------------------------------------------------------------------------------------
# Concept vectors (seed 000) on the multiple-choice set


def _concepts_compute(params: Mapping[str, Any]) -> dict[str, Any]:
    from attnflow.lm import evaluate_multiple_choice, load, multiple_choice_items

    items = multiple_choice_items()[: params["items"]]
    result = evaluate_multiple_choice(load(params["model"]), items, layer=params["layer"])
    return {
        "concept_correct": result["concept_correct"].values.astype(float),
        "chance": float(np.mean([1.0 / len(item.choices) for item in items])),
        "likelihood_accuracy": float(np.nanmean(result["likelihood_correct"].values.astype(float))),
    }


def _concepts_verdict(params: Mapping[str, Any], values: Mapping[str, Any]) -> Verdict:
    correct = np.asarray(values["concept_correct"], dtype=float)
    chance, margin, level = values["chance"], params["margin"], params["level"]
    k, n = int(correct.sum()), correct.size
    interval = stats.binomtest(k, n).proportion_ci(confidence_level=level, method="exact")
    low, high = float(interval.low), float(interval.high)
    status = "agrees" if low > chance else "disagrees" if high < chance + margin else "inconclusive"
    undecided = ""
    if status == "inconclusive":
        # The binomial spread √(p(1 − p)) per item, with the accuracy as measured.
        size = samples_to_decide(k / n, np.sqrt(k / n * (1 - k / n)), [chance, chance + margin], level, n)
        undecided = f"; {size_to_decide_text(size, 'items')}"
    return Verdict(
        status=status,
        prediction="concept-vector similarity picks the expected continuation more often than chance",
        measured=f"concept accuracy {k}/{n} = {k / n:.2f} (exact {level:.0%} interval {low:.2f} … "
        f"{high:.2f}); chance {chance:.2f}; likelihood accuracy {values['likelihood_accuracy']:.2f}"
        f"{undecided}",
        tolerance=f"agrees if the interval lies above chance; disagrees if it lies below chance + "
        f"{margin:g} (a gain smaller than {margin:g} would not make the concept reading useful); "
        "inconclusive otherwise",
        notes="Reported whichever way it falls; the likelihood reading is the baseline.",
    )


CONCEPT_VECTORS = Experiment(
    name="concept-vectors",
    title="Concept vectors pick multiple-choice answers (SmolLM2)",
    citation=EMBEDDING_SPACE_MOVEMENT.at(
        "abstract, point 5: the context is folded into one vector whose closeness to a token's vector "
        "reflects how likely that token is to follow",
        checked="the statement against the paper's abstract (the project's seed document)",
    ),
    claim="The mean-pooled final state of a text is a concept vector: the answer closest to the "
    "question's concept is the right one more often than chance.",
    defaults={"model": "smollm2-135m", "items": 20, "layer": -1, "margin": 0.1, "level": 0.95},
    quick={"items": 8},
    compute=_concepts_compute,
    verdict=_concepts_verdict,
)
