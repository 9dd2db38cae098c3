"""Trajectory: labelled views, Zarr round trips, atomic replacement."""

import pytest
import torch

from attnflow import Trajectory
from attnflow.io import atomic_write_dir


@pytest.fixture
def traj():
    return Trajectory(
        times=torch.tensor([0.0, 0.5, 1.0]),
        x=torch.randn(3, 4, 2, dtype=torch.float64),
        labels=("a", "b", "c", "d"),
        params={"beta": torch.tensor(2.0), "note": "x", "weights": [1, 2]},
    )


def test_xarray_view_is_labelled(traj):
    arr = traj.to_xarray()
    assert arr.dims == ("time", "token", "dim")
    assert list(arr.coords["label"].values) == ["a", "b", "c", "d"]
    assert float(arr.sel(time=0.5)[1, 0]) == traj.x[1, 1, 0].item()
    assert Trajectory.from_xarray(arr).params == {"beta": 2.0, "note": "x", "weights": [1, 2]}


def test_save_load_round_trip(traj, tmp_path):
    path = traj.save(tmp_path / "run.zarr")
    back = Trajectory.load(path)
    assert torch.equal(back.x, traj.x) and torch.equal(back.times, traj.times)
    assert back.labels == traj.labels and back.axis == "time"
    assert back.params == {"beta": 2.0, "note": "x", "weights": [1, 2]}


def test_failed_write_keeps_old_store(traj, tmp_path):
    path = traj.save(tmp_path / "run.zarr")

    def crash(tmp):
        (tmp / "partial").parent.mkdir(parents=True, exist_ok=True)
        (tmp / "partial").write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write_dir(path, crash)
    assert torch.equal(Trajectory.load(path).x, traj.x)
    # Only the store and its lock file (which readers and writers share) remain: no temporary copy.
    assert sorted(p.name for p in tmp_path.iterdir()) == [".run.zarr.lock", "run.zarr"]


def test_overwrite_replaces_whole_store(traj, tmp_path):
    path = tmp_path / "run.zarr"
    traj.save(path)
    smaller = traj[[0]]
    smaller.save(path)
    assert Trajectory.load(path).n_states == 1


def test_selection_and_lookup(traj):
    assert traj[::2].times.tolist() == [0.0, 1.0]
    assert traj[-1].n_states == 1
    assert torch.equal(traj.at(0.6), traj.x[1])
    assert torch.equal(traj.final, traj.x[-1])
    assert (traj.n_states, traj.n_tokens, traj.dim) == (3, 4, 2)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"x": torch.zeros(3, 4)}, r"\(T, n, d\)"),
        ({"times": torch.zeros(2)}, "times has 2"),
        ({"times": torch.tensor([0.0, 0.0, 1.0])}, "increasing"),
        ({"labels": ("a",)}, "labels"),
        ({"axis": "depth"}, "axis"),
    ],
)
def test_bad_construction(kwargs, message):
    args = {"times": torch.arange(3.0), "x": torch.zeros(3, 4, 2)} | kwargs
    with pytest.raises(ValueError, match=message):
        Trajectory(**args)


def test_load_rejects_missing_and_foreign(tmp_path):
    with pytest.raises(FileNotFoundError):
        Trajectory.load(tmp_path / "nothing.zarr")
    import xarray as xr

    xr.Dataset({"y": ("a", [1, 2])}).to_zarr(tmp_path / "other.zarr", consolidated=False)
    with pytest.raises(ValueError, match="not an attnflow"):
        Trajectory.load(tmp_path / "other.zarr")
