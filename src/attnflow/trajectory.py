"""The container family every producer returns and every measurement takes.

:class:`Trajectory` holds token clouds over time (a simulation) or over layers (a real network);
:class:`DensityTrajectory` holds the law of infinitely many tokens on the circle (the mean-field
limit). Both share one base (:class:`States`): saved times on one axis, the parameters that made them,
state selection, ``at``, conversion to xarray and atomic, kind-marked storage through :mod:`attnflow.io`.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np
import torch
import xarray as xr

from attnflow.io import StoreFormatError, jsonable, load_dataset, write_dataset

AXES = ("time", "layer")
_Self = TypeVar("_Self", bound="States")


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


@dataclass(frozen=True, eq=False)
class States:
    """Saved states of something that moves, on one increasing axis (the shared base).

    Subclasses name their data tensor (:attr:`DATA`, first dimension = states), the store kind
    (:attr:`KIND`) and how the data becomes a labelled array (:meth:`to_xarray`, :meth:`from_xarray`).
    ``eq=False``: the fields are tensors, whose ``==`` is elementwise; compare the tensors themselves.
    """

    DATA: ClassVar[str]
    KIND: ClassVar[str]

    @property
    def data(self) -> torch.Tensor:
        """The states, first dimension over :attr:`times`."""
        return getattr(self, self.DATA)

    def _check_times(self, times: Any, n_states: int) -> torch.Tensor:
        times = torch.as_tensor(times, dtype=torch.float64).reshape(-1).cpu()
        if times.shape[0] != n_states:
            raise ValueError(f"times has {times.shape[0]} entries but {self.DATA} has {n_states} states")
        if times.numel() > 1 and not bool((times[1:] > times[:-1]).all()):
            raise ValueError("times must be strictly increasing")
        if self.axis not in AXES:
            raise ValueError(f"axis must be one of {AXES}, got {self.axis!r}")
        object.__setattr__(self, "times", times)
        object.__setattr__(self, "params", dict(self.params))
        return times

    @property
    def n_states(self) -> int:
        """Number of saved states ``T``."""
        return self.data.shape[0]

    @property
    def final(self) -> torch.Tensor:
        """The last state."""
        return self.data[-1]

    def __len__(self) -> int:
        return self.n_states

    def __getitem__(self: _Self, index: int | slice | Sequence[int] | torch.Tensor) -> _Self:
        """Select states (not tokens or cells): ``traj[::10]``, ``traj[[0, -1]]``."""
        if isinstance(index, int):
            index = [index]
        idx = torch.arange(self.n_states)[index]
        return replace(self, times=self.times[idx], **{self.DATA: self.data[idx]})

    def at(self, t: float) -> torch.Tensor:
        """The saved state nearest to time (or layer) ``t``."""
        return self.data[int(torch.argmin((self.times - float(t)).abs()))]

    def numpy(self) -> np.ndarray:
        """The states as a NumPy array (bfloat16, which NumPy lacks, as float32: every value exactly)."""
        data = self.data.detach().cpu()
        return (data.float() if data.dtype == torch.bfloat16 else data).numpy()

    def to_xarray(self) -> xr.DataArray:  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    @classmethod
    def from_xarray(cls: type[_Self], array: xr.DataArray) -> _Self:  # pragma: no cover
        raise NotImplementedError

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write to a Zarr store at ``path`` atomically, marked with this class's kind.

        An existing store of the same kind at ``path`` is replaced (readers see the old or the new one
        whole); anything else there is refused.

        Raises:
            attnflow.io.StoreExistsError: ``path`` holds user files, a file or a store of another kind.
        """
        array = self.to_xarray()
        # The torch dtype is stored so that a bfloat16 run (kept as float32 on disk) comes back bfloat16.
        attrs = {
            "axis": self.axis,
            "params": array.attrs["params"],
            "torch_dtype": _dtype_name(self.data.dtype),
        }
        attrs.update({k: v for k, v in array.attrs.items() if k not in ("params", "axis")})
        variable = array.drop_vars([c for c in array.coords if c not in array.dims])
        variable.attrs = {}
        return write_dataset(path, xr.Dataset({self.DATA: variable}, attrs=attrs), self.KIND)

    @classmethod
    def load(cls: type[_Self], path: str | os.PathLike[str]) -> _Self:
        """Read back what :meth:`save` wrote.

        Raises:
            FileNotFoundError: nothing at ``path``.
            StoreFormatError: ``path`` is not a store of this kind.
            attnflow.io.StoreDamagedError: the store is incomplete or a chunk file is missing.
        """
        ds = load_dataset(path, cls.KIND)
        if cls.DATA not in ds:
            raise StoreFormatError(f"{path} has no {cls.DATA!r} variable")
        array = ds[cls.DATA]
        array.attrs = dict(ds.attrs)
        states = cls.from_xarray(array)
        saved = getattr(torch, str(ds.attrs.get("torch_dtype", "")), None)
        if isinstance(saved, torch.dtype) and saved != states.data.dtype:
            states = replace(states, **{cls.DATA: states.data.to(saved)})
        return states


#: Torch dtypes without a NumPy equivalent: stored as float32 (exactly) and restored on load.
_WIDENED_DTYPES = (torch.bfloat16,)


@dataclass(frozen=True, eq=False)
class Trajectory(States):
    """Positions of ``n`` tokens in ``d`` dimensions at ``T`` times or layers.

    Attributes:
        times: shape ``(T,)``, the time (or layer index) of each saved state, increasing.
        x: shape ``(T, n, d)``, the token positions.
        labels: ``n`` token labels (token strings for a real model, indices otherwise).
        axis: ``"time"`` for a simulated flow, ``"layer"`` for a network's layers.
        params: the parameters that produced it (JSON-serialisable; stored with the data).
    """

    DATA: ClassVar[str] = "x"
    KIND: ClassVar[str] = "trajectory"

    times: torch.Tensor
    x: torch.Tensor
    labels: tuple[str, ...] = ()
    axis: str = "time"
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        x = torch.as_tensor(self.x)
        if x.ndim != 3:
            raise ValueError(f"x must have shape (T, n, d), got {tuple(x.shape)}")
        object.__setattr__(self, "x", x)
        self._check_times(self.times, x.shape[0])
        labels = tuple(str(s) for s in self.labels) or tuple(str(i) for i in range(x.shape[1]))
        if len(labels) != x.shape[1]:
            raise ValueError(f"labels has {len(labels)} entries but there are {x.shape[1]} tokens")
        object.__setattr__(self, "labels", labels)

    @property
    def n_tokens(self) -> int:
        """Number of tokens ``n``."""
        return self.x.shape[1]

    @property
    def dim(self) -> int:
        """Ambient dimension ``d``."""
        return self.x.shape[2]

    def to(self, *args: Any, **kwargs: Any) -> Trajectory:
        """Move or cast the positions like ``torch.Tensor.to`` (times stay float64 on the CPU)."""
        return replace(self, x=self.x.to(*args, **kwargs))

    def to_xarray(self) -> xr.DataArray:
        """A labelled ``DataArray`` with dims ``(axis, "token", "dim")``; params go in ``attrs``.

        NumPy (and so Zarr) has no bfloat16: such states are stored as float32, which holds every
        bfloat16 value exactly, with ``attrs["torch_dtype"] = "bfloat16"`` so :meth:`from_xarray`
        restores the dtype.
        """
        attrs = {
            "params": json.dumps(jsonable(self.params)),
            "axis": self.axis,
            "labels": json.dumps(list(self.labels)),
        }
        values = self.x.detach().cpu()
        if values.dtype in _WIDENED_DTYPES:
            attrs["torch_dtype"] = str(values.dtype).removeprefix("torch.")
            values = values.float()
        return xr.DataArray(
            values.numpy(),
            dims=(self.axis, "token", "dim"),
            coords={
                self.axis: self.times.numpy(),
                "token": np.arange(self.n_tokens),
                "label": ("token", np.array(self.labels, dtype=object)),
                "dim": np.arange(self.dim),
            },
            name="x",
            attrs=attrs,
        )

    @classmethod
    def from_xarray(cls, array: xr.DataArray) -> Trajectory:
        """Inverse of :meth:`to_xarray` (labels from the ``label`` coordinate or the ``labels`` attr)."""
        axis = array.attrs.get("axis", array.dims[0])
        params = json.loads(array.attrs.get("params", "{}"))
        if "label" in array.coords:
            labels = tuple(str(s) for s in array.coords["label"].values)
        else:
            labels = tuple(json.loads(array.attrs.get("labels", "[]")))
        x = torch.tensor(np.array(array.values))
        widened = {str(dtype).removeprefix("torch."): dtype for dtype in _WIDENED_DTYPES}
        if array.attrs.get("torch_dtype") in widened:
            x = x.to(widened[array.attrs["torch_dtype"]])
        return cls(
            times=torch.tensor(np.array(array.coords[axis].values, dtype=np.float64)),
            x=x,
            labels=labels,
            axis=axis,
            params=params,
        )

    def __repr__(self) -> str:
        span = f"{self.times[0].item():g}..{self.times[-1].item():g}" if self.n_states else "empty"
        return (
            f"Trajectory({self.axis}s={self.n_states} [{span}], tokens={self.n_tokens}, dim={self.dim}, "
            f"dtype={self.x.dtype}, device={self.x.device})"
        )


def angle_grid(n_cells: int) -> torch.Tensor:
    """The centres ``(j + 1/2)·2π/N`` of the ``N`` cells of the uniform angle grid, float64, ``(N,)``."""
    return (torch.arange(n_cells, dtype=torch.float64) + 0.5) * (2 * math.pi / n_cells)


@dataclass(frozen=True, eq=False)
class DensityTrajectory(States):
    """Densities on the circle at ``T`` times, as cell averages on a uniform grid of ``N`` angles.

    The mean-field limit replaces the ``n`` tokens of a :class:`Trajectory` by their law ``μ_t``. On the
    circle ``S¹`` (``d = 2``) the law is stored as a density ``ρ_t(θ)`` with respect to the angle
    ``θ ∈ [0, 2π)``: ``N`` cell averages on the cells ``[jΔθ, (j+1)Δθ)``, ``Δθ = 2π/N``, so that
    ``Σ_j ρ_j Δθ = 1``.

    Attributes:
        times: shape ``(T,)``, float64, strictly increasing.
        density: shape ``(T, N)``, float64; ``density[k, j]`` is the average of ``ρ_{t_k}`` over cell ``j``
            (a density with respect to the angle, not to ``Δθ``).
        axis: ``"time"``.
        params: the parameters that produced it (JSON-serialisable; stored with the data).
    """

    DATA: ClassVar[str] = "density"
    KIND: ClassVar[str] = "density"

    times: torch.Tensor
    density: torch.Tensor
    axis: str = "time"
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        density = torch.as_tensor(self.density, dtype=torch.float64).cpu()
        if density.ndim != 2 or density.shape[1] < 3:
            raise ValueError(f"density must have shape (T, N) with N ≥ 3 cells, got {tuple(density.shape)}")
        if self.axis != "time":
            raise ValueError(f"axis must be 'time', got {self.axis!r}")
        object.__setattr__(self, "density", density)
        self._check_times(self.times, density.shape[0])

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

    def mass(self) -> xr.DataArray:
        """Total mass ``Σ_j ρ_j Δθ`` at each time (1 for a probability density)."""
        return xr.DataArray(
            (self.density.sum(dim=1) * self.cell_width).numpy(),
            dims=(self.axis,),
            coords={self.axis: self.times.numpy()},
            name="mass",
        )

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

    def __repr__(self) -> str:
        span = f"{self.times[0].item():g}..{self.times[-1].item():g}" if self.n_states else "empty"
        return f"DensityTrajectory(times={self.n_states} [{span}], cells={self.n_cells})"
