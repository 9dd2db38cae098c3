"""The Trajectory: token clouds over time (or over layers), the one object every measurement takes."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr

from attnflow._io import atomic_write_zarr, jsonable

FORMAT_VERSION = 1
_AXES = ("time", "layer")


@dataclass(frozen=True)
class Trajectory:
    """Positions of ``n`` tokens in ``d`` dimensions at ``T`` times or layers.

    Attributes:
        times: shape ``(T,)``, the time (or layer index) of each saved state, increasing.
        x: shape ``(T, n, d)``, the token positions.
        labels: ``n`` token labels (token strings for a real model, indices otherwise).
        axis: ``"time"`` for a simulated flow, ``"layer"`` for a network's layers.
        params: the parameters that produced it (JSON-serialisable; stored with the data).
    """

    times: torch.Tensor
    x: torch.Tensor
    labels: tuple[str, ...] = ()
    axis: str = "time"
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        x = torch.as_tensor(self.x)
        times = torch.as_tensor(self.times, dtype=torch.float64).reshape(-1).cpu()
        if x.ndim != 3:
            raise ValueError(f"x must have shape (T, n, d), got {tuple(x.shape)}")
        if times.shape[0] != x.shape[0]:
            raise ValueError(f"times has {times.shape[0]} entries but x has {x.shape[0]} states")
        if times.numel() > 1 and not bool((times[1:] > times[:-1]).all()):
            raise ValueError("times must be strictly increasing")
        if self.axis not in _AXES:
            raise ValueError(f"axis must be one of {_AXES}, got {self.axis!r}")
        labels = tuple(str(s) for s in self.labels) or tuple(str(i) for i in range(x.shape[1]))
        if len(labels) != x.shape[1]:
            raise ValueError(f"labels has {len(labels)} entries but there are {x.shape[1]} tokens")
        object.__setattr__(self, "x", x)
        object.__setattr__(self, "times", times)
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "params", dict(self.params))

    @property
    def n_states(self) -> int:
        """Number of saved states ``T``."""
        return self.x.shape[0]

    @property
    def n_tokens(self) -> int:
        """Number of tokens ``n``."""
        return self.x.shape[1]

    @property
    def dim(self) -> int:
        """Ambient dimension ``d``."""
        return self.x.shape[2]

    @property
    def final(self) -> torch.Tensor:
        """The last state, shape ``(n, d)``."""
        return self.x[-1]

    def __len__(self) -> int:
        return self.n_states

    def __getitem__(self, index: int | slice | Sequence[int] | torch.Tensor) -> Trajectory:
        """Select states (not tokens): ``traj[::10]``, ``traj[[0, -1]]``."""
        if isinstance(index, int):
            index = [index]
        idx = torch.arange(self.n_states)[index]
        return replace(self, times=self.times[idx], x=self.x[idx])

    def at(self, t: float) -> torch.Tensor:
        """The saved state nearest to time (or layer) ``t``, shape ``(n, d)``."""
        return self.x[int(torch.argmin((self.times - float(t)).abs()))]

    def to(self, *args: Any, **kwargs: Any) -> Trajectory:
        """Move or cast the positions like ``torch.Tensor.to`` (times stay float64 on the CPU)."""
        return replace(self, x=self.x.to(*args, **kwargs))

    def numpy(self) -> np.ndarray:
        """The positions as a NumPy array ``(T, n, d)``."""
        return self.x.detach().cpu().numpy()

    def to_xarray(self) -> xr.DataArray:
        """A labelled ``DataArray`` with dims ``(axis, "token", "dim")``; params go in ``attrs``."""
        return xr.DataArray(
            self.numpy(),
            dims=(self.axis, "token", "dim"),
            coords={
                self.axis: self.times.numpy(),
                "token": np.arange(self.n_tokens),
                "label": ("token", np.array(self.labels, dtype=object)),
                "dim": np.arange(self.dim),
            },
            name="x",
            attrs={"params": json.dumps(jsonable(self.params)), "axis": self.axis},
        )

    @classmethod
    def from_xarray(cls, array: xr.DataArray) -> Trajectory:
        """Inverse of :meth:`to_xarray`."""
        axis = array.attrs.get("axis", array.dims[0])
        params = json.loads(array.attrs.get("params", "{}"))
        labels = tuple(str(s) for s in array.coords["label"].values) if "label" in array.coords else ()
        return cls(
            times=torch.tensor(np.array(array.coords[axis].values, dtype=np.float64)),
            x=torch.tensor(np.array(array.values)),
            labels=labels,
            axis=axis,
            params=params,
        )

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write to a Zarr store at ``path`` atomically (an existing store is replaced whole)."""
        array = self.to_xarray()
        ds = xr.Dataset(
            {"x": array.drop_vars("label")},
            attrs={
                "attnflow_format": FORMAT_VERSION,
                "axis": self.axis,
                "params": array.attrs["params"],
                "labels": json.dumps(list(self.labels)),
            },
        )
        ds["x"].attrs = {}
        return atomic_write_zarr(path, ds)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Trajectory:
        """Read a Trajectory written by :meth:`save`."""
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"no trajectory store at {path}")
        with xr.open_zarr(path, consolidated=False) as ds:
            if "attnflow_format" not in ds.attrs or "x" not in ds:
                raise ValueError(f"{path} is not an attnflow Trajectory store")
            axis = ds.attrs["axis"]
            return cls(
                times=torch.tensor(np.array(ds[axis].values, dtype=np.float64)),
                x=torch.tensor(np.array(ds["x"].values)),
                labels=tuple(json.loads(ds.attrs["labels"])),
                axis=axis,
                params=json.loads(ds.attrs["params"]),
            )

    def __repr__(self) -> str:
        span = f"{self.times[0].item():g}..{self.times[-1].item():g}" if self.n_states else "empty"
        return (
            f"Trajectory({self.axis}s={self.n_states} [{span}], tokens={self.n_tokens}, dim={self.dim}, "
            f"dtype={self.x.dtype}, device={self.x.device})"
        )
