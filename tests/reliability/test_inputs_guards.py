"""Inputs that used to give silent wrong results or run out of memory are refused before any work."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import attnflow as af
from attnflow.integrate.solvers import check_budget
from attnflow.paths import HiddenMarkov


@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.bool, "float32"])
def test_init_refuses_a_dtype_that_is_not_floating(dtype: object) -> None:
    with pytest.raises(TypeError, match="dtype must be a floating-point torch dtype"):
        af.init.uniform_sphere(4, 3, dtype=dtype)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_a_low_precision_cloud_made_by_init_is_accepted_by_simulate(dtype: torch.dtype) -> None:
    # d = 3: the norm of a rounded unit vector is furthest from 1 (one of the cases refused before).
    x0 = af.init.uniform_sphere(200, 3, seed=1, dtype=dtype)
    traj = af.simulate(af.SelfAttention(beta=1.0), x0, t_end=0.2, dt=0.1)
    assert traj.x.dtype == dtype


def test_a_cloud_off_the_sphere_is_still_refused_in_low_precision() -> None:
    x0 = af.init.uniform_sphere(8, 3, dtype=torch.bfloat16) * 1.1
    with pytest.raises(ValueError, match="x0 must lie on the unit sphere"):
        af.simulate(af.SelfAttention(beta=1.0), x0, t_end=0.2, dt=0.1)


def test_a_bfloat16_trajectory_saves_and_loads_with_its_dtype(tmp_path: Path) -> None:
    x0 = af.init.uniform_sphere(6, 3, seed=2, dtype=torch.bfloat16)
    traj = af.simulate(af.SelfAttention(beta=1.0), x0, t_end=0.2, dt=0.1)
    traj.save(tmp_path / "bf16.zarr")
    back = af.Trajectory.load(tmp_path / "bf16.zarr")
    assert back.x.dtype == torch.bfloat16
    assert torch.equal(back.x, traj.x)


def test_saved_states_over_the_memory_budget_are_refused_before_work() -> None:
    # t_end = 1e6 at dt = 0.1 keeps 10^7 states (about 14 GB once stacked): refused at once.
    x0 = af.init.uniform_sphere(32, 3)
    with pytest.raises(ValueError, match=r"keeping 10000001 states .* over max_saved_bytes"):
        af.simulate(af.SelfAttention(beta=1.0), x0, t_end=1e6, dt=0.1)
    spec = af.Simulation.from_flat({"n": 32, "d": 3, "t_end": 1e6, "dt": 0.1})
    with pytest.raises(ValueError, match="save_every"):
        spec.run()


def test_work_over_the_budget_is_refused_before_the_start_is_drawn() -> None:
    spec = af.Simulation.from_flat({"n": 10**7, "d": 3, "t_end": 1.0, "dt": 0.1})
    with pytest.raises(ValueError, match=r"n=10000000, d=3, .* over max_work"):
        spec.run()


def test_the_budget_is_the_stated_formula() -> None:
    # rk4: 10 steps x 4 evaluations x 2 runs x 100^2 x 5 = 4e6 multiply-adds, exactly at the bound.
    kwargs = dict(t_end=1.0, dt=0.1, method="rk4", save_every=1, max_saved_bytes=2**40)
    check_budget(100, 5, 2, 4, max_work=4e6, **kwargs)
    with pytest.raises(ValueError, match="max_work"):
        check_budget(100, 5, 2, 4, max_work=4e6 - 1, **kwargs)
    # 11 kept states x (2 x 2 x 100 x 5 x 4 bytes + 512) = 93 632 bytes.
    kwargs = dict(t_end=1.0, dt=0.1, method="euler", save_every=1, max_work=1e30)
    check_budget(100, 5, 2, 4, max_saved_bytes=93_632, **kwargs)
    with pytest.raises(ValueError, match="max_saved_bytes"):
        check_budget(100, 5, 2, 4, max_saved_bytes=93_631, **kwargs)


def test_hidden_markov_log_prob_of_an_impossible_path_is_minus_infinity() -> None:
    transition = np.array([[0.5, 0.5], [0.5, 0.5]])
    emission = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])  # token 2 is never emitted
    world = HiddenMarkov(transition, emission)
    log_prob = world.log_prob(np.array([[0, 2, 1, 0], [0, 1, 1, 0]]))
    assert log_prob[0] == -np.inf
    np.testing.assert_allclose(log_prob[1], 4 * np.log(0.5))


@pytest.mark.parametrize(
    ("name", "content", "pattern"),
    [
        ("garbage.npy", b"this is not an array", r"cannot read a token cloud from .*garbage\.npy"),
        ("garbage.pt", b"not a torch file", r"cannot read a token cloud from .*garbage\.pt"),
        ("empty.npy", b"", r"cannot read a token cloud from .*empty\.npy"),
        ("short.pt", b"junk", r"cannot read a token cloud from .*short\.pt"),
    ],
)
def test_a_garbage_start_file_fails_in_one_line(
    tmp_path: Path, name: str, content: bytes, pattern: str
) -> None:
    (tmp_path / name).write_bytes(content)
    with pytest.raises(ValueError, match=pattern) as err:
        af.init.from_file(tmp_path / name)
    assert "\n" not in str(err.value)
