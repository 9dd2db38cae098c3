"""Sliding-window masks against a direct float64 computation with the n×n mask formed."""

import numpy as np
import pytest
import torch

from attnflow import SelfAttention, Simulation, init
from attnflow.dynamics import attention


def direct(x, beta, variant, window, causal=False, alibi=0.0, geometry="sphere"):
    """ẋ_i = P(Σ_j A_ij x_j) with A formed in NumPy float64 (V = I), masked to the band |i − j| ≤ window."""
    x = x.double().numpy()
    n = x.shape[0]
    i, j = np.indices((n, n))
    scores = beta * x @ x.T - alibi * np.abs(i - j)
    hidden = (np.abs(i - j) > window) | ((j > i) if causal else False)
    if variant == "hardmax":
        scores = np.where(hidden, -np.inf, scores)
        weights = (scores >= scores.max(1, keepdims=True) - 1e-12).astype(float)
        weights /= weights.sum(1, keepdims=True)
    else:
        kernel = np.where(hidden, 0.0, np.exp(scores))
        weights = kernel / (kernel.sum(1, keepdims=True) if variant == "SA" else n)
    out = weights @ x
    if geometry == "sphere":
        out = out - (out * x).sum(1, keepdims=True) * x
    return torch.from_numpy(out)


@pytest.mark.parametrize("variant", ["SA", "USA", "hardmax"])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("window", [1, 3])
def test_window_matches_direct(variant, causal, window):
    x = init.uniform_sphere(11, 3, seed=2, dtype=torch.float64)
    field = SelfAttention(2.5, variant, causal=causal, window=window, alibi=0.2)
    expected = direct(x, 2.5, variant, window, causal=causal, alibi=0.2)
    torch.testing.assert_close(field(0.0, x), expected, rtol=1e-12, atol=1e-12)


def test_window_blocks_meet_only_the_band(monkeypatch):
    """Many small blocks (forced) give the same field as one block, and no block sees all the keys."""
    x = init.uniform_sphere(40, 3, seed=5, dtype=torch.float64)
    expected = direct(x, 1.5, "SA", 2, geometry="euclidean")
    widths = []
    scores = attention._scores

    def recording(q, k, *args, **kwargs):
        widths.append(k.shape[-2])
        return scores(q, k, *args, **kwargs)

    monkeypatch.setattr(attention, "_BAND_MIN_ROWS", 4)
    monkeypatch.setattr(attention, "_scores", recording)
    got = SelfAttention(1.5, geometry="euclidean", window=2)(0.0, x)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)
    assert len(widths) == 8 and max(widths) <= 5 + 2 * 2


def test_window_as_wide_as_the_sequence_is_no_mask():
    x = init.uniform_sphere(9, 4, seed=1, dtype=torch.float64)
    torch.testing.assert_close(SelfAttention(3.0, window=8)(0.0, x), SelfAttention(3.0)(0.0, x))


def test_window_through_the_simulation_spec():
    spec = Simulation.from_flat({"n": 12, "d": 3, "beta": 2.0, "window": 2, "t_end": 0.2, "dt": 0.1})
    assert spec.field.build(3, 0, torch.float64, "cpu").window == 2
    assert spec.to_flat()["window"] == 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"window": -1}, "window must be an integer >= 0"),
        ({"window": 1.5}, "window must be an integer >= 0"),
        ({"window": 2, "variant": "sinkhorn"}, "window is not supported"),
        ({"window": 2, "backend": "fused"}, "without alibi or window"),
    ],
)
def test_bad_window_is_a_clear_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SelfAttention(1.0, **kwargs)
