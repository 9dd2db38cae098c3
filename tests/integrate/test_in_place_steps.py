"""The in-place retraction and projection never touch the caller's start or an already saved state."""

import pytest
import torch

import attnflow as af


@pytest.mark.parametrize("method", ["euler", "rk4", "dopri5"])
def test_the_start_and_the_saved_states_are_left_alone(method):
    x0 = af.init.uniform_sphere(16, 3, seed=0, dtype=torch.float64)
    before = x0.clone()
    field = af.SelfAttention(2.0)
    traj = af.simulate(field, x0, t_end=0.5, dt=0.1, method=method)
    assert torch.equal(x0, before)
    # Each saved state is its own step's result: rebuilding the run one saved interval at a time from
    # the previous saved state reproduces it (a state modified after it was saved would not).
    for k in range(1, traj.n_states):
        step = af.simulate(field, traj.x[k - 1], t_end=0.1, dt=0.1, method=method).final
        torch.testing.assert_close(step, traj.x[k], rtol=1e-12, atol=1e-12)
