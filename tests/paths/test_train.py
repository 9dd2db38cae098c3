"""Training and evaluation: models learn every world, KL bookkeeping, checkpoints, bad configs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import entropy

from attnflow.paths import (
    WORLDS,
    MarkovChain,
    ModelConfig,
    TrainConfig,
    build_model,
    context_use,
    evaluate,
    load_checkpoint,
    make_world,
    next_token_log_probs,
    position_loss,
    sample_from_model,
    train,
)
from attnflow.paths.train import eval_paths
from attnflow.random import SEED_POLICY, spawn

SMALL = {"d_model": 16, "n_layers": 1, "max_len": 16}


@pytest.mark.parametrize("name", WORLDS)
def test_trained_model_beats_unigram_and_kl_falls(name: str) -> None:
    world = make_world(name, vocab_size=6, seed=0)
    config = TrainConfig(steps=200, batch_size=16, seq_len=16, lr=1e-2, eval_every=100, eval_paths=96)
    result = train(ModelConfig(6, "attention", **SMALL), world, config)
    held_out = eval_paths(world, config)
    unigram = MarkovChain.fit(world.sample(2000, 16, seed=11), 6, order=0)
    unigram_loss = position_loss(unigram.next_token_law(held_out), held_out).mean()
    first, last = result.evaluations[0], result.evaluations[-1]
    assert [e.step for e in result.evaluations] == [0, 100, 200]
    exact_loss = position_loss(world.next_token_law(held_out), held_out).mean()
    assert unigram_loss - exact_loss > 0.1  # the world has structure beyond token frequencies
    assert last.loss < unigram_loss - 0.5 * (unigram_loss - exact_loss)
    assert last.kl_next < 0.5 * first.kl_next
    assert last.loss >= last.world_entropy - 0.1  # nothing beats the exact law by more than noise


def test_evaluation_bookkeeping() -> None:
    """Per-token KL equals scipy's; per-position KLs add up to the whole-path KL within noise."""
    world = make_world("hmm", vocab_size=4, seed=2)
    model = build_model(ModelConfig(4, "conv", d_model=16, n_layers=1, max_len=8))
    paths = world.sample(3000, 8, seed=1)
    result = evaluate(model, world, paths)
    law = world.next_token_law(paths)
    q = next_token_log_probs(model, torch.as_tensor(paths), 4).exp().detach().double().numpy()
    assert result.kl_next == pytest.approx(entropy(law, q, axis=-1).mean(), rel=1e-5)
    assert result.kl_by_position.sum() == pytest.approx(result.kl_path, abs=4 * result.kl_path_stderr)
    assert result.world_entropy == pytest.approx(entropy(law, axis=-1).mean(), rel=1e-10)


def test_model_samples_carry_their_exact_log_probs() -> None:
    model = build_model(ModelConfig(5, "attention", **SMALL))
    paths, log_prob = sample_from_model(model, 6, 10, 5, seed=3)
    log_q = next_token_log_probs(model, torch.as_tensor(paths), 5).detach().double()
    expected = log_q.gather(-1, torch.as_tensor(paths)[..., None])[..., 0].sum(-1)
    np.testing.assert_allclose(log_prob, expected.numpy(), rtol=1e-5)
    again, _ = sample_from_model(model, 6, 10, 5, seed=3)
    np.testing.assert_array_equal(paths, again)


def test_checkpoint_resume_matches_an_unbroken_run(tmp_path) -> None:
    world = make_world("markov", vocab_size=4, seed=1)
    model_config = ModelConfig(4, "ssm", **SMALL)
    config = TrainConfig(steps=6, batch_size=4, seq_len=8, warmup=2, eval_every=0, eval_paths=8)
    unbroken = train(model_config, world, config)
    train(model_config, world, TrainConfig(**{**config.__dict__, "steps": 3}), checkpoint_dir=tmp_path)
    resumed = train(model_config, world, config, checkpoint_dir=tmp_path)
    for a, b in zip(unbroken.model.state_dict().values(), resumed.model.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b)
    loaded, loaded_config, _, step, _ = load_checkpoint(tmp_path)
    assert step == 6 and loaded_config == model_config
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=True)["seed_policy"] == SEED_POLICY
    ids = torch.randint(0, 5, (2, 8))
    torch.testing.assert_close(loaded(ids).logits, resumed.model(ids).logits)
    with pytest.raises(ValueError, match="other configs"):
        train(ModelConfig(4, "conv", **SMALL), world, config, checkpoint_dir=tmp_path)


def test_training_is_reproducible() -> None:
    world = make_world("pcfg", vocab_size=4, seed=1)
    config = TrainConfig(steps=4, batch_size=4, seq_len=8, eval_every=0, eval_paths=8)
    a = train(ModelConfig(4, "linear-attention", **SMALL), world, config)
    b = train(ModelConfig(4, "linear-attention", **SMALL), world, config)
    np.testing.assert_array_equal(a.losses, b.losses)


def test_data_held_out_paths_and_model_samples_are_the_seeds_children() -> None:
    """Step s trains on child s of the first child; held-out paths come from the second, samples the third."""
    world = make_world("markov", vocab_size=4, seed=1)
    config = TrainConfig(steps=2, batch_size=4, seq_len=8, eval_every=0, eval_paths=8, seed=5)
    data, held_out, sampling = spawn(5, 3)
    np.testing.assert_array_equal(eval_paths(world, config), world.sample(8, 8, seed=held_out))
    model_config = ModelConfig(4, "conv", **SMALL)
    model = build_model(model_config)
    batch = torch.as_tensor(world.sample(4, 8, seed=spawn(data, 2)[0]))
    first_loss = -next_token_log_probs(model, batch, 4).gather(-1, batch[..., None]).mean()
    result = train(model_config, world, config, model_samples=3)
    assert result.losses[0] == pytest.approx(first_loss.item(), rel=1e-6)
    expected = evaluate(result.model, world, eval_paths(world, config), model_samples=3, seed=sampling)
    assert result.evaluations[-1].reverse_kl_path == expected.reverse_kl_path


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: TrainConfig(steps=0), "steps"),
        (lambda: TrainConfig(lr=-1.0), "lr"),
        (lambda: TrainConfig(weight_decay=float("nan")), "weight_decay"),
        (lambda: train(ModelConfig(5), make_world("hmm", vocab_size=4), TrainConfig(steps=1)), "vocab_size"),
        (
            lambda: train(ModelConfig(4, max_len=8), make_world("hmm", vocab_size=4), TrainConfig(seq_len=9)),
            "max_len",
        ),
    ],
)
def test_bad_configs_error_clearly(build, message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        build()


def test_context_use_headroom_exists_only_where_context_matters() -> None:
    """The Bayes predictor beats the best fixed chain late in in-context paths, but not on a Markov chain."""
    model = build_model(ModelConfig(4, "conv", **SMALL))
    for name, has_headroom in (("in-context", True), ("markov", False)):
        world = make_world(name, vocab_size=4, seed=3, concentration=1.0)
        paths = world.sample(400, 16, seed=1)
        use = context_use(model, world, paths, world.sample(2000, 16, seed=2))
        np.testing.assert_allclose(use.bayes_loss, position_loss(world.next_token_law(paths), paths))
        late = slice(use.late_from, None)
        assert use.gain == pytest.approx(use.fixed_loss[late].mean() - use.model_loss[late].mean())
        assert (use.headroom > 0.1) if has_headroom else (abs(use.headroom) < 0.02)


class _Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def start(self, description: str, total: float, unit: str = "") -> None:
        self.calls.append(("start", description, total))

    def update(self, completed: float, **fields: object) -> None:
        self.calls.append(("update", completed, sorted(fields)))

    def finish(self) -> None:
        self.calls.append(("finish",))


def test_progress_does_not_change_results_and_reports_every_step() -> None:
    world = make_world("markov", vocab_size=4, seed=1)
    config = TrainConfig(steps=3, batch_size=4, seq_len=8, eval_every=0, eval_paths=8)
    quiet = train(ModelConfig(4, "conv", **SMALL), world, config)
    shown = train(ModelConfig(4, "conv", **SMALL), world, config, progress=True)
    np.testing.assert_array_equal(quiet.losses, shown.losses)
    recorder = _Recorder()
    train(ModelConfig(4, "conv", **SMALL), world, config, progress=recorder)
    assert recorder.calls[0] == ("start", "training", 3) and recorder.calls[-1] == ("finish",)
    assert [c[1] for c in recorder.calls[1:-1]] == [0, 1, 2, 3]
    assert recorder.calls[-2][2] == ["loss"]
