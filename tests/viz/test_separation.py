"""Single-linkage artefacts stay out of the figures: a dense uniform cloud is not "1 cluster"."""

import numpy as np
import torch

from attnflow import Trajectory
from attnflow.measure import clusters
from attnflow.viz import plot_staircase
from attnflow.viz.series import separated_states


def _circle(angles):
    return torch.stack([torch.cos(angles), torch.sin(angles)], dim=-1)


def test_a_dense_uniform_cloud_is_not_reported_as_clustered():
    n = 400  # neighbours 2π/400 ≈ 0.016 apart, closer than tol = 0.05: single linkage chains them all
    uniform = _circle(torch.linspace(0, 2 * np.pi, n + 1, dtype=torch.float64)[:-1])
    centres = torch.tensor([0.0, 2.0, 4.0], dtype=torch.float64).repeat_interleave(n // 3 + 1)[:n]
    clustered = _circle(centres + 1e-3 * torch.linspace(-1, 1, n, dtype=torch.float64))
    traj = Trajectory(times=[0.0, 1.0], x=torch.stack([uniform, clustered]), params={"beta": 4.0})
    found = clusters(traj, tol=0.05)
    assert found["count"].values.tolist() == [1, 3]  # the raw single-linkage count says "1 cluster" at t = 0
    np.testing.assert_array_equal(separated_states(traj, found["labels"].values, 0.05), [False, True])
    fig = plot_staircase(traj, tol=0.05)
    counts = fig.axes[1].get_lines()[0].get_ydata()
    assert (
        np.isnan(counts[0]) and counts[1] == 3
    )  # the figure shows no count where the cloud is not separated
