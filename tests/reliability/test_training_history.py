"""``paths train`` keeps its learning curve when it resumes or re-runs a finished folder."""

from __future__ import annotations

import numpy as np

from attnflow.paths import ModelConfig, TrainConfig, load_history, make_world, train

SMALL = {"d_model": 8, "n_layers": 1, "n_heads": 2, "max_len": 8}


def _curve(result) -> list[tuple[int, float]]:
    return [(e.step, e.kl_next) for e in result.evaluations]


def test_a_resumed_run_has_the_unbroken_runs_history(tmp_path) -> None:
    world = make_world("markov", vocab_size=4, seed=1)
    model_config = ModelConfig(4, "ssm", **SMALL)
    config = TrainConfig(steps=6, batch_size=4, seq_len=8, warmup=2, eval_every=3, eval_paths=8)
    unbroken = train(model_config, world, config)

    # A run stopped after its step-3 checkpoint (as a kill after it would), then resumed to step 6.
    train(model_config, world, TrainConfig(**{**config.__dict__, "steps": 3}), checkpoint_dir=tmp_path)
    resumed = train(model_config, world, config, checkpoint_dir=tmp_path)
    assert not np.isnan(resumed.losses).any()
    np.testing.assert_allclose(resumed.losses, unbroken.losses, rtol=1e-5)
    assert [step for step, _ in _curve(resumed)] == [0, 3, 6]
    np.testing.assert_allclose(
        [kl for _, kl in _curve(resumed)], [kl for _, kl in _curve(unbroken)], rtol=1e-4
    )

    # Re-running the finished folder trains nothing and returns the same history.
    again = train(model_config, world, config, checkpoint_dir=tmp_path)
    np.testing.assert_array_equal(again.losses, resumed.losses)
    assert _curve(again) == _curve(resumed)
    losses, evaluations = load_history(tmp_path)
    np.testing.assert_array_equal(losses, resumed.losses)
    assert [e.step for e in evaluations] == [0, 3, 6]
    np.testing.assert_array_equal(evaluations[-1].kl_by_position, resumed.evaluations[-1].kl_by_position)
