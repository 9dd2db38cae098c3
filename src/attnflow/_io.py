"""Atomic writes: a crash leaves the previous result or none, never half of one."""

from __future__ import annotations

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


def atomic_write_zarr(path: str | os.PathLike[str], dataset: xr.Dataset) -> Path:
    """Write ``dataset`` to a Zarr store at ``path`` atomically (see :func:`atomic_write_dir`).

    Object-typed variables (token strings) are stored as fixed-width strings, which xarray reads back.
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
