"""The sweep store: one Zarr store per sweep holding the spec and every finished run.

Layout::

    STORE/zarr.json          root group; attrs: the kind marker (``attnflow_kind: sweep``, format
                             version), the normalised ``spec`` and the ``seed_policy``
    STORE/runs/<key>/        one Zarr group per finished run: its results, and attrs ``status``
                             (``"ok"`` or ``"failed"``), ``params``, ``swept``, ``seconds``,
                             ``seed_policy`` and, for a failure, ``error`` and ``traceback``
    .STORE.sweep.lock        beside the store: held (``flock``) by the one process running the sweep,
                             taken before the store is created, so two sweeps started at once on a
                             new store never both run

A run is written through :func:`attnflow.io.write_dataset` (a hidden sibling directory put in place in
one step), so it is in the store whole or not at all; a process killed mid-write leaves only a hidden
temporary directory, which the next run removes.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
import zarr

from attnflow import io
from attnflow.random import SEED_POLICY
from attnflow.sweep.spec import RunPoint, SweepSpec
from attnflow.sweep.targets import RunResult

_READERS = 16


class StoreError(RuntimeError):
    """The store cannot be used as asked (not a sweep store, a different spec, another sweep running)."""


@dataclass
class Failure:
    """A run that raised.

    Attributes:
        swept: its swept parameter values.
        error: the exception, one line.
        traceback: the full traceback.
    """

    swept: dict[str, Any]
    error: str
    traceback: str


@dataclass
class SweepStatus:
    """How far a sweep has got.

    Attributes:
        total: runs in the spec.
        done: runs finished successfully.
        failed: runs that raised (see ``failures``).
        failures: the failed runs with their tracebacks.
        run_seconds: the summed wall time of the finished runs (as measured in their workers).
    """

    total: int
    done: int
    failed: int
    failures: list[Failure] = field(default_factory=list)
    run_seconds: float = 0.0

    @property
    def pending(self) -> int:
        """Runs not yet in the store."""
        return self.total - self.done - self.failed


class SweepStore:
    """A sweep's Zarr store on disk.

    Args:
        path: the store directory.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.runs = self.path / "runs"

    @classmethod
    def create(cls, path: str | os.PathLike[str], spec: SweepSpec) -> SweepStore:
        """Create a new, empty store for ``spec`` at ``path`` (atomically; hold :func:`sweep_lock`).

        Raises:
            StoreError: something already exists at ``path``.
        """
        target = Path(path)
        if os.path.lexists(target):
            raise StoreError(f"{target} already exists")
        io.atomic_write_dir(target, _empty_store(spec), "sweep")
        return cls(target)

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> SweepStore:
        """Open an existing store.

        Raises:
            FileNotFoundError: nothing at ``path``.
            StoreError: ``path`` is not a sweep store.
        """
        store = cls(path)
        if not store.path.exists():
            raise FileNotFoundError(f"no sweep store at {store.path}")
        try:
            io.check_kind(store.path, "sweep")
        except io.StoreFormatError as err:
            raise StoreError(f"{store.path} is not an attnflow sweep store ({err})") from None
        if "spec" not in zarr.open_group(str(store.path), mode="r").attrs or not store.runs.is_dir():
            raise StoreError(f"{store.path} is not an attnflow sweep store (no spec or no runs)")
        return store

    @property
    def spec_dict(self) -> dict[str, Any]:
        """The normalised spec the store was created with."""
        return dict(zarr.open_group(str(self.path), mode="r").attrs)["spec"]

    @property
    def seed_policy(self) -> str:
        """How the store's seeds became random numbers (:data:`attnflow.random.SEED_POLICY`).

        Format-1 stores predate the policy: their ``seeds: k`` meant the seeds ``0..k-1``.
        """
        attrs = zarr.open_group(str(self.path), mode="r").attrs
        return str(attrs.get("seed_policy", "format 1: seeds: k ran the integer seeds 0..k-1"))

    def remove_stale_temporaries(self) -> None:
        """Delete half-written run directories left by a killed process (call while holding the lock)."""
        for entry in self.runs.iterdir():
            if entry.name.startswith(".") and entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)

    def statuses(self) -> dict[str, str]:
        """Run key → ``"ok"`` or ``"failed"`` for every run in the store."""
        return {key: self._run_attrs(key)["status"] for key in sorted(self._run_keys())}

    def _run_keys(self) -> list[str]:
        return [entry.name for entry in self.runs.iterdir() if not entry.name.startswith(".")]

    def _run_attrs(self, key: str) -> dict[str, Any]:
        # A Zarr v3 group's attributes live in its zarr.json; reading that one file is much faster than
        # opening the group through zarr's asynchronous machinery, which matters for thousands of runs.
        return json.loads((self.runs / key / "zarr.json").read_text())["attributes"]

    def commit(self, point: RunPoint, result: RunResult) -> None:
        """Write one run's result (or its failure) under its key, replacing any earlier record, atomically."""
        attrs = {
            "status": "ok" if result.ok else "failed",
            "params": json.dumps(point.params),
            "swept": json.dumps(point.swept),
            "seconds": result.seconds,
            "seed_policy": SEED_POLICY,
            "error": result.error,
            "traceback": result.traceback,
        }
        data = (result.data if result.ok else xr.Dataset()).assign_attrs(attrs)
        # The temporary name is hidden (leading dot) so readers never mistake it for a run; the sweep
        # removes stale ones for all runs at its start, not at every commit.
        io.write_dataset(self.runs / point.key, data, clean_stale=False)

    def read_run(self, key: str) -> xr.Dataset:
        """The stored results of one run (loaded into memory; attrs hold its parameters and status)."""
        return io.load_dataset(self.runs / key)

    def status(self, spec: SweepSpec | None = None) -> SweepStatus:
        """Counts of finished and failed runs, with the failures' tracebacks."""
        spec = spec if spec is not None else _spec_without_validation(self.spec_dict)
        statuses = set(self._run_keys())
        failures, done, seconds = [], 0, 0.0
        for point in spec.points():
            if point.key not in statuses:
                continue
            attrs = self._run_attrs(point.key)
            if attrs["status"] == "ok":
                done += 1
                seconds += attrs["seconds"]
            else:
                failures.append(Failure(point.swept, attrs["error"], attrs["traceback"]))
        return SweepStatus(spec.n_runs, done, len(failures), failures, seconds)

    def to_dataset(self) -> xr.Dataset:
        """Every finished run combined into one Dataset whose leading dimensions are the swept parameters.

        Runs that failed or have not run are NaN (integers and booleans are promoted to float for
        that); ``run_status`` says which (``"ok"``, ``"failed"``, ``"pending"``).
        """
        spec = _spec_without_validation(self.spec_dict)
        dims = spec.dims
        shape = tuple(len(values) for values in dims.values())
        statuses = self.statuses()
        run_status = np.full(shape, "pending", dtype="<U7")
        finished = []
        for point in spec.points():
            status = statuses.get(point.key)
            if status is not None:
                run_status[point.index] = status
            if status == "ok":
                finished.append(point)
        # Reading runs is latency-bound (many small files): overlap the reads.
        with ThreadPoolExecutor(max_workers=_READERS) as pool:
            datasets = list(pool.map(self.read_run, [point.key for point in finished]))
        found = [(point.index, ds) for point, ds in zip(finished, datasets, strict=True)]

        coords: dict[str, Any] = {name: list(values) for name, values in dims.items()}
        if len(spec.zipped) > 1:
            zip_dim = next(iter(spec.zipped))
            coords.update({name: (zip_dim, values) for name, values in list(spec.zipped.items())[1:]})
        variables: dict[str, Any] = {"run_status": (tuple(dims), run_status)}
        if found:
            aligned = _aligned([ds for _, ds in found])
            names = list(dict.fromkeys(name for ds in aligned for name in ds.data_vars))
            complete = len(found) == len(run_status.flat)
            for name in names:
                template = next(ds[name] for ds in aligned if name in ds)
                holders = [(i, ds[name]) for (i, _), ds in zip(found, aligned, strict=True) if name in ds]
                dtype = (
                    template.dtype
                    if complete and len(holders) == len(found)
                    else _with_missing(template.dtype)
                )
                values = np.full(shape + template.shape, _missing(dtype), dtype=dtype)
                for index, array in holders:
                    values[index] = array.transpose(*template.dims).values
                variables[name] = (tuple(dims) + template.dims, values)
                for coord_name, coord in template.coords.items():
                    coords.setdefault(coord_name, coord)
        attrs = {
            "spec": json.dumps(spec.to_dict()),
            "seed_policy": self.seed_policy,
            "runs_total": spec.n_runs,
            "runs_done": int((run_status == "ok").sum()),
            "runs_failed": int((run_status == "failed").sum()),
        }
        return xr.Dataset(variables, coords=coords, attrs=attrs)


def load_results(path: str | os.PathLike[str]) -> xr.Dataset:
    """The combined results of a sweep store as one ``xarray.Dataset`` (also ``attnflow.load(path)``).

    Its leading dimensions are the swept parameters, in the spec's order (grid keys, the zip
    dimension, ``seed``), followed by each value's own dimensions (e.g. ``time``). Runs that failed or
    have not run yet are NaN; ``run_status`` says which. ``attrs["spec"]`` holds the spec as JSON and
    ``attrs["seed_policy"]`` how its seeds became random numbers.

    Args:
        path: the store written by :func:`attnflow.sweep.run` / ``attnflow sweep``.

    Returns:
        The Dataset, loaded into memory.

    Raises:
        FileNotFoundError: nothing at ``path``.
        StoreError: ``path`` is not a sweep store.
    """
    return SweepStore.open(path).to_dataset()


@contextmanager
def sweep_lock(path: str | os.PathLike[str]) -> Iterator[None]:
    """Hold the lock of the sweep store at ``path``: the file ``.NAME.sweep.lock`` beside the store.

    The lock file lives beside the store, not in it, so it exists before the store does: two sweeps
    started at once on a new store lock the same file, and the second is refused. It is released when
    the block ends or the process dies.

    Raises:
        StoreError: another process holds it (a sweep is already running on this store).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    lock_file = target.parent / f".{target.name}.sweep.lock"
    with open(lock_file, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StoreError(f"another sweep is running on {target} (it holds {lock_file})") from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def replace_store(path: str | os.PathLike[str], spec: SweepSpec) -> SweepStore:
    """Replace the sweep store at ``path`` by a new, empty one for ``spec`` (hold :func:`sweep_lock`).

    Raises:
        StoreError: ``path`` holds something that is not a sweep store (it is never deleted).
    """
    target = Path(path)
    SweepStore.open(target)  # refuse to delete something that is not a sweep store

    io.atomic_write_dir(target, _empty_store(spec), "sweep")
    return SweepStore(target)


def _empty_store(spec: SweepSpec) -> Callable[[Path], None]:
    """The writer of a new, empty sweep store for ``spec``."""

    def write(tmp: Path) -> None:
        root = zarr.open_group(str(tmp), mode="w")
        root.attrs.update({**io.marker("sweep"), "spec": spec.to_dict(), "seed_policy": SEED_POLICY})
        (tmp / "runs").mkdir()

    return write


def _aligned(datasets: list[xr.Dataset]) -> list[xr.Dataset]:
    """The runs on common coordinates (an outer join, NaN-padded), skipped when they already agree."""
    first = datasets[0].xindexes
    if all(
        ds.xindexes.keys() == first.keys() and all(ds.xindexes[k].equals(first[k]) for k in first)
        for ds in datasets
    ):
        return datasets
    return list(xr.align(*datasets, join="outer"))


def _with_missing(dtype: np.dtype) -> np.dtype:
    """A dtype that can hold a missing value: floats stay, integers/booleans become float64."""
    if dtype.kind in "fc":
        return dtype
    if dtype.kind in "iub":
        return np.dtype(np.float64)
    return dtype


def _missing(dtype: np.dtype) -> Any:
    if dtype.kind in "fc":
        return np.nan
    if dtype.kind in "US":
        return ""
    return 0


def _spec_without_validation(normalised: Mapping[str, Any]) -> SweepSpec:
    """Rebuild a stored spec without resolving its target (reading a store needs no experiment code)."""
    target = (
        {"experiment": normalised["experiment"], "quick": normalised["quick"]}
        if "experiment" in normalised
        else {"simulation": normalised["simulation"]}
    )
    seeds = normalised.get("seeds")
    return SweepSpec(
        target=target,
        imports=tuple(normalised.get("imports", [])),
        params=dict(normalised.get("params", {})),
        grid=dict(normalised.get("grid", {})),
        zipped=dict(normalised.get("zip", {})),
        seeds=None if seeds is None else tuple(seeds),
        measurements=tuple(normalised.get("measurements", [])),
        name=normalised.get("name"),
    )
