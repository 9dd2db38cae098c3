"""Training a sequence model on a world, checkpoints, and evaluation against the exact path law.

Data are fresh paths from the world at every step (the world is an endless corpus). The run's seed has
three independent children (:func:`attnflow.random.spawn`): the training data, whose child ``s`` draws
the batch of step ``s`` (so a resumed run sees the same data as an unbroken one), the held-out paths, and
the model's own samples. Evaluation compares the model's next-token law with the world's exact one on
the held-out paths.
"""

from __future__ import annotations

import functools
import io
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from torch import nn

from attnflow import progress as _progress
from attnflow._validate import finite_number, positive_int, positive_number
from attnflow.io import atomic_write_bytes
from attnflow.measure.fits import entropy, entropy_from_log, kl_from_log
from attnflow.paths.models import ModelConfig, build_model, eval_mode, next_token_log_probs, with_bos
from attnflow.paths.worlds import World
from attnflow.random import SEED_POLICY, Seed, spawn, torch_generator

CHECKPOINT_NAME = "checkpoint.pt"

_T = TypeVar("_T")


@dataclass(frozen=True)
class TrainConfig:
    """How to train.

    Attributes:
        steps: optimiser steps (>= 1).
        batch_size: paths per step.
        seq_len: tokens per path (the model's ``max_len`` must be at least this).
        lr: AdamW learning rate (> 0), after a linear warm-up of ``warmup`` steps.
        warmup: warm-up steps (>= 0).
        weight_decay: AdamW weight decay (>= 0).
        eval_every: evaluate every this many steps (and at step 0 and the end); 0 evaluates only at the end.
        eval_paths: held-out paths per evaluation.
        seed: seed of the run's randomness (an int >= 0): its three children give the training
            batches, the held-out paths and the model's samples (weights are seeded by the model config).
    """

    steps: int = 500
    batch_size: int = 32
    seq_len: int = 32
    lr: float = 3e-3
    warmup: int = 20
    weight_decay: float = 0.0
    eval_every: int = 100
    eval_paths: int = 256
    seed: int = 0

    def __post_init__(self) -> None:
        positive_int("steps", self.steps)
        positive_int("batch_size", self.batch_size)
        positive_int("seq_len", self.seq_len)
        positive_number("lr", self.lr)
        positive_int("warmup", self.warmup, minimum=0)
        if finite_number("weight_decay", self.weight_decay) < 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay!r}")
        positive_int("eval_every", self.eval_every, minimum=0)
        positive_int("eval_paths", self.eval_paths)
        positive_int("seed", self.seed, minimum=0)


@dataclass(eq=False)
class Evaluation:
    """A model against the world's exact law on held-out paths (nats; per position arrays have length L).

    Attributes:
        step: training step of the model.
        loss: the model's cross-entropy per token.
        world_entropy: the world's exact conditional entropy per token (mean over the paths' contexts).
        kl_next: mean over tokens of the exact next-token ``KL(world || model)`` at each sampled context.
        kl_path: whole-path ``KL(world || model)``, Monte Carlo over the world's paths of
            ``log p_world(x) - log q_model(x)`` (both exact for a given path).
        kl_path_stderr: standard error of ``kl_path``.
        kl_by_position: next-token KL at each position; it sums to the whole-path KL in expectation.
        world_entropy_by_position: the world's next-token entropy at each context length.
        model_entropy_by_position: the model's next-token entropy at each context length.
        loss_by_position: the model's cross-entropy at each position.
        reverse_kl_path: whole-path ``KL(model || world)``, Monte Carlo over paths sampled from the model
            (``nan`` when no model samples were asked for).
    """

    step: int
    loss: float
    world_entropy: float
    kl_next: float
    kl_path: float
    kl_path_stderr: float
    kl_by_position: np.ndarray
    world_entropy_by_position: np.ndarray
    model_entropy_by_position: np.ndarray
    loss_by_position: np.ndarray
    reverse_kl_path: float = float("nan")


@dataclass(eq=False)
class TrainResult:
    """A trained model with its history.

    Attributes:
        model: the trained model (in eval mode).
        model_config: its :class:`ModelConfig`.
        train_config: the :class:`TrainConfig`.
        losses: training loss at every step ``(steps,)``; a resumed run has the earlier steps' losses from
            its checkpoint (``nan`` only for a checkpoint written before checkpoints kept the history).
        evaluations: every evaluation of the run, by step, those before a resume included.
    """

    model: nn.Module
    model_config: ModelConfig
    train_config: TrainConfig
    losses: np.ndarray
    evaluations: list[Evaluation] = field(default_factory=list)


def _picked(table: np.ndarray, paths: np.ndarray) -> np.ndarray:
    """Entry ``[i, t, paths[i, t]]`` of a per-position table ``(n, L, V)``, shape ``(n, L)``."""
    return np.take_along_axis(table, paths[..., None], axis=-1)[..., 0]


def _stderr(samples: np.ndarray) -> float:
    """Standard error of the mean of ``samples`` (0 for a single sample)."""
    return float(samples.std(ddof=1) / math.sqrt(len(samples))) if len(samples) > 1 else 0.0


def model_log_law(model: nn.Module, paths: np.ndarray | torch.Tensor, vocab_size: int) -> np.ndarray:
    """The model's next-token log-law on paths, as float64 NumPy ``(n, L, V)`` (no gradients)."""
    with eval_mode(model):
        out = next_token_log_probs(model, torch.as_tensor(np.asarray(paths), dtype=torch.long), vocab_size)
    return out.double().numpy()


def sample_from_model(
    model: nn.Module, n_paths: int, length: int, vocab_size: int, seed: Seed = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Random-walk decoding: draw paths token by token from the model's own next-token law.

    Args:
        model: a model from :func:`attnflow.paths.models.build_model`.
        n_paths: number of paths.
        length: tokens per path.
        vocab_size: ``V`` of the world.
        seed: an int >= 0 or a ``SeedSequence`` (same seed, same paths).

    Returns:
        The paths ``(n_paths, length)`` (int64) and their exact log-probabilities under the model
        ``(n_paths,)``.
    """
    n_paths = positive_int("n_paths", n_paths)
    length = positive_int("length", length)
    generator = torch_generator(seed)
    paths = torch.zeros(n_paths, length, dtype=torch.long)
    log_prob = torch.zeros(n_paths, dtype=torch.float64)
    with eval_mode(model):
        for t in range(length):
            # Placeholder tokens after t are never read: every model here is causal.
            logits = model(with_bos(paths, vocab_size)[:, : t + 1]).logits[:, t, :vocab_size]
            log_q = torch.log_softmax(logits.double(), dim=-1)
            paths[:, t] = torch.multinomial(log_q.exp(), 1, generator=generator)[:, 0]
            log_prob += log_q.gather(1, paths[:, t : t + 1])[:, 0]
    return paths.numpy(), log_prob.numpy()


def evaluate(
    model: nn.Module,
    world: World,
    paths: np.ndarray,
    world_law: np.ndarray | None = None,
    step: int = 0,
    model_samples: int = 0,
    seed: Seed = 0,
) -> Evaluation:
    """Compare a model's next-token and path laws with the world's exact ones.

    Args:
        model: a model from :func:`attnflow.paths.models.build_model`.
        world: the world the paths come from.
        paths: held-out world paths ``(n, L)``.
        world_law: ``world.next_token_law(paths)`` if already computed.
        step: the training step to record.
        model_samples: paths to sample from the model for the reverse whole-path KL (0 to skip).
        seed: seed of the model's sampling (an int >= 0 or a ``SeedSequence``).

    Returns:
        An :class:`Evaluation`.
    """
    paths = np.asarray(paths, dtype=np.int64)
    law = world.next_token_law(paths) if world_law is None else world_law
    log_q = model_log_law(model, paths, world.vocab_size)
    with np.errstate(divide="ignore", invalid="ignore"):
        with np.errstate(divide="ignore"):
            kl = kl_from_log(np.log(law), log_q)
    picked_world = np.log(_picked(law, paths))
    picked_model = _picked(log_q, paths)
    path_gap = (picked_world - picked_model).sum(axis=1)
    reverse = float("nan")
    if model_samples:
        sampled, log_q_paths = sample_from_model(model, model_samples, paths.shape[1], world.vocab_size, seed)
        reverse = float(np.mean(log_q_paths - world.log_prob(sampled)))
    return Evaluation(
        step=step,
        loss=float(-picked_model.mean()),
        world_entropy=float(entropy(law).mean()),
        kl_next=float(kl.mean()),
        kl_path=float(path_gap.mean()),
        kl_path_stderr=_stderr(path_gap),
        kl_by_position=kl.mean(axis=0),
        world_entropy_by_position=entropy(law).mean(axis=0),
        model_entropy_by_position=entropy_from_log(log_q).mean(axis=0),
        loss_by_position=-picked_model.mean(axis=0),
        reverse_kl_path=reverse,
    )


def position_loss(law: np.ndarray, paths: np.ndarray) -> np.ndarray:
    """Cross-entropy at each position of a predictor's law ``(n, L, V)`` on ``paths``, shape ``(L,)``."""
    with np.errstate(divide="ignore"):
        return -np.log(_picked(np.asarray(law), np.asarray(paths))).mean(axis=0)


def _streams(config: TrainConfig) -> list[np.random.SeedSequence]:
    """The run's independent seeds: training data, held-out paths, model samples."""
    return spawn(config.seed, 3)


def eval_paths(world: World, config: TrainConfig) -> np.ndarray:
    """The held-out evaluation paths of a training run."""
    return world.sample(config.eval_paths, config.seq_len, _streams(config)[1])


def save_checkpoint(
    directory: str | Path,
    model: nn.Module,
    model_config: ModelConfig,
    train_config: TrainConfig,
    step: int,
    optimizer: torch.optim.Optimizer | None = None,
    losses: np.ndarray | None = None,
    evaluations: Sequence[Evaluation] = (),
) -> Path:
    """Write ``directory/checkpoint.pt`` atomically (weights, configs, step, optimiser state, history).

    The history (``losses`` of the steps done and the ``evaluations`` so far) lets a resumed run
    return the whole learning curve (see :func:`load_history`).
    """
    buffer = io.BytesIO()
    torch.save(
        {
            "model_config": asdict(model_config),
            "train_config": asdict(train_config),
            "step": step,
            "seed_policy": SEED_POLICY,
            "model": model.state_dict(),
            "optimizer": None if optimizer is None else optimizer.state_dict(),
            "history": {
                "losses": torch.as_tensor(np.asarray([] if losses is None else losses, dtype=np.float64)),
                # Tensors and plain numbers only, so the checkpoint loads with weights_only=True.
                "evaluations": [
                    {k: torch.as_tensor(v) if isinstance(v, np.ndarray) else v for k, v in vars(e).items()}
                    for e in evaluations
                ],
            },
        },
        buffer,
    )
    return atomic_write_bytes(Path(directory) / CHECKPOINT_NAME, buffer.getvalue())


def load_checkpoint(directory: str | Path) -> tuple[nn.Module, ModelConfig, TrainConfig, int, dict | None]:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Returns:
        The model (eval mode), its config, the train config, the step and the optimiser state.

    Raises:
        FileNotFoundError: no checkpoint in ``directory``.
    """
    path = Path(directory) / CHECKPOINT_NAME
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}")
    state = torch.load(path, map_location="cpu", weights_only=True)
    model_config = ModelConfig(**state["model_config"])
    model = build_model(model_config)
    model.load_state_dict(state["model"])
    model.eval()
    return model, model_config, TrainConfig(**state["train_config"]), int(state["step"]), state["optimizer"]


def load_history(directory: str | Path) -> tuple[np.ndarray, list[Evaluation]]:
    """The learning curve saved with a checkpoint: the losses of the steps done and the evaluations.

    A checkpoint written before checkpoints kept the history gives no losses and no evaluations.

    Raises:
        FileNotFoundError: no checkpoint in ``directory``.
    """
    path = Path(directory) / CHECKPOINT_NAME
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}")
    history = torch.load(path, map_location="cpu", weights_only=True).get("history")
    if history is None:
        return np.zeros(0), []
    evaluations = [
        Evaluation(**{k: v.numpy() if isinstance(v, torch.Tensor) else v for k, v in e.items()})
        for e in history["evaluations"]
    ]
    return history["losses"].numpy(), evaluations


def _on_one_thread(function: Callable[..., _T]) -> Callable[..., _T]:
    """Run ``function`` with one intra-op torch thread, whatever the caller's setting.

    A matrix product or a reduction split over k threads adds its partial sums in an order that
    depends on k, so the same run on 1 and on 2 threads drifted apart by ~1e-9 in the loss after 20
    steps and then further. One thread makes a run bitwise the same under any thread setting; the
    path-world models are small (width 32 by default), where extra threads save little.
    """

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> _T:
        previous = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return function(*args, **kwargs)
        finally:
            torch.set_num_threads(previous)

    return wrapper


@_on_one_thread
def train(
    model_config: ModelConfig,
    world: World,
    config: TrainConfig,
    checkpoint_dir: str | Path | None = None,
    checkpoint_every: int = 0,
    progress: _progress.Progress | bool | None = False,
    model_samples: int = 0,
) -> TrainResult:
    """Train a model on fresh world paths, evaluating against the exact law along the way.

    Training runs on one torch thread, so a run is bitwise reproducible whatever the caller's thread
    setting. If ``checkpoint_dir`` holds a checkpoint of the same configs (``steps`` may differ),
    training resumes from it and sees the same data as an unbroken run; the result carries the whole
    history (losses and evaluations before the resume come from the checkpoint). A finished folder
    trains nothing and returns its history.

    Args:
        model_config: the model to build (its ``vocab_size`` must be the world's).
        world: the world.
        config: the :class:`TrainConfig`.
        checkpoint_dir: where to write checkpoints (none if ``None``).
        checkpoint_every: also checkpoint every this many steps (0: only at the end).
        progress: ``True`` for a progress bar, or a :class:`attnflow.progress.Progress` to report to
            (the step and the last loss).
        model_samples: model paths per evaluation for the reverse whole-path KL (0 to skip).

    Returns:
        A :class:`TrainResult`.

    Raises:
        ValueError: vocabularies disagree, the paths do not fit the model, or a checkpoint in
            ``checkpoint_dir`` was made with other configs.
    """
    if model_config.vocab_size != world.vocab_size:
        raise ValueError(f"model vocab_size {model_config.vocab_size} != world vocab_size {world.vocab_size}")
    if config.seq_len > model_config.max_len:
        raise ValueError(f"seq_len {config.seq_len} exceeds the model's max_len {model_config.max_len}")
    positive_int("checkpoint_every", checkpoint_every, minimum=0)
    model = build_model(model_config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    start = 0
    earlier_losses, earlier_evaluations = np.zeros(0), []
    if checkpoint_dir is not None and (Path(checkpoint_dir) / CHECKPOINT_NAME).exists():
        saved, saved_model_config, saved_config, start, optimizer_state = load_checkpoint(checkpoint_dir)
        # A run may be extended to more steps; everything else must match.
        if saved_model_config != model_config or replace(saved_config, steps=config.steps) != config:
            raise ValueError(
                f"the checkpoint in {checkpoint_dir} was made with other configs; use a new directory"
            )
        model.load_state_dict(saved.state_dict())
        if optimizer_state is not None:
            optimizer.load_state_dict(optimizer_state)
        earlier_losses, earlier_evaluations = load_history(checkpoint_dir)

    data_seed, _, sampling_seed = _streams(config)
    # Child s of the data seed draws step s's batch: independent of how many steps the run has.
    step_seeds = spawn(data_seed, config.steps)
    held_out = eval_paths(world, config)
    held_out_law = world.next_token_law(held_out)
    result = TrainResult(model, model_config, config, np.full(config.steps, np.nan))
    kept = min(len(earlier_losses), start, config.steps)
    result.losses[:kept] = earlier_losses[:kept]
    result.evaluations = [e for e in earlier_evaluations if e.step <= min(start, config.steps)]

    def record(step: int) -> None:
        result.evaluations.append(
            evaluate(model, world, held_out, held_out_law, step, model_samples, seed=sampling_seed)
        )

    if start == 0 and config.eval_every:
        record(0)
    model.train()
    with _progress.task(progress, "training", total=config.steps, unit="steps") as reporter:
        reporter.update(start)
        for step in range(start, config.steps):
            batch = world.sample(config.batch_size, config.seq_len, step_seeds[step])
            targets = torch.as_tensor(batch)
            log_q = next_token_log_probs(model, targets, world.vocab_size)
            loss = nn.functional.nll_loss(log_q.reshape(-1, world.vocab_size), targets.reshape(-1))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            for group in optimizer.param_groups:
                group["lr"] = config.lr * min(1.0, (step + 1) / (config.warmup + 1))
            optimizer.step()
            result.losses[step] = loss.item()
            done = step + 1
            if config.eval_every and done % config.eval_every == 0 and done != config.steps:
                record(done)
            if checkpoint_dir is not None and checkpoint_every and done % checkpoint_every == 0:
                save_checkpoint(
                    checkpoint_dir,
                    model,
                    model_config,
                    config,
                    done,
                    optimizer,
                    result.losses[:done],
                    result.evaluations,
                )
            reporter.update(done, loss=f"{result.losses[step]:.3f}")
    if start < config.steps or not result.evaluations:
        record(config.steps)
    if checkpoint_dir is not None:
        save_checkpoint(
            checkpoint_dir,
            model,
            model_config,
            config,
            config.steps,
            optimizer,
            result.losses,
            result.evaluations,
        )
    model.eval()
    return result


@dataclass(eq=False)
class ContextUse:
    """How much of the context's value a model uses, against exact and fixed baselines (nats/token).

    Attributes:
        model_loss: the model's cross-entropy at each position ``(L,)``.
        bayes_loss: the world's exact law (for the in-context world: the Bayes in-context predictor).
        fixed_loss: the best fixed first-order chain, fitted to independent world paths (context-free
            beyond the last token).
        unigram_loss: the fitted unigram (no context at all).
        late_from: first position of the "late context" averages below.
        gain: fixed-chain loss minus model loss, averaged over late positions (> 0: the model uses the
            context beyond a fixed chain).
        gain_stderr: standard error of ``gain`` over paths.
        headroom: fixed-chain loss minus Bayes loss over late positions (the most any predictor can gain).
        captured: ``gain / headroom`` (``nan`` without headroom).
    """

    model_loss: np.ndarray
    bayes_loss: np.ndarray
    fixed_loss: np.ndarray
    unigram_loss: np.ndarray
    late_from: int
    gain: float
    gain_stderr: float
    headroom: float
    captured: float


def context_use(
    model: nn.Module,
    world: World,
    paths: np.ndarray,
    reference_paths: np.ndarray,
    late_from: int | None = None,
) -> ContextUse:
    """Compare a model's per-position loss with the exact law, the best fixed chain and the unigram.

    Args:
        model: a trained model.
        world: its world (typically :class:`~attnflow.paths.worlds.InContextMarkov`).
        paths: held-out world paths ``(n, L)`` to score on.
        reference_paths: independent world paths to fit the fixed chain and the unigram to.
        late_from: first position averaged for ``gain`` and ``headroom`` (default ``L // 2``).

    Returns:
        A :class:`ContextUse`.
    """
    from attnflow.paths.worlds import MarkovChain

    paths = np.asarray(paths, dtype=np.int64)
    length = paths.shape[1]
    late_from = length // 2 if late_from is None else positive_int("late_from", late_from, minimum=0)
    if late_from >= length:
        raise ValueError(f"late_from must be < the path length {length}, got {late_from}")

    def token_loss(law: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return -np.log(_picked(law, paths))

    fixed = token_loss(MarkovChain.fit(reference_paths, world.vocab_size, order=1).next_token_law(paths))
    unigram = token_loss(MarkovChain.fit(reference_paths, world.vocab_size, order=0).next_token_law(paths))
    bayes = token_loss(world.next_token_law(paths))
    learned = -_picked(model_log_law(model, paths, world.vocab_size), paths)
    per_path = (fixed - learned)[:, late_from:].mean(axis=1)
    headroom = float((fixed - bayes)[:, late_from:].mean())
    gain = float(per_path.mean())
    return ContextUse(
        model_loss=learned.mean(axis=0),
        bayes_loss=bayes.mean(axis=0),
        fixed_loss=fixed.mean(axis=0),
        unigram_loss=unigram.mean(axis=0),
        late_from=late_from,
        gain=gain,
        gain_stderr=_stderr(per_path),
        headroom=headroom,
        captured=gain / headroom if headroom > 0 else float("nan"),
    )
