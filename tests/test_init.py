"""Initial conditions: on the sphere, in their caps, orthogonal, reproducible, validated."""

import math

import numpy as np
import pytest
import torch

from attnflow import Trajectory, init


def test_uniform_sphere_is_unit_reproducible_and_isotropic():
    x = init.uniform_sphere(20000, 3, seed=1, dtype=torch.float64)
    torch.testing.assert_close(x.norm(dim=-1), torch.ones(20000, dtype=torch.float64))
    assert torch.equal(x, init.uniform_sphere(20000, 3, seed=1, dtype=torch.float64))
    # Mean of a uniform law on S² is 0 and E[x xᵀ] = I/3; the sample errors are O(1/sqrt(n)).
    assert x.mean(0).abs().max() < 0.03
    torch.testing.assert_close(x.T @ x / 20000, torch.eye(3, dtype=torch.float64) / 3, atol=0.02, rtol=0)
    assert init.uniform_sphere(5, 4, batch=3).shape == (3, 5, 4)


def test_orthogonal_frames():
    for seed in (None, 3):
        x = init.orthogonal(4, 6, seed=seed, dtype=torch.float64)
        torch.testing.assert_close(x @ x.T, torch.eye(4, dtype=torch.float64))
    with pytest.raises(ValueError, match="d >= n"):
        init.orthogonal(5, 3)


def test_caps_are_within_radius_and_fill_them():
    centers = torch.tensor([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    x = init.caps(centers, radius=0.4, counts=[3000, 10], seed=2, dtype=torch.float64)
    assert x.shape == (3010, 3)
    angles = torch.arccos((x[:3000] @ centers[0].double()).clamp(-1, 1))
    assert angles.max() <= 0.4 + 1e-12
    # Uniform on a cap of S²: P(angle <= r) = (1 - cos r) / (1 - cos R).
    frac = (angles <= 0.2).double().mean().item()
    assert frac == pytest.approx((1 - math.cos(0.2)) / (1 - math.cos(0.4)), abs=0.03)
    assert torch.arccos((x[3000:] @ centers[1].double()).clamp(-1, 1)).max() <= 0.4 + 1e-12


def test_antipodal_pair():
    x = init.antipodal_pair(3, angle_offset=0.1, dtype=torch.float64)
    assert (x[0] @ x[1]).item() == pytest.approx(-math.cos(0.1))


def test_from_tensor_and_file(tmp_path):
    data = np.random.default_rng(0).normal(size=(5, 3))
    np.save(tmp_path / "x.npy", data)
    x = init.from_file(tmp_path / "x.npy", normalize=True)
    torch.testing.assert_close(x.norm(dim=-1), torch.ones(5, dtype=x.dtype))
    torch.save(torch.ones(2, 3), tmp_path / "x.pt")
    assert init.from_file(tmp_path / "x.pt").shape == (2, 3)
    traj = Trajectory(torch.arange(2.0), torch.randn(2, 4, 3))
    traj.save(tmp_path / "t.zarr")
    assert torch.equal(init.from_file(tmp_path / "t.zarr"), traj.final)
    with pytest.raises(ValueError, match="zero row"):
        init.from_tensor(torch.zeros(2, 3), normalize=True)
    with pytest.raises(ValueError, match=r"\.npy"):
        (tmp_path / "x.csv").write_text("1,2")
        init.from_file(tmp_path / "x.csv")


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: init.uniform_sphere(0, 3), "n must be"),
        (lambda: init.uniform_sphere(4, 1), "d must be"),
        (lambda: init.uniform_sphere(4.5, 3), "n must be"),
        (lambda: init.caps([[0.0, 0.0, 1.0]], radius=4.0, counts=3), "radius"),
        (lambda: init.caps([[0.0, 0.0, 1.0]], radius=0.1, counts=[1, 2]), "counts"),
        (lambda: init.from_tensor(torch.full((2, 3), math.nan)), "NaN"),
    ],
)
def test_bad_input(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()
