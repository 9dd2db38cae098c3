import numpy as np
import pytest
import torch
from PIL import Image

from attnflow import Trajectory
from attnflow.viz import animate_cloud, plot_cloud, plot_trajectories


def _panels(fig):
    """The cloud panels (the last axes is the colour bar of the tokens' starting positions)."""
    *panels, bar = fig.get_axes()
    assert bar.get_label() == "<colorbar>" and "start" in bar.get_ylabel()
    return panels


def test_circle_panels_one_per_requested_time_and_saved(circle_traj, tmp_path):
    fig = plot_cloud(circle_traj, times=[0.0, 2.0], path=tmp_path / "c.png")
    axes = _panels(fig)
    assert [ax.get_title() for ax in axes] == ["t = 0", "t = 2"]
    offsets = axes[1].collections[0].get_offsets()
    np.testing.assert_allclose(offsets, circle_traj.x[2].numpy())
    with Image.open(tmp_path / "c.png") as image:
        assert image.size[0] > 300


def test_sphere_is_drawn_in_3d(sphere_traj):
    fig = plot_cloud(sphere_traj)
    assert len(_panels(fig)) == 4  # default: four states, ends included
    assert all(hasattr(ax, "get_zlabel") for ax in _panels(fig))
    assert _panels(fig)[-1].get_title() == "t = 3"


def pairwise(points: np.ndarray) -> np.ndarray:
    return np.linalg.norm(points[:, None] - points[None], axis=-1)


def test_pca_projection_keeps_distances_of_a_planar_cloud():
    # Tokens in the plane spanned by e3, e4 of R^5: projecting on the top two principal axes is an isometry.
    g = torch.Generator().manual_seed(1)
    plane = torch.randn(2, 7, 2, generator=g, dtype=torch.float64)
    x = torch.zeros(2, 7, 5, dtype=torch.float64)
    x[..., 2:4] = plane
    fig = plot_cloud(Trajectory(times=[0.0, 1.0], x=x))
    shown = np.asarray(fig.get_axes()[1].collections[0].get_offsets())
    original = plane[1].numpy()
    np.testing.assert_allclose(pairwise(shown), pairwise(original), atol=1e-10)
    assert fig.get_axes()[0].get_xlabel() == "PC 1"


def test_gif_has_the_requested_frames(circle_traj, tmp_path):
    path = animate_cloud(circle_traj, tmp_path / "run.gif", frames=3, fps=5)
    with Image.open(path) as gif:
        assert gif.format == "GIF" and gif.n_frames == 3
    with pytest.raises(ValueError, match=r"\.gif"):
        animate_cloud(circle_traj, tmp_path / "run.png")


def test_trajectories_on_the_circle_are_unwrapped_angles(circle_traj):
    fig = plot_trajectories(circle_traj)
    lines = fig.get_axes()[0].get_lines()
    assert len(lines) == circle_traj.n_tokens
    np.testing.assert_allclose(lines[0].get_ydata(), [-2.5, -1.25, -0.25])


def test_requested_times_map_to_distinct_saved_states(circle_traj):
    # 0.2 and 0.4 are both nearest to t = 0: the state is drawn once.
    fig = plot_cloud(circle_traj, times=[0.4, 0.2, 2.0])
    assert [ax.get_title() for ax in _panels(fig)] == ["t = 0", "t = 2"]
