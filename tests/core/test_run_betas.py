"""Simulation.run_betas: one batch over β gives each β's own run (same starts, weights, numbers)."""

import pytest
import torch

from attnflow import Simulation, simulation

BASE = {"n": 12, "d": 3, "t_end": 1.0, "dt": 0.1, "seed": 5, "dtype": "float64"}


@pytest.mark.parametrize(
    ("extra", "replicates"),
    [
        ({}, None),
        ({"method": "euler", "save_every": 3}, 4),
        ({"weights": "random", "variant": "USA", "normalization": "pre"}, 2),
    ],
)
@pytest.mark.parametrize(
    "pass_bytes", [1 << 20, 3 * 12 * 3 * 8, 12 * 3 * 8], ids=["one-pass", "passes-of-3", "one-run-per-pass"]
)
def test_each_beta_of_the_batch_is_its_own_run(extra, replicates, pass_bytes, monkeypatch):
    monkeypatch.setattr(simulation, "_PASS_BYTES", pass_bytes)
    spec = Simulation.from_flat({**BASE, **extra})
    betas = [0.5, 3.0, -1.0]
    batched = spec.run_betas(betas, replicates=replicates)
    for beta, got in zip(betas, batched, strict=True):
        alone = spec.replace(beta=beta).run(replicates=replicates)
        got, alone = (got, alone) if replicates else ([got], [alone])
        assert len(got) == len(alone)
        for a, b in zip(got, alone, strict=True):
            torch.testing.assert_close(a.x, b.x, rtol=1e-12, atol=1e-12)
            assert a.params == b.params


def test_a_rival_batch_with_the_betas_swapped_differs():
    spec = Simulation.from_flat(BASE)
    first = spec.run_betas([4.0, 0.5])[0]
    assert (first.x[-1] - spec.replace(beta=0.5).run().x[-1]).abs().max() > 1e-3


@pytest.mark.parametrize(
    ("extra", "betas", "message"),
    [
        ({}, [], "at least one"),
        ({}, [1.0, float("nan")], "beta"),
        ({"method": "dopri5"}, [1.0], "dopri5"),
        ({"method": "euler", "noise": 0.1}, [1.0], "noisy"),
        # Sinkhorn stops when the slowest run of the batch has converged: the others would change.
        ({"variant": "sinkhorn"}, [1.0], "Sinkhorn"),
    ],
)
def test_run_betas_refuses_what_would_change_the_numbers(extra, betas, message):
    with pytest.raises(ValueError, match=message):
        Simulation.from_flat({**BASE, **extra}).run_betas(betas)


def test_run_betas_names_a_bad_betas():
    with pytest.raises(TypeError, match="betas"):
        Simulation.from_flat(BASE).run_betas(2.0)
