"""Path worlds: training learns the path law, context narrows it, and mixers compared.

Each experiment trains small models (:mod:`attnflow.paths`) on a world whose path law is exact and
compares the model's law with the truth. Heavy imports happen inside the steps.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attnflow.experiments.base import (
    Experiment,
    Verdict,
    combine,
    interval_status,
    mean_interval,
    positive_status,
)
from attnflow.experiments.papers import ABSTRACT_CHECKED, EMBEDDING_SPACE_MOVEMENT

if TYPE_CHECKING:
    import numpy as np

    from attnflow.paths import TrainResult, World

_COMMON: dict[str, Any] = {
    "world": "hmm",
    "vocab_size": 8,
    "architecture": "attention",
    "d_model": 32,
    "n_layers": 2,
    "steps": 1500,
    "batch_size": 32,
    "seq_len": 32,
    "lr": 3e-3,
    "eval_every": 100,
    "eval_paths": 256,
    "seed": 0,
}
_QUICK_COMMON: dict[str, Any] = {
    "d_model": 16,
    "n_layers": 1,
    "steps": 150,
    "batch_size": 16,
    "seq_len": 16,
    "lr": 1e-2,
    "eval_every": 50,
    "eval_paths": 64,
}


def _train(
    params: Mapping[str, Any], architecture: str | None = None, model_samples: int = 0
) -> tuple[World, TrainResult, np.ndarray]:
    """Build the world and train one model as ``params`` say; returns ``(world, result, held-out paths)``."""
    from attnflow.paths import ModelConfig, TrainConfig, make_world, train
    from attnflow.paths.train import eval_paths

    world = make_world(params["world"], vocab_size=params["vocab_size"], seed=params["seed"])
    model_config = ModelConfig(
        world.vocab_size,
        architecture or params["architecture"],
        d_model=params["d_model"],
        n_layers=params["n_layers"],
        max_len=params["seq_len"],
        seed=params["seed"],
    )
    config = TrainConfig(
        steps=params["steps"],
        batch_size=params["batch_size"],
        seq_len=params["seq_len"],
        lr=params["lr"],
        eval_every=params["eval_every"],
        eval_paths=params["eval_paths"],
        seed=params["seed"],
    )
    result = train(model_config, world, config, model_samples=model_samples)
    return world, result, eval_paths(world, config)


def per_path_kl(law: np.ndarray, log_q: np.ndarray) -> np.ndarray:
    """Per path: the mean over positions of the exact next-token ``KL(world ‖ model)`` (nats/token), from
    the world's next-token law on the paths and the model's log-law (``model_log_law``) on them."""
    import numpy as np

    from attnflow.measure.fits import kl_from_log

    with np.errstate(divide="ignore", invalid="ignore"):
        kl = kl_from_log(np.log(law), log_q)
    return np.asarray(kl).mean(axis=1)


def context_free_kl(law: np.ndarray) -> np.ndarray:
    """Per path: the KL per token of the best context-free law, the mean next-token law over the paths'
    contexts (it minimises the mean ``KL(world ‖ q)`` over laws ``q`` that ignore the context); ``law`` is
    the world's next-token law on the paths."""
    import numpy as np

    return per_path_kl(law, np.log(law.mean(axis=(0, 1))))


def _interval(samples: np.ndarray) -> np.ndarray:
    """The 95% Student t interval of the mean of ``samples`` (independent held-out paths), as values."""
    import numpy as np

    return np.array(mean_interval(samples)[1:])


def _paths_learned_compute(params: Mapping[str, Any]) -> dict[str, Any]:
    import numpy as np

    from attnflow.paths import build_model
    from attnflow.paths.train import model_log_law

    world, result, held_out = _train(params, model_samples=params["model_samples"])
    history = result.evaluations
    # The same held-out paths judge the model before training (its weights come from the seed alone),
    # after it, and the best context-free law: paired differences per path.
    law = world.next_token_law(held_out)
    initial = per_path_kl(law, model_log_law(build_model(result.model_config), held_out, world.vocab_size))
    final = per_path_kl(law, model_log_law(result.model, held_out, world.vocab_size))
    context_free = context_free_kl(law)
    return {
        "steps": np.array([e.step for e in history]),
        "kl_next": np.array([e.kl_next for e in history]),
        "kl_path": np.array([e.kl_path for e in history]),
        "kl_path_stderr": np.array([e.kl_path_stderr for e in history]),
        "reverse_kl_path": np.array([e.reverse_kl_path for e in history]),
        "kl_initial": float(initial.mean()),
        "kl_final": float(final.mean()),
        "kl_context_free": float(context_free.mean()),
        "kl_fall_ci": _interval(initial - final),
        "beyond_context_free_ci": _interval(context_free - final),
        "world_entropy": history[-1].world_entropy,
        "final_loss": history[-1].loss,
    }


def learned_beyond_context_free(values: Mapping[str, Any]) -> str:
    """Whether the model is closer to the world than the best context-free law: the 95% interval of
    ``KL(context-free) − KL(model)`` per token above 0 agrees; otherwise the model has not (yet) learned
    how the law depends on the context, which a longer training would settle: inconclusive, never a
    disagreement (the claim is about training that runs its course, not about a given number of steps)."""
    low, high = values["beyond_context_free_ci"]
    return "agrees" if positive_status(float(low), float(high)) == "agrees" else "inconclusive"


def _paths_learned_verdict(params: Mapping[str, Any], values: Mapping[str, Any]) -> Verdict:
    fall, beyond = values["kl_fall_ci"], values["beyond_context_free_ci"]
    # Training lowers KL(world ‖ model): the interval of the fall above 0 agrees; at or below 0 (a model
    # that does not learn has a fall of exactly 0) disagrees.
    falls = positive_status(float(fall[0]), float(fall[1]))
    learned = learned_beyond_context_free(values)
    kl_path, kl_path_se = values["kl_path"], values["kl_path_stderr"]
    return Verdict(
        status=combine(falls, learned),
        prediction=(
            "training moves the model's path law towards the world's: KL(world‖model) falls, and ends "
            "below that of the best law that ignores the context"
        ),
        measured=(
            f"next-token KL {values['kl_initial']:.3f} → {values['kl_final']:.4f} nats/token (fall 95% CI "
            f"[{fall[0]:.4f}, {fall[1]:.4f}]: {falls}); best context-free law "
            f"{values['kl_context_free']:.4f} (its excess over the model [{beyond[0]:.4f}, {beyond[1]:.4f}]:"
            f" {learned}); whole-path KL {kl_path[0]:.2f} → {kl_path[-1]:.2f} ± {kl_path_se[-1]:.2f} nats"
        ),
        tolerance=(
            "95% Student t intervals over the held-out paths (independent world paths) of two paired "
            "differences per path: KL before − after training (above 0 agrees, at or below 0 disagrees: "
            "the rival, a model that does not learn, has exactly 0) and KL of the best context-free law − "
            "KL after (above 0 agrees; otherwise inconclusive: a longer training would decide); an "
            "interval across 0 is "
            "inconclusive (more held-out paths would decide)"
        ),
        notes=(
            "Next-token KLs are exact per context (the world's law against the model's), averaged over "
            "positions per path; the model before training is rebuilt from its seed. Whole-path "
            "KL(world‖model) is a Monte Carlo mean over held-out world paths of log p_world − log q_model; "
            "KL(model‖world) averages over paths the model samples itself. The best context-free law is the "
            "mean next-token law over the held-out contexts."
        ),
    )


def _paths_learned_figures(params: Mapping[str, Any], values: Mapping[str, Any], out: Path) -> list[Path]:
    from attnflow.viz.claims import plot_path_law_learning

    figures = [out / "paths-learned.png"]
    plot_path_law_learning(
        values["steps"],
        values["kl_next"],
        values["kl_path"],
        values["kl_path_stderr"],
        values["reverse_kl_path"],
        params["seq_len"],
        title=f"{params['architecture']} on the {params['world']} world: the path law is learned",
        path=figures[0],
    )
    return figures


def _context_narrows_compute(params: Mapping[str, Any]) -> dict[str, Any]:
    import numpy as np

    from attnflow.measure.fits import entropy, entropy_from_log
    from attnflow.paths import MarkovChain
    from attnflow.paths.train import model_log_law
    from attnflow.random import spawn

    world, result, held_out = _train(params)
    # Per held-out path and position, the world's and the model's exact next-token entropies.
    law = world.next_token_law(held_out)
    log_q = model_log_law(result.model, held_out, world.vocab_size)
    h_world = entropy(law)
    h_model = np.asarray(entropy_from_log(log_q))
    world_drops, model_drops = h_world[:, 0] - h_world[:, -1], h_model[:, 0] - h_model[:, -1]
    (unigram_seed,) = spawn(params["seed"], 1)
    unigram = MarkovChain.fit(world.sample(4000, params["seq_len"], seed=unigram_seed), world.vocab_size, 0)
    context_free = context_free_kl(law)
    final = per_path_kl(law, log_q)
    return {
        "world_entropy": h_world.mean(axis=0),
        "model_entropy": h_model.mean(axis=0),
        "unigram_entropy": float(entropy(unigram.transition)),
        "world_drop": float(world_drops.mean()),
        "model_drop": float(model_drops.mean()),
        "world_drop_ci": _interval(world_drops),
        "model_drop_ci": _interval(model_drops),
        "drop_difference_ci": _interval(model_drops - world_drops),
        "beyond_context_free_ci": _interval(context_free - final),
    }


def context_narrows_status(values: Mapping[str, Any]) -> str:
    """The verdict of context-narrows from its values (95% intervals over held-out paths).

    The world's drop D (entropy at the first position − at the last) must be known to be positive, else
    there is nothing to test; and the model must have learned how the law depends on the context (closer
    to the world than the best context-free law), else it cannot show narrowing: both inconclusive. The
    prediction is the world's drop, its rival no narrowing (a drop of 0); each is accepted within half the
    gap between them, D/2: the model's drop minus the world's inside ±D/2 agrees, the model's drop below
    D/2 (nearer the rival) disagrees, an interval across D/2 is inconclusive (more paths would decide).
    """
    world_low, _ = values["world_drop_ci"]
    if world_low <= 0 or learned_beyond_context_free(values) != "agrees":
        return "inconclusive"
    margin = values["world_drop"] / 2
    low, high = values["drop_difference_ci"]
    if -margin <= low and high <= margin:
        return "agrees"
    if values["model_drop_ci"][1] < margin:
        return "disagrees"
    return "inconclusive"


def _context_narrows_verdict(params: Mapping[str, Any], values: Mapping[str, Any]) -> Verdict:
    h_world, h_model = values["world_entropy"], values["model_entropy"]
    world_ci, model_ci = values["world_drop_ci"], values["model_drop_ci"]
    return Verdict(
        status=context_narrows_status(values),
        prediction=(
            "context narrows the set of paths: next-token entropy falls with context length, for the world "
            "and as much for a model that learned its path law"
        ),
        measured=(
            f"world entropy {h_world[0]:.3f} → {h_world[-1]:.3f} nats (drop 95% CI [{world_ci[0]:.3f}, "
            f"{world_ci[1]:.3f}]), model {h_model[0]:.3f} → {h_model[-1]:.3f} nats (drop [{model_ci[0]:.3f}"
            f", {model_ci[1]:.3f}]); model − world drop [{values['drop_difference_ci'][0]:.3f}, "
            f"{values['drop_difference_ci'][1]:.3f}]; beyond the best context-free law: "
            f"{learned_beyond_context_free(values)}"
        ),
        tolerance=(
            "95% Student t intervals over held-out paths. Agrees: model − world drop within ±D/2, D the "
            "world's drop (half the gap between the prediction D and the rival 'no narrowing', 0); "
            "disagrees: the model's drop below D/2 although it learned more than a context-free law; "
            "inconclusive: an interval across an edge, the world not narrowing, or a model no better than "
            "the best context-free law (a longer training would decide)"
        ),
        notes=(
            "Drops are per path (first position − last); both entropies are exact for the path's context. "
            "For the default stationary HMM the exact H(X_t | X_<t) cannot increase with t; the model's "
            "curve is measured on the same contexts."
        ),
    )


def _context_narrows_figures(params: Mapping[str, Any], values: Mapping[str, Any], out: Path) -> list[Path]:
    from attnflow.viz.claims import plot_entropy_by_context

    figures = [out / "context-narrows.png"]
    plot_entropy_by_context(
        values["world_entropy"],
        values["model_entropy"],
        values["unigram_entropy"],
        params["architecture"],
        path=figures[0],
    )
    return figures


def _in_context_compute(params: Mapping[str, Any]) -> dict[str, Any]:
    import numpy as np

    from attnflow.paths import context_use
    from attnflow.paths.train import model_log_law
    from attnflow.paths.worlds import InContextMarkov
    from attnflow.random import spawn

    world, result, held_out = _train(params)
    reference_seed, shift_seed, eval_seed = spawn(params["seed"], 3)
    reference = world.sample(params["fit_paths"], params["seq_len"], seed=reference_seed)
    use = context_use(result.model, world, held_out, reference)
    # The test: contexts drawn under a shifted prior (another base chain, the same concentration).
    shifted = InContextMarkov.random(
        world.vocab_size, concentration=float(world.alpha.sum(axis=1).mean()), seed=shift_seed
    )
    paths = shifted.sample(params["eval_paths"], params["seq_len"], seed=eval_seed)
    log_model = model_log_law(result.model, paths, world.vocab_size)
    log_train = np.log(world.next_token_law(paths))
    log_shift = np.log(shifted.next_token_law(paths))

    def kl(log_p: np.ndarray, log_q: np.ndarray) -> np.ndarray:
        # Per path: the mean over positions ≥ 1 (position 0 is uniform for all) of KL(p ‖ q).
        return (np.exp(log_p) * (log_p - log_q)).sum(axis=-1)[:, 1:].mean(axis=1)

    return {
        "bayes_loss": use.bayes_loss,
        "fixed_chain_loss": use.fixed_loss,
        "unigram_loss": use.unigram_loss,
        "model_loss": use.model_loss,
        "gain": use.gain,
        "gain_stderr": use.gain_stderr,
        "captured": use.captured,
        "late_from": use.late_from,
        "kl_to_training_bayes": kl(log_model, log_train),
        "kl_to_shifted_bayes": kl(log_model, log_shift),
        "bayes_separation": float(kl(log_shift, log_train).mean()),
    }


def in_context_status(to_training: np.ndarray, to_shifted: np.ndarray, separation: float) -> tuple[str, str]:
    """Which Bayes predictor the model follows on contexts from the shifted prior.

    ``Δ = KL(model ‖ Bayes_shifted) − KL(model ‖ Bayes_training)`` per path; its 95% Student t interval
    over paths (:func:`mean_interval`) above 0 agrees (the model narrows the law of its training prior),
    below 0 disagrees (it follows the shifted prior: learning in context). When the model is farther from the
    nearer predictor than the two predictors are from each other, it resembles neither: inconclusive.

    Returns:
        The status and the interval's text.
    """
    import numpy as np

    mean, low, high = mean_interval(np.asarray(to_shifted) - np.asarray(to_training))
    status = interval_status(low, high, 0.0, np.inf)
    if min(np.mean(to_training), np.mean(to_shifted)) >= separation:
        status = "inconclusive"
    return status, f"Δ = {mean:+.4f}, 95% interval [{low:+.4f}, {high:+.4f}] nats/token"


def _in_context_verdict(params: Mapping[str, Any], values: Mapping[str, Any]) -> Verdict:
    to_training, to_shifted = values["kl_to_training_bayes"], values["kl_to_shifted_bayes"]
    separation = values["bayes_separation"]
    status, interval = in_context_status(to_training, to_shifted, separation)
    follows = {"agrees": "the training prior's", "disagrees": "the shifted prior's"}.get(status, "neither")
    return Verdict(
        status=status,
        prediction=(
            "no learning in context: on contexts drawn under a prior the model never saw, it follows the "
            "Bayes predictor of its training prior (narrowing a law fixed in training), not the Bayes "
            "predictor of the shifted prior"
        ),
        measured=(
            f"on {to_training.size} paths of the shifted prior, KL(model ‖ Bayes) per token: "
            f"{to_training.mean():.4f} to the training prior's, {to_shifted.mean():.4f} to the shifted "
            f"prior's ({interval}); the two Bayes predictors differ by {separation:.4f}: the model follows "
            f"{follows}. On training-prior paths the model gains {values['gain']:.3f} ± "
            f"{values['gain_stderr']:.3f} nats over the best fixed chain ({values['captured']:.0%} of the "
            "in-context headroom)"
        ),
        tolerance=(
            "Δ = KL(model‖Bayes_shifted) − KL(model‖Bayes_training), 95% interval over paths: above 0 "
            "agrees, below 0 disagrees, across 0 inconclusive; inconclusive too when the model is farther "
            "from both than they are from each other (too little training to resemble either)"
        ),
        notes=(
            "Every path draws its own transition matrix from a Dirichlet prior; the Bayes predictor of a "
            "prior infers the matrix from the transitions counted so far. The old verdict (the model beats "
            "the best fixed chain) tested a claim the source does not make: for a Dirichlet-mixture world "
            "the training law's conditional is itself the Bayes in-context predictor, so beating the chain "
            "is what narrowing predicts. Here the shifted prior has another base chain and the same "
            "concentration; both predictors see the same counts and differ only by their prior."
        ),
    )


def _in_context_figures(params: Mapping[str, Any], values: Mapping[str, Any], out: Path) -> list[Path]:
    from attnflow.viz.claims import plot_in_context_losses

    figures = [out / "in-context.png"]
    plot_in_context_losses(
        values["unigram_loss"],
        values["fixed_chain_loss"],
        values["model_loss"],
        values["bayes_loss"],
        params["architecture"],
        path=figures[0],
    )
    return figures


def _mixers_compared_compute(params: Mapping[str, Any]) -> dict[str, Any]:
    """Train the four mixers on every world of ``params["worlds"]``: values by world, then by mixer.

    All four are judged on the same held-out paths (they depend on the world and the seed only), so the
    differences of their per-path KLs are paired.
    """
    import torch

    from attnflow.paths import AGGREGATING_MIXERS, MIXERS, mixer_shares
    from attnflow.paths.train import model_log_law

    values: dict[str, Any] = {}
    for world_name in params["worlds"]:
        rows, log_laws = {}, {}
        for mixer in MIXERS:
            world, result, held_out = _train({**params, "world": world_name}, architecture=mixer)
            final = result.evaluations[-1]
            shares = mixer_shares(result.model, torch.as_tensor(held_out), world.vocab_size).numpy()
            share = float(shares[:, 0].mean())
            log_laws[mixer] = model_log_law(result.model, held_out, world.vocab_size)
            rows[mixer] = {
                "loss": final.loss,
                "kl_next": final.kl_next,
                "kl_path": final.kl_path,
                "kl_path_stderr": final.kl_path_stderr,
                "mixer_share": share,
                "aggregation_share": share if mixer in AGGREGATING_MIXERS else 0.0,
                "world_entropy": final.world_entropy,
            }
        law = world.next_token_law(held_out)  # every mixer's world and held-out paths are the same
        per_path = {mixer: per_path_kl(law, log_q) for mixer, log_q in log_laws.items()}
        values[world_name] = {
            **rows,
            **judged_mixer_values(per_path, context_free_kl(law), params["alpha"]),
        }
    return values


def judged_mixer_values(
    per_path: Mapping[str, np.ndarray], context_free: np.ndarray, alpha: float
) -> dict[str, Any]:
    """What :func:`mixers_world_status` judges on one world, from the per-path KLs of each mixer and of the
    best context-free law on the same held-out paths: the context-free KL, attention's gain over it
    (mean and 95% interval) and, per fixed-filter mixer, the interval of its excess over attention at
    :func:`_excess_level` (``excess_ci``, by mixer)."""
    import numpy as np

    from attnflow.paths import FILTERING_MIXERS

    gain = context_free - per_path["attention"]
    level = _excess_level(alpha)
    return {
        "kl_context_free": float(np.mean(context_free)),
        "context_gain": float(gain.mean()),
        "context_gain_ci": _interval(gain),
        "excess_ci": {
            m: np.array(mean_interval(per_path[m] - per_path["attention"], level)[1:])
            for m in FILTERING_MIXERS
        },
    }


def _excess_level(alpha: float) -> float:
    """The level of each fixed-filter mixer's interval: 1 − α/k for k mixers (Bonferroni), so that the
    world's verdict, which takes the best of them, keeps the level 1 − α."""
    from attnflow.paths import FILTERING_MIXERS

    return 1 - alpha / len(FILTERING_MIXERS)


def mixers_world_status(values: Mapping[str, Any], world: str) -> tuple[str, dict[str, str]]:
    """The verdict of mixers-compared on one world, and that of each fixed-filter mixer.

    The claim: attention's data-dependent aggregation is redundant, so a mixer with fixed filters fits the
    world about as well. Prediction: a fixed-filter mixer's excess KL over attention is 0. Rival: the fixed
    filters cannot use what attention takes from the context, so the excess is attention's whole gain over
    the best context-free law, G. Each is accepted within half the gap between them, G/2: a mixer's excess
    interval below G/2 agrees, above it disagrees, across it is inconclusive. The world agrees when either
    fixed-filter mixer agrees (each interval at :func:`_excess_level`, so choosing the better one keeps
    the level 1 − α) and disagrees when both disagree. Attention must first have learned from the
    context (G's interval above 0), else there is nothing to be redundant: inconclusive, a longer
    training would decide.
    """
    import numpy as np

    from attnflow.paths import FILTERING_MIXERS

    margin = values[f"{world}.context_gain"] / 2
    low_gain, _ = values[f"{world}.context_gain_ci"]
    by_mixer = {}
    for mixer in FILTERING_MIXERS:
        low, high = values[f"{world}.excess_ci.{mixer}"]
        by_mixer[mixer] = interval_status(float(low), float(high), -np.inf, margin)
    if low_gain <= 0:
        return "inconclusive", by_mixer
    statuses = set(by_mixer.values())
    if "agrees" in statuses:
        return "agrees", by_mixer
    return ("disagrees" if statuses == {"disagrees"} else "inconclusive"), by_mixer


def _mixers_compared_verdict(params: Mapping[str, Any], values: Mapping[str, Any]) -> Verdict:
    from attnflow.paths import MIXERS

    statuses, lines = [], []
    for world in params["worlds"]:
        status, by_mixer = mixers_world_status(values, world)
        statuses.append(status)
        table = ", ".join(
            f"{m} {values[f'{world}.{m}.kl_next']:.4f} (share {values[f'{world}.{m}.mixer_share']:.2f})"
            for m in MIXERS
        )
        gain_low, gain_high = values[f"{world}.context_gain_ci"]
        excess = ", ".join(
            f"{m} − attention [{values[f'{world}.excess_ci.{m}'][0]:.4f}, "
            f"{values[f'{world}.excess_ci.{m}'][1]:.4f}] ({by_mixer[m]})"
            for m in by_mixer
        )
        lines.append(
            f"{world} world ({status}): {table}; context-free {values[f'{world}.kl_context_free']:.4f}, "
            f"attention's gain G [{gain_low:.4f}, {gain_high:.4f}], margin G/2 = "
            f"{values[f'{world}.context_gain'] / 2:.4f}; {excess}"
        )
    alpha = params["alpha"]
    return Verdict(
        status=combine(*statuses),
        prediction=(
            "every sequence model composes data-independent filtering and data-dependent aggregation; "
            "attention's aggregation is a potentially redundant association bias, so on every world a "
            "mixer with fixed filters (SSM or convolution) fits the world's law about as well as attention"
        ),
        measured="next-token KL(world‖model) in nats/token, per world: " + "; ".join(lines),
        tolerance=(
            "per world, paired Student t intervals over the held-out paths (level "
            f"{_excess_level(alpha):.1%} each, so the better of the two fixed-filter mixers is judged at "
            f"{1 - alpha:.0%}) of the fixed-filter "
            "mixer's KL minus attention's, against half the gap G/2 between the prediction (0) and the rival "
            "(G, attention's gain over the best context-free law: fixed filters that use nothing of what "
            "attention takes from the context). Below G/2 agrees, above disagrees, across inconclusive; a "
            "world where attention gains nothing over the context-free law (G's 95% interval not above 0) "
            "is inconclusive. The verdict is the worst world's."
        ),
        notes=(
            "Same width, depth, data, steps and held-out paths for all four on each world. The mixer share "
            "is Σ‖mixer update‖ / Σ(‖mixer‖ + ‖MLP update‖) over tokens and layers; it counts as "
            "aggregation only for the attention mixers, whose token weights depend on the data; the SSM and "
            "convolution mix tokens with fixed filters. Linear attention is shown, not judged (its weights "
            "depend on the data too)."
        ),
    )


def _mixers_compared_figures(params: Mapping[str, Any], values: Mapping[str, Any], out: Path) -> list[Path]:
    from attnflow.paths import AGGREGATING_MIXERS, MIXERS
    from attnflow.viz.claims import plot_mixers_across_worlds, plot_mixers_compared

    worlds = list(params["worlds"])
    figures = [out / "mixers-compared.png"]
    plot_mixers_across_worlds(
        worlds,
        MIXERS,
        [[values[f"{world}.{m}.kl_next"] for m in MIXERS] for world in worlds],
        [values[f"{world}.attention.kl_next"] + values[f"{world}.context_gain"] / 2 for world in worlds],
        [values[f"{world}.kl_context_free"] for world in worlds],
        [m in AGGREGATING_MIXERS for m in MIXERS],
        path=figures[0],
    )
    for world in worlds:
        figures.append(out / f"mixers-compared-{world}.png")
        plot_mixers_compared(
            MIXERS,
            [values[f"{world}.{m}.kl_next"] for m in MIXERS],
            values[f"{world}.attention.kl_next"] + values[f"{world}.context_gain"] / 2,
            [values[f"{world}.{m}.mixer_share"] for m in MIXERS],
            [m in AGGREGATING_MIXERS for m in MIXERS],
            title=f"Four sequence mixers on the {world} world",
            context_free=values[f"{world}.kl_context_free"],
            path=figures[-1],
        )
    return figures


PATHS_LEARNED = Experiment(
    name="paths-learned",
    title="Training learns the path law: KL(world ‖ model) falls",
    citation=EMBEDDING_SPACE_MOVEMENT.at(
        "abstract: “LM training learns a probability distribution over all possible paths”",
        checked=ABSTRACT_CHECKED,
    ),
    claim="LM training learns a probability distribution over all possible paths (token sequences).",
    defaults={**_COMMON, "model_samples": 64},
    quick={**_QUICK_COMMON, "model_samples": 8},
    compute=_paths_learned_compute,
    verdict=_paths_learned_verdict,
    figures=_paths_learned_figures,
)

CONTEXT_NARROWS = Experiment(
    name="context-narrows",
    title="Context narrows the paths: next-token entropy vs context length",
    citation=EMBEDDING_SPACE_MOVEMENT.at(
        "abstract: “context only narrows the subset of paths sampled during decoding”",
        checked=ABSTRACT_CHECKED,
    ),
    claim="Context only narrows the subset of paths sampled during decoding.",
    defaults=_COMMON,
    quick=_QUICK_COMMON,
    compute=_context_narrows_compute,
    verdict=_context_narrows_verdict,
    figures=_context_narrows_figures,
)

IN_CONTEXT = Experiment(
    name="in-context",
    title="In-context world: trained under one prior, which Bayes predictor does the model follow?",
    citation=EMBEDDING_SPACE_MOVEMENT.at(
        "abstract: “No learning can take place in-context”", checked=ABSTRACT_CHECKED
    ),
    claim="No learning can take place in context; context only narrows the subset of paths sampled: "
    "a model trained under one prior follows that prior's Bayes predictor on contexts from another.",
    defaults={**_COMMON, "world": "in-context", "vocab_size": 6, "steps": 3000, "fit_paths": 4000},
    quick={**_QUICK_COMMON, "steps": 200, "fit_paths": 1000},
    compute=_in_context_compute,
    verdict=_in_context_verdict,
    figures=_in_context_figures,
)

MIXERS_COMPARED = Experiment(
    name="mixers-compared",
    title="Attention, linear attention, SSM and convolution on every world",
    citation=EMBEDDING_SPACE_MOVEMENT.at(
        "abstract: filtering (data independent) and aggregation (data dependent); attention's "
        "“potentially redundant association-bias”",
        checked=ABSTRACT_CHECKED,
    ),
    claim=(
        "Sequence models are compositions of filtering (data independent) and aggregation (data "
        "dependent); "
        "attention contributes a potentially redundant association bias."
    ),
    defaults={
        **_COMMON,
        "worlds": ["markov", "hmm", "pcfg", "in-context"],
        "steps": 1000,
        "alpha": 0.05,
    },
    quick={**_QUICK_COMMON, "steps": 100, "eval_every": 0},
    compute=_mixers_compared_compute,
    verdict=_mixers_compared_verdict,
    figures=_mixers_compared_figures,
)
