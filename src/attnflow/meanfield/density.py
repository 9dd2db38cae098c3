"""DensityTrajectory: a density on a uniform grid of angles of the circle, over time.

The mean-field limit replaces the ``n`` tokens of a :class:`attnflow.Trajectory` by their law ``μ_t``.
On the circle ``S¹`` (``d = 2``) the law is stored as a density ``ρ_t(θ)`` with respect to the angle
``θ ∈ [0, 2π)``: ``N`` cell averages on the cells ``[jΔθ, (j+1)Δθ)``, ``Δθ = 2π/N``, so that
``Σ_j ρ_j Δθ = 1``. It is a separate object from ``Trajectory`` because a density is not a cloud of
``(n, d)`` points; the two share their conventions (``times``, ``axis``, ``params``, ``to_xarray``, atomic
Zarr ``save``/``load``, state selection with ``[...]``).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr

from attnflow._io import atomic_write_zarr, jsonable

FORMAT_KIND = "circle-density"
FORMAT_VERSION = 1


def angle_grid(n_cells: int) -> torch.Tensor:
    """The centres ``(j + 1/2)·2π/N`` of the ``N`` cells of the uniform angle grid, float64.

    Args:
        n_cells: the number of cells ``N``.

    Returns:
        A float64 tensor of shape ``(n_cells,)``.
    """
    return (torch.arange(n_cells, dtype=torch.float64) + 0.5) * (2 * math.pi / n_cells)


@dataclass(frozen=True)
class DensityTrajectory:
    """Densities on the circle at ``T`` times, as cell averages on a uniform grid of ``N`` angles.

    Attributes:
        times: shape ``(T,)``, float64, strictly increasing.
        density: shape ``(T, N)``, float64; ``density[k, j]`` is the average of ``ρ_{t_k}`` over the cell
            ``[jΔθ, (j+1)Δθ)`` with ``Δθ = 2π/N`` (a density with respect to the angle, not to ``Δθ``).
        axis: ``"time"`` (kept for symmetry with :class:`attnflow.Trajectory`).
        params: the parameters that produced it (JSON-serialisable; stored with the data).
    """

    times: torch.Tensor
    density: torch.Tensor
    axis: str = "time"
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        density = torch.as_tensor(self.density, dtype=torch.float64).cpu()
        times = torch.as_tensor(self.times, dtype=torch.float64).reshape(-1).cpu()
        if density.ndim != 2 or density.shape[1] < 3:
            raise ValueError(f"density must have shape (T, N) with N ≥ 3 cells, got {tuple(density.shape)}")
        if times.shape[0] != density.shape[0]:
            raise ValueError(f"times has {times.shape[0]} entries but density has {density.shape[0]} states")
        if times.numel() > 1 and not bool((times[1:] > times[:-1]).all()):
            raise ValueError("times must be strictly increasing")
        if self.axis != "time":
            raise ValueError(f"axis must be 'time', got {self.axis!r}")
        object.__setattr__(self, "density", density)
        object.__setattr__(self, "times", times)
        object.__setattr__(self, "params", dict(self.params))

    @property
    def n_states(self) -> int:
        """Number of saved states ``T``."""
        return self.density.shape[0]

    @property
    def n_cells(self) -> int:
        """Number of grid cells ``N``."""
        return self.density.shape[1]

    @property
    def cell_width(self) -> float:
        """``Δθ = 2π/N``."""
        return 2 * math.pi / self.n_cells

    @property
    def angles(self) -> torch.Tensor:
        """Cell centres, shape ``(N,)``."""
        return angle_grid(self.n_cells)

    @property
    def final(self) -> torch.Tensor:
        """The last density, shape ``(N,)``."""
        return self.density[-1]

    def __len__(self) -> int:
        return self.n_states

    def __getitem__(self, index: int | slice | Sequence[int] | torch.Tensor) -> DensityTrajectory:
        """Select states (not cells): ``dens[::10]``, ``dens[[0, -1]]``."""
        if isinstance(index, int):
            index = [index]
        idx = torch.arange(self.n_states)[index]
        return replace(self, times=self.times[idx], density=self.density[idx])

    def at(self, t: float) -> torch.Tensor:
        """The saved density nearest to time ``t``, shape ``(N,)``."""
        return self.density[int(torch.argmin((self.times - float(t)).abs()))]

    def mass(self) -> xr.DataArray:
        """Total mass ``Σ_j ρ_j Δθ`` at each time (1 for a probability density)."""
        return xr.DataArray(
            (self.density.sum(dim=1) * self.cell_width).numpy(),
            dims=(self.axis,),
            coords={self.axis: self.times.numpy()},
            name="mass",
        )

    def numpy(self) -> np.ndarray:
        """The densities as a NumPy array ``(T, N)``."""
        return self.density.numpy()

    def to_xarray(self) -> xr.DataArray:
        """A labelled ``DataArray`` with dims ``("time", "angle")``; params go in ``attrs``."""
        return xr.DataArray(
            self.numpy(),
            dims=(self.axis, "angle"),
            coords={self.axis: self.times.numpy(), "angle": self.angles.numpy()},
            name="density",
            attrs={"params": json.dumps(jsonable(self.params)), "axis": self.axis, "units": "1/radian"},
        )

    @classmethod
    def from_xarray(cls, array: xr.DataArray) -> DensityTrajectory:
        """Inverse of :meth:`to_xarray`.

        Raises:
            ValueError: the array's ``angle`` coordinate is not the uniform cell-centre grid.
        """
        axis = array.attrs.get("axis", array.dims[0])
        angles = np.asarray(array.coords["angle"].values, dtype=np.float64)
        if not np.allclose(angles, angle_grid(angles.size).numpy(), rtol=0, atol=1e-12):
            raise ValueError("array's angle coordinate must be the uniform grid of cell centres (angle_grid)")
        return cls(
            times=torch.from_numpy(np.array(array.coords[axis].values, dtype=np.float64)),
            density=torch.from_numpy(np.array(array.transpose(axis, "angle").values, dtype=np.float64)),
            axis=axis,
            params=json.loads(array.attrs.get("params", "{}")),
        )

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write to a Zarr store at ``path`` atomically (an existing store is replaced whole).

        Args:
            path: the directory of the store.

        Returns:
            The path written.
        """
        array = self.to_xarray()
        ds = xr.Dataset(
            {"density": array},
            attrs={
                "attnflow_format": FORMAT_VERSION,
                "attnflow_kind": FORMAT_KIND,
                "axis": self.axis,
                "params": array.attrs["params"],
            },
        )
        ds["density"].attrs = {}
        return atomic_write_zarr(path, ds)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> DensityTrajectory:
        """Read a DensityTrajectory written by :meth:`save`.

        Raises:
            FileNotFoundError: nothing at ``path``.
            ValueError: the store is not a circle-density store.
        """
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"no density store at {path}")
        with xr.open_zarr(path, consolidated=False) as ds:
            if ds.attrs.get("attnflow_kind") != FORMAT_KIND or "density" not in ds:
                raise ValueError(f"{path} is not an attnflow circle-density store")
            array = ds["density"].load()
            array.attrs = {"axis": ds.attrs["axis"], "params": ds.attrs["params"]}
            return cls.from_xarray(array)

    def __repr__(self) -> str:
        span = f"{self.times[0].item():g}..{self.times[-1].item():g}" if self.n_states else "empty"
        return f"DensityTrajectory(times={self.n_states} [{span}], cells={self.n_cells})"
