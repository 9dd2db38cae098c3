"""Random weight ensembles: the draws' structure and moments, the seed policy, resampling per layer."""

import math

import numpy as np
import pytest
import torch

from attnflow import Simulation
from attnflow.dynamics.ensembles import ResampledWeights, draw_weights, layer_seed
from attnflow.random import spawn, torch_generator


def test_random_keeps_the_historical_draws():
    # Before the ensembles, weights="random" drew Q, K, V as randn(heads, d, d)/√d from the seed's generator.
    generator = torch_generator(7)
    expected = [
        torch.randn(2, 5, 5, generator=generator, dtype=torch.float64) / math.sqrt(5) for _ in range(3)
    ]
    for got, want in zip(draw_weights("random", "ensemble", 2, 5, 7), expected, strict=True):
        torch.testing.assert_close(got, want)


@pytest.mark.parametrize("ensemble", ["goe", "wigner"])
def test_symmetric_ensembles_and_their_variance(ensemble):
    d = 200
    q, k, v = draw_weights(ensemble, "ensemble", 1, d, 3)
    for w in (q, k, v):
        torch.testing.assert_close(w, w.transpose(-1, -2))
    off = q[0][~torch.eye(d, dtype=torch.bool)].numpy()
    # Off-diagonal variance 1/d; with d(d−1) ≈ 4e4 entries its relative standard error is ~1%.
    assert off.var() * d == pytest.approx(1.0, rel=0.05)
    if ensemble == "wigner":
        np.testing.assert_allclose(np.abs(q.numpy()) * math.sqrt(d), 1.0)
    else:
        assert torch.diagonal(q[0]).var().item() * d == pytest.approx(2.0, rel=0.3)


@pytest.mark.parametrize(("value", "sign"), [("qk", 1.0), ("-qk", -1.0)])
def test_value_as_plus_minus_qt_k(value, sign):
    q, k, v = draw_weights("random", value, 3, 4, 1)
    torch.testing.assert_close(v, sign * q.transpose(-1, -2) @ k)
    assert draw_weights("random", "identity", 3, 4, 1)[2] is None
    assert draw_weights("identity", "ensemble", 1, 4, 1) == (None, None, None)


def test_layer_seed_is_the_spawned_child():
    root = spawn(5, 1)[0]
    for seed in (5, root):
        children = spawn(seed, 4)
        for k in range(4):
            assert layer_seed(seed, k).generate_state(4).tolist() == children[k].generate_state(4).tolist()


def test_resampled_weights_change_per_layer_only():
    layers = ResampledWeights("goe", "-qk", 1, 3, 0, 0.5, torch.float64, "cpu")
    q0, q_mid, q1 = layers.Q(0.0), layers.Q(0.49), layers.Q(0.5)
    torch.testing.assert_close(q0, q_mid)
    assert not torch.equal(q0, q1)
    torch.testing.assert_close(layers.V(0.7), -layers.Q(0.7).transpose(-1, -2) @ layers.K(0.7))
    # Layer k is a function of (seed, k) alone.
    torch.testing.assert_close(draw_weights("goe", "-qk", 1, 3, layer_seed(0, 1))[0], q1)


def test_spec_with_resampled_ensemble_runs_and_checks_options():
    spec = Simulation.from_flat(
        {
            "n": 5,
            "d": 4,
            "weights": "wigner",
            "value": "qk",
            "resample": 0.2,
            "method": "euler",
            "dt": 0.2,
            "t_end": 1.0,
            "dtype": "float64",
        }
    )
    traj = spec.run()
    assert traj.params["Q"] == "function of t"
    with pytest.raises(ValueError, match="resample"):
        Simulation.from_flat({"resample": -1.0})
    with pytest.raises(ValueError, match="value"):
        Simulation.from_flat({"value": "orthogonal"})
