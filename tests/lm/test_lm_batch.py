"""Batches: one padded forward pass, one Recording per sequence, equal to each sequence run alone."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from attnflow import Trajectory
from attnflow.lm import as_language_model, record, trace

FAMILIES = ("gpt2", "llama", "gpt_neox", "gemma2", "bert")


@pytest.mark.parametrize("family", FAMILIES)
def test_a_padded_batch_equals_each_sequence_alone(tiny_models, ids, family):
    lm = as_language_model(tiny_models[family])
    rows = [ids.tolist(), ids[:4].tolist(), ids[3:10].tolist()]
    batch = record(lm, rows, sublayers=True, patterns=True, heads=True)
    assert isinstance(batch, tuple) and len(batch) == 3
    for row, rec in zip(rows, batch, strict=True):
        alone = record(lm, row, sublayers=True, patterns=True, heads=True)
        assert rec.ids.tolist() == row and rec.labels == alone.labels
        for name in ("residual", "final", "attention", "mlp", "post_attention", "logits", "patterns"):
            got, want = getattr(rec, name), getattr(alone, name)
            assert (got is None) == (want is None), name
            if want is not None:
                torch.testing.assert_close(got, want, atol=2e-5, rtol=1e-5, msg=name)
        torch.testing.assert_close(rec.head_outputs, alone.head_outputs, atol=2e-5, rtol=1e-5)
        assert (rec.norm_placement, rec.parallel) == (alone.norm_placement, alone.parallel)


def test_a_2d_tensor_is_a_batch_never_one_flattened_sequence(tiny_models, ids):
    model = tiny_models["llama"]
    pair = torch.stack([ids, ids.flip(0)])
    trajectories = trace(model, pair)
    assert isinstance(trajectories, tuple) and len(trajectories) == 2
    assert all(isinstance(t, Trajectory) and t.x.shape[1] == len(ids) for t in trajectories)
    torch.testing.assert_close(trajectories[1].x, trace(model, ids.flip(0)).x, atol=1e-5, rtol=1e-5)
    (single,) = record(model, ids[None].numpy())
    assert single.n_tokens == len(ids)


def test_a_batch_of_64_prompts_is_one_forward_pass(tiny_text_model, forward_passes):
    prompts = [f"prompt number {i} says " + "word " * (i % 7) for i in range(64)]
    with forward_passes() as counter:
        trajectories = trace(tiny_text_model, prompts)
    assert counter["passes"] == 1 and len(trajectories) == 64
    lengths = {t.x.shape[1] for t in trajectories}
    assert len(lengths) > 1  # padding was needed and cut away
    alone = trace(tiny_text_model, prompts[5])
    torch.testing.assert_close(trajectories[5].x, alone.x, atol=1e-5, rtol=1e-5)


def test_bad_batches_name_the_row(tiny_models, ids):
    lm = as_language_model(tiny_models["gpt2"])
    with pytest.raises(ValueError, match="at least one sequence"):
        lm.encode_batch([])
    with pytest.raises(ValueError, match=r"text_or_ids\[1\] must hold at least one token"):
        record(lm, [ids.tolist(), []])
    with pytest.raises(TypeError, match=r"text_or_ids\[0\] must hold integer token ids"):
        record(lm, np.array([[1.0, 2.0], [3.0, 4.0]]))
    with pytest.raises(ValueError, match="this analysis reads one sequence"):
        from attnflow.lm import decompose

        decompose(lm, [ids.tolist(), ids.tolist()])
