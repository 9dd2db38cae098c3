"""Storage: the one module that writes and reads attnflow's files.

Every store attnflow writes is a Zarr directory whose root attributes carry a *kind marker*
(``attnflow_kind``: one of :data:`KINDS`) and a *format version* (``attnflow_format``). :func:`load`
reads any of them back by its marker. Every write is atomic: a crash leaves the previous result or
none, never half of one.
"""

from __future__ import annotations

import importlib
import math
import os
import shutil
import uuid
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr

#: The kinds of store attnflow writes, each read back by :func:`load`.
KINDS = ("trajectory", "density", "recording", "sweep", "dataset")
#: The format version written now. Version 1 stores (before kind markers) are still read.
FORMAT_VERSION = 2
KIND_ATTR = "attnflow_kind"
VERSION_ATTR = "attnflow_format"

# Who reads each kind back, as "module:attribute" so that this core module imports no higher layer.
_LOADERS = {
    "trajectory": "attnflow.trajectory:Trajectory",
    "density": "attnflow.trajectory:DensityTrajectory",
    "recording": "attnflow.lm.recording:Recording",
    "dataset": None,
    "sweep": "attnflow.sweep.store:load_results",
}


class StoreFormatError(ValueError):
    """A path is not an attnflow store of the expected kind, or was written by an unknown format."""


def atomic_write_dir(path: str | os.PathLike[str], write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a fresh sibling directory, then move it to ``path`` in one rename.

    If ``path`` already exists it is renamed aside first and removed only once the new copy is in
    place, so an interruption at any moment leaves either the old directory or the new one.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex[:12]
    tmp = target.parent / f".{target.name}.tmp-{token}"
    try:
        write(tmp)
        if target.exists():
            old = target.parent / f".{target.name}.old-{token}"
            os.rename(target, old)
            os.rename(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def marker(kind: str) -> dict[str, Any]:
    """The root attributes that mark a store of ``kind`` written now."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(map(repr, KINDS))}; got {kind!r}")
    return {KIND_ATTR: kind, VERSION_ATTR: FORMAT_VERSION}


def read_kind(path: str | os.PathLike[str]) -> str:
    """The kind of the attnflow store at ``path``, from its marker (version-1 stores by their layout).

    Raises:
        FileNotFoundError: nothing at ``path``.
        StoreFormatError: ``path`` is not an attnflow store, or its format version is unknown.
    """
    import zarr

    target = Path(path)
    if not target.exists():
        raise FileNotFoundError(f"no attnflow store at {target}")
    try:
        attrs = dict(zarr.open_group(str(target), mode="r").attrs)
    except Exception:
        raise StoreFormatError(f"{target} is not an attnflow store (not a Zarr group)") from None
    version = attrs.get(VERSION_ATTR)
    if "attnflow_sweep" in attrs and version is None:
        return "sweep"  # version-1 sweep store
    if version == 1:
        return "density" if attrs.get(KIND_ATTR) == "circle-density" else "trajectory"
    if version is None or KIND_ATTR not in attrs:
        raise StoreFormatError(f"{target} is not an attnflow store (no {KIND_ATTR!r} marker)")
    if version != FORMAT_VERSION:
        raise StoreFormatError(
            f"{target} was written in attnflow store format {version!r}; this attnflow reads formats 1 "
            f"and {FORMAT_VERSION}. Upgrade attnflow to read it."
        )
    kind = attrs[KIND_ATTR]
    if kind not in KINDS:
        raise StoreFormatError(f"{target} is a store of unknown kind {kind!r}")
    return kind


def check_kind(path: str | os.PathLike[str], kind: str) -> None:
    """Raise :class:`StoreFormatError` (naming both kinds) unless ``path`` is a store of ``kind``."""
    found = read_kind(path)
    if found != kind:
        raise StoreFormatError(f"{path} is a {found} store, not a {kind} store")


def load(path: str | os.PathLike[str]) -> Any:
    """Read any attnflow store back, dispatching on its kind marker.

    Returns:
        A :class:`~attnflow.Trajectory` (``trajectory``), an :class:`attnflow.lm.Recording`
        (``recording``), a :class:`~attnflow.DensityTrajectory` (``density``), or an
        :class:`xarray.Dataset` (``dataset`` and ``sweep`` stores: a sweep is returned as its collected
        results).
    """
    kind = read_kind(path)
    loader = _LOADERS[kind]
    if loader is None:
        return load_dataset(path, kind)
    module, _, attribute = loader.partition(":")
    reader = getattr(importlib.import_module(module), attribute)
    return reader.load(path) if isinstance(reader, type) else reader(path)


def load_dataset(path: str | os.PathLike[str], kind: str = "dataset") -> xr.Dataset:
    """Read a ``dataset`` store (or another kind's data, checked) fully into memory."""
    check_kind(path, kind)
    with xr.open_zarr(path, consolidated=False) as ds:
        return ds.load()


def write_dataset(path: str | os.PathLike[str], dataset: xr.Dataset, kind: str = "dataset") -> Path:
    """Write ``dataset`` as a marked store of ``kind`` at ``path``, atomically."""
    marked = dataset.copy()
    marked.attrs = {**dataset.attrs, **marker(kind)}
    return atomic_write_zarr(path, marked)


def atomic_write_zarr(path: str | os.PathLike[str], dataset: xr.Dataset) -> Path:
    """Write ``dataset`` to a Zarr store at ``path`` atomically (see :func:`atomic_write_dir`).

    Object-typed variables (token strings) are stored as fixed-width strings, which xarray reads back.
    Callers outside this module use :func:`write_dataset`, which adds the kind marker.
    """
    dataset = dataset.copy()
    for name in list(dataset.variables):
        if dataset[name].dtype == object:
            dataset[name] = dataset[name].astype(str)
    with warnings.catch_warnings():
        # Fixed-width strings have no Zarr v3 specification yet; xarray and zarr-python read them fine.
        warnings.filterwarnings("ignore", message="The data type .* does not have a Zarr V3 specification")
        return atomic_write_dir(path, lambda tmp: dataset.to_zarr(tmp, mode="w", consolidated=False))


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file and ``os.replace``."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:12]}"
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()
    return target


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def jsonable(value: Any, strict: bool = False) -> Any:
    """Turn parameters or results into JSON-friendly values; tensors and arrays become nested lists.

    With ``strict=True`` non-finite floats become strings (``"inf"``, ``"nan"``), which standard JSON
    cannot hold; otherwise they stay floats (Python's json module writes and reads them back).
    """
    if isinstance(value, Mapping):
        return {str(k): jsonable(v, strict) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v, strict) for v in value]
    if isinstance(value, torch.Tensor):
        return jsonable(value.detach().cpu().tolist(), strict)
    if isinstance(value, np.ndarray | np.generic):
        return jsonable(value.tolist(), strict)
    if strict and isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return repr(value)
