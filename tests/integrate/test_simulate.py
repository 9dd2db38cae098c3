"""simulate(): saving, retraction, batching, causal invariants, validation."""

import math

import pytest
import torch

from attnflow import SelfAttention, Trajectory, init, simulate
from attnflow.errors import StepLimitError


def test_saved_times_and_final_step():
    x0 = init.uniform_sphere(10, 3, seed=0)
    traj = simulate(SelfAttention(1.0), x0, t_end=1.05, dt=0.1, method="euler", save_every=3)
    assert isinstance(traj, Trajectory)
    torch.testing.assert_close(traj.times, torch.tensor([0.0, 0.3, 0.6, 0.9, 1.05], dtype=torch.float64))
    assert traj.params["variant"] == "SA" and traj.params["method"] == "euler"


def test_euler_step_is_one_residual_layer():
    x0 = init.uniform_sphere(10, 3, seed=0, dtype=torch.float64)
    field = SelfAttention(2.0)
    traj = simulate(field, x0, t_end=0.1, dt=0.1, method="euler")
    layer = x0 + 0.1 * field(0.0, x0)
    torch.testing.assert_close(traj.final, layer / layer.norm(dim=-1, keepdim=True))


def test_float32_stays_on_sphere():
    traj = simulate(SelfAttention(4.0), init.uniform_sphere(64, 3, seed=1), t_end=20.0, dt=0.1)
    assert (traj.x.norm(dim=-1) - 1).abs().max() < 1e-6


def test_batched_runs_equal_single_runs():
    xs = init.uniform_sphere(8, 3, seed=4, batch=3, dtype=torch.float64)
    runs = simulate(SelfAttention(2.0, "USA"), xs, t_end=1.0, dt=0.1)
    assert len(runs) == 3
    for x0, run in zip(xs, runs, strict=True):
        torch.testing.assert_close(run.x, simulate(SelfAttention(2.0, "USA"), x0, t_end=1.0, dt=0.1).x)


def test_causal_first_token_never_moves_and_others_follow():
    x0 = init.uniform_sphere(6, 3, seed=5, dtype=torch.float64)
    traj = simulate(SelfAttention(1.0, causal=True), x0, t_end=40.0, dt=0.1, save_every=50)
    assert torch.equal(traj.x[:, 0], traj.x[:1, 0].expand(traj.n_states, -1))
    assert (traj.final @ x0[0]).min() > 0.999


def test_same_seed_same_numbers():
    a = simulate(SelfAttention(3.0), init.uniform_sphere(16, 3, seed=7), t_end=2.0, dt=0.1)
    b = simulate(SelfAttention(3.0), init.uniform_sphere(16, 3, seed=7), t_end=2.0, dt=0.1)
    assert torch.equal(a.x, b.x)


def test_euclidean_dynamics_are_not_projected():
    x0 = 0.5 * init.uniform_sphere(5, 3, seed=0, dtype=torch.float64)
    field = SelfAttention(0.1, "USA", geometry="euclidean")
    traj = simulate(field, x0, t_end=0.5, dt=0.01, method="euler")
    assert not torch.allclose(traj.final.norm(dim=-1), torch.full((5,), 0.5, dtype=torch.float64))
    torch.testing.assert_close(traj.x[1], x0 + 0.01 * field(0.0, x0), atol=1e-6, rtol=0)


def test_plain_callable_fields_work():
    traj = simulate(lambda t, x: -x, torch.ones(1, 1, dtype=torch.float64), t_end=1.0, dt=0.01, method="rk4")
    assert traj.final.item() == pytest.approx(math.exp(-1), rel=1e-9)


def test_blow_up_is_reported():
    x0 = init.uniform_sphere(4, 3, seed=0) * 3
    with pytest.raises(FloatingPointError, match="t="):
        simulate(lambda t, x: x**3, x0, t_end=10.0, dt=0.5, method="euler")


def test_a_blown_up_run_stops_early_and_names_the_first_bad_time(monkeypatch: pytest.MonkeyPatch):
    from attnflow.integrate import solvers

    monkeypatch.setattr(solvers, "_BLOW_UP_CHECK_SECONDS", 0.0)  # check at every save
    calls = []

    def field(t: float, x: torch.Tensor) -> torch.Tensor:
        calls.append(t)
        return x if t < 1.0 else torch.full_like(x, math.nan)

    x0 = torch.ones(2, 2, dtype=torch.float64)
    with pytest.raises(FloatingPointError, match=r"t=1\.5"):
        simulate(field, x0, t_end=100.0, dt=0.5, method="euler", save_every=3)
    # The NaN appears in step 3 (t = 1.0 → 1.5), saved at t = 1.5 and caught there, not after 200 steps.
    assert len(calls) == 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dt": 0.0}, "dt"),
        ({"dt": -0.1}, "dt"),
        ({"t_end": math.inf}, "t_end"),
        ({"method": "leapfrog"}, "method"),
        ({"save_every": 0}, "save_every"),
        ({"x0": torch.ones(4, 3)}, "unit sphere"),
        ({"x0": torch.full((4, 3), math.nan)}, "NaN"),
        ({"x0": torch.ones(3)}, "shape"),
        ({"x0": torch.ones(4, 1)}, "d >= 2"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, message):
    args = {"x0": init.uniform_sphere(4, 3), "t_end": 1.0, "dt": 0.1} | kwargs
    with pytest.raises((ValueError, TypeError), match=message):
        simulate(SelfAttention(1.0), **args)


def test_max_steps_guard():
    with pytest.raises(StepLimitError, match="max_steps"):
        simulate(SelfAttention(1.0), init.uniform_sphere(4, 3), t_end=1.0, dt=0.01, max_steps=10)


@pytest.mark.parametrize("method", ["euler", "rk4"])
def test_experiment_replicates_equal_their_single_runs(method):
    from attnflow.experiments.clustering import uniform_runs

    params = {"n": 8, "seeds": 3, "seed": 5, "t_end": 1.0, "dt": 0.1}
    runs = uniform_runs(params, 3, 2.0, method=method, dtype="float64")
    for run in runs:
        single = simulate(SelfAttention(2.0), run.x[0], t_end=1.0, dt=0.1, method=method)
        # The same steps on one cloud: only the batched kernels' summation order may differ.
        torch.testing.assert_close(run.x, single.x, rtol=0, atol=1e-13)
