"""DensityTrajectory: validation, selection, xarray and atomic Zarr round trips."""

import math

import numpy as np
import pytest
import torch
import xarray as xr

from attnflow.meanfield import DensityTrajectory, angle_grid


def _example(states: int = 4, cells: int = 16) -> DensityTrajectory:
    gen = torch.Generator().manual_seed(1)
    rho = torch.rand(states, cells, generator=gen, dtype=torch.float64)
    rho = rho / (rho.sum(dim=1, keepdim=True) * (2 * math.pi / cells))
    return DensityTrajectory(
        times=torch.linspace(0, 1, states), density=rho, params={"beta": 2.0, "note": "x"}
    )


def test_angle_grid_is_cell_centres() -> None:
    grid = angle_grid(8).numpy()
    np.testing.assert_allclose(grid, (np.arange(8) + 0.5) * np.pi / 4, rtol=0, atol=1e-15)
    assert grid.dtype == np.float64


def test_properties_and_selection() -> None:
    dens = _example()
    assert (dens.n_states, dens.n_cells, len(dens)) == (4, 16, 4)
    assert dens.cell_width == pytest.approx(2 * math.pi / 16)
    np.testing.assert_allclose(dens.mass().values, 1.0, atol=1e-14)
    sub = dens[[0, -1]]
    assert sub.n_states == 2 and torch.equal(sub.final, dens.final)
    assert torch.equal(dens[::2].times, dens.times[::2])
    assert torch.equal(dens.at(0.34), dens.density[1])
    assert "cells=16" in repr(dens)


def test_xarray_round_trip_is_labelled() -> None:
    dens = _example()
    array = dens.to_xarray()
    assert array.dims == ("time", "angle")
    np.testing.assert_allclose(array["angle"].values, angle_grid(16).numpy())
    back = DensityTrajectory.from_xarray(array)
    assert torch.equal(back.density, dens.density) and torch.equal(back.times, dens.times)
    assert back.params == dens.params


def test_from_xarray_rejects_a_non_uniform_grid() -> None:
    array = _example().to_xarray()
    bad = array.assign_coords(angle=array["angle"].values ** 1.01)
    with pytest.raises(ValueError, match="angle"):
        DensityTrajectory.from_xarray(bad)


def test_save_load_round_trip_and_atomic_replace(tmp_path) -> None:
    dens = _example()
    path = dens.save(tmp_path / "rho.zarr")
    back = DensityTrajectory.load(path)
    assert torch.equal(back.density, dens.density) and back.params == dens.params
    # Overwrite: the new store replaces the old one whole and no temporary directories remain.
    DensityTrajectory.load(dens[[0]].save(path))
    assert DensityTrajectory.load(path).n_states == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [".rho.zarr.lock", "rho.zarr"]  # and no temporary


def test_load_rejects_missing_and_foreign_stores(tmp_path) -> None:
    with pytest.raises(FileNotFoundError):
        DensityTrajectory.load(tmp_path / "none.zarr")
    xr.Dataset({"x": ("a", np.zeros(3))}).to_zarr(tmp_path / "other.zarr", consolidated=False)
    with pytest.raises(ValueError, match="not an attnflow store"):
        DensityTrajectory.load(tmp_path / "other.zarr")


@pytest.mark.parametrize(
    ("times", "density", "match"),
    [
        (torch.zeros(2), torch.ones(2, 2), "N ≥ 3"),
        (torch.zeros(3), torch.ones(2, 8), "times has 3"),
        (torch.tensor([0.0, 0.0]), torch.ones(2, 8), "strictly increasing"),
        (torch.zeros(1), torch.ones(8), "shape"),
    ],
)
def test_bad_input_is_named(times, density, match) -> None:
    with pytest.raises(ValueError, match=match):
        DensityTrajectory(times=times, density=density)
