import pytest
import torch

from attnflow import Trajectory


def _on_circle(angles: torch.Tensor) -> torch.Tensor:
    return torch.stack([angles.cos(), angles.sin()], dim=-1)


@pytest.fixture
def circle_traj() -> Trajectory:
    """Six tokens on the circle drifting toward angle 0, at three times."""
    start = torch.linspace(-2.5, 2.5, 6, dtype=torch.float64)
    x = torch.stack([_on_circle(start * s) for s in (1.0, 0.5, 0.1)])
    return Trajectory(times=[0.0, 1.0, 2.0], x=x, params={"beta": 2.0})


@pytest.fixture
def sphere_traj() -> Trajectory:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 8, 3, generator=g, dtype=torch.float64)
    return Trajectory(times=[0.0, 1.0, 2.0, 3.0], x=x / x.norm(dim=-1, keepdim=True), params={"beta": 1.0})
