"""Pairwise measurements computed in row blocks of the Gram matrix equal the one-block result."""

import numpy as np
import torch

from attnflow import Trajectory
from attnflow.measure import (
    attention_entropy,
    cosine_histogram,
    energy,
    energy_staircase,
    fraction_close_pairs,
    min_inner_product,
)


def test_blocked_measurements_match_a_single_block(monkeypatch):
    import attnflow.measure._common as common

    x = torch.randn(2, 9, 3, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    x = x / x.norm(dim=-1, keepdim=True)
    x[1, 1] = x[1, 0]  # one close pair, so the fraction is not zero
    traj = Trajectory(times=[0.0, 1.0], x=x)
    measures = {
        "energy": lambda: energy(traj, 3.0).values,
        "staircase": lambda: energy_staircase(traj, 3.0).values,
        "close": lambda: fraction_close_pairs(traj, 1e-3).values,
        "min": lambda: min_inner_product(traj).values,
        "histogram": lambda: cosine_histogram(traj, bins=7).values,
        "entropy": lambda: attention_entropy(traj, 2.0).values,
        "causal entropy": lambda: attention_entropy(traj, 2.0, causal=True).values,
    }
    whole = {name: f() for name, f in measures.items()}
    assert whole["close"][1] > 0
    monkeypatch.setattr(common, "_BLOCK_ENTRIES", 18)  # two query rows per block of nine tokens
    for name, f in measures.items():
        np.testing.assert_allclose(f(), whole[name], rtol=1e-12, atol=1e-15, err_msg=name)
