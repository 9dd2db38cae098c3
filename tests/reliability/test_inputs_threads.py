"""``paths.train`` gives bitwise the same model on 1 and on 2 torch threads."""

from __future__ import annotations

import torch

from attnflow.paths import ModelConfig, TrainConfig, make_world, train


def _trained(threads: int) -> dict[str, torch.Tensor]:
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        world = make_world("hmm", vocab_size=8, seed=0)
        model = ModelConfig(world.vocab_size, "attention", d_model=32, n_layers=2, n_heads=2, max_len=32)
        config = TrainConfig(steps=3, batch_size=32, seq_len=32, eval_every=0, eval_paths=8)
        result = train(model, world, config)
        assert torch.get_num_threads() == threads  # the caller's setting is restored
        return result.model.state_dict()
    finally:
        torch.set_num_threads(previous)


def test_training_is_bitwise_the_same_on_one_and_two_threads() -> None:
    one, two = _trained(1), _trained(2)
    assert one.keys() == two.keys()
    assert all(torch.equal(one[name], two[name]) for name in one)
