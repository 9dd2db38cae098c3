"""Storage: the one module that writes and reads attnflow's files.

Every store attnflow writes is a Zarr directory whose root attributes carry a *kind marker*
(``attnflow_kind``: one of :data:`KINDS`), a *format version* (``attnflow_format``) and a *manifest*
(``attnflow_manifest``: its arrays and their chunk counts, written last). :func:`load` reads any of them
back by its marker. A save replaces only a store of the same kind; it is atomic for writers (a crash
leaves the previous store or the new one) and for readers (:func:`read_store` sees one whole version,
or raises :class:`StoreDamagedError`). ``docs/reliability.md`` lists the guarantees and their tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import fcntl
import functools
import importlib
import json
import math
import os
import shutil
import time
import uuid
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr

from attnflow.errors import AttnflowError

#: The kinds of store attnflow writes, each read back by :func:`load`.
KINDS = ("trajectory", "density", "recording", "sweep", "dataset")
#: The format version written now (3: with a manifest). Versions 1 (before kind markers) and 2 (before
#: manifests) are still read.
FORMAT_VERSION = 3
KIND_ATTR = "attnflow_kind"
VERSION_ATTR = "attnflow_format"
MANIFEST_ATTR = "attnflow_manifest"
#: A temporary copy older than this is removed even if a process with its writer's pid runs.
STALE_AFTER_S = 24 * 3600.0
_TMP = ".tmp-"

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


class StoreDamagedError(StoreFormatError):
    """A store is incomplete or damaged (a missing chunk, no manifest): its data cannot be trusted."""


class StoreExistsError(AttnflowError, FileExistsError):
    """A save would replace something other than a store of its kind (user files, a file, another kind)."""


def atomic_write_dir(
    path: str | os.PathLike[str],
    write: Callable[[Path], None],
    kind: str | None = None,
    *,
    clean_stale: bool = True,
) -> Path:
    """Call ``write(tmp)`` on a fresh sibling directory, then put it at ``path`` in one atomic step.

    With a ``kind``, ``path`` may only hold a store of that kind (or an empty directory), which is
    replaced; anything else raises :class:`StoreExistsError` before any work. The store's manifest (its
    arrays and how many chunk files each has) is written into the temporary copy last. Without a kind
    (caches that are not stores) an existing directory is replaced.

    Readers never see a missing or half-written target: the new copy takes the old one's place with one
    ``renameat2(RENAME_EXCHANGE)`` (one ``rename`` when nothing is there), while holding the store's
    lock exclusively, so no :func:`read_store` is between its reads; the old copy is deleted afterwards.
    Temporary copies of writers that died are removed first, unless ``clean_stale`` is false (for a
    caller that cleans a whole directory of stores itself, as a sweep does for its runs).

    Raises:
        StoreExistsError: ``path`` holds something a save of ``kind`` must not replace.
    """
    target = Path(path)
    if kind is not None:
        check_replaceable(target, kind)
    target.parent.mkdir(parents=True, exist_ok=True)
    if clean_stale:
        remove_stale_temporaries(target)
    tmp = target.parent / f".{target.name}{_TMP}{os.getpid()}-{uuid.uuid4().hex[:12]}"
    try:
        write(tmp)
        if kind is not None:
            _write_manifest(tmp)
        with _lock(target, exclusive=True):
            if kind is not None:
                check_replaceable(target, kind)  # another writer may have put something there meanwhile
            replaced = _put_in_place(tmp, target)
        if replaced:
            _remove(tmp)  # after the exchange the temporary name holds the old copy
    except BaseException:
        _wait_for_zarr_writes()  # else zarr's pending chunk writes refill the directory after its removal
        _remove(tmp)
        raise
    return target


@contextmanager
def read_store(path: str | os.PathLike[str], kind: str | None = None) -> Iterator[str]:
    """Hold a store for reading: no save replaces it until the block ends; yields its kind.

    A store written with a manifest is checked against it first, so a reader gets one whole version
    of the store or an error, never a mix of two saves or fill values in place of a lost chunk.

    Raises:
        FileNotFoundError: nothing at ``path``.
        StoreFormatError: not an attnflow store (of ``kind``, when given) or an unknown format version.
        StoreDamagedError: the store is incomplete (no manifest, or a chunk file is missing).
    """
    target = Path(path)
    with _lock(target, exclusive=False):
        found = read_kind(target)
        if kind is not None and found != kind:
            raise StoreFormatError(f"{target} is a {found} store, not a {kind} store")
        _verify_manifest(target)
        yield found


def remove_stale_temporaries(path: str | os.PathLike[str]) -> None:
    """Delete the temporary copies of ``path`` left by writers that died (``kill -9``, power loss).

    A temporary copy is stale when the process that made it (its name carries the pid) no longer runs,
    or when it is older than :data:`STALE_AFTER_S` (a pid can be reused, or belong to another host).
    """
    target = Path(path)
    prefix = f".{target.name}{_TMP}"
    try:
        entries = list(os.scandir(target.parent))
    except FileNotFoundError:
        return
    now = time.time()
    for entry in entries:
        if not entry.name.startswith(prefix):
            continue
        pid = entry.name[len(prefix) :].partition("-")[0]
        try:
            age = now - entry.stat(follow_symlinks=False).st_mtime
        except FileNotFoundError:
            continue
        if age > STALE_AFTER_S or not (pid.isdigit() and _alive(int(pid))):
            _remove(Path(entry.path))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, owned by someone else
    return True


def check_replaceable(path: str | os.PathLike[str], kind: str) -> None:
    """Raise :class:`StoreExistsError` unless a save of ``kind`` may write to ``path``.

    It may when nothing is there, an empty directory, or a store of the same ``kind``.
    """
    target = Path(path)
    if not os.path.lexists(target):
        return
    if not target.is_dir() or target.is_symlink():
        raise StoreExistsError(
            f"{target} is a file, not an attnflow {kind} store; refusing to replace it (choose another path)"
        )
    if not any(target.iterdir()):
        return  # an empty directory holds nothing to lose
    try:
        found = read_kind(target)
    except StoreFormatError:
        raise StoreExistsError(
            f"{target} is a directory that is not an attnflow store; refusing to replace it "
            "(choose another path, or remove it yourself)"
        ) from None
    if found != kind:
        raise StoreExistsError(
            f"{target} is a {found} store, not a {kind} store; refusing to replace it (choose another path)"
        )


def _lock_path(target: Path) -> Path:
    return target.parent / f".{target.name}.lock"


@contextmanager
def _lock(target: Path, exclusive: bool) -> Iterator[None]:
    """``flock`` the store's lock file beside it: shared for readers, exclusive for the swap.

    Where the lock file cannot be made (a read-only location, no parent) nobody can be writing the
    store through attnflow, so the block runs without it.
    """
    try:
        handle = open(_lock_path(target), "a")
    except OSError:
        handle = None
    if handle is None:
        yield
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(first: Path, second: Path) -> bool:
    """Swap two paths atomically with Linux ``renameat2(RENAME_EXCHANGE)``; False where unsupported."""
    renameat2 = getattr(_libc(), "renameat2", None)
    if renameat2 is None:
        return False
    status = renameat2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE)
    if status == 0:
        return True
    error = ctypes.get_errno()
    if error in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False  # the kernel or the filesystem cannot exchange
    raise OSError(error, os.strerror(error), str(second))


@functools.cache
def _libc() -> Any:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None
    if hasattr(libc, "renameat2"):
        path = ctypes.c_char_p
        libc.renameat2.argtypes = [ctypes.c_int, path, ctypes.c_int, path, ctypes.c_uint]
        libc.renameat2.restype = ctypes.c_int
    return libc


def _put_in_place(tmp: Path, target: Path) -> bool:
    """Move ``tmp`` to ``target``; True when an old copy was exchanged and now sits at ``tmp``."""
    if not os.path.lexists(target):
        os.rename(tmp, target)
        return False
    if _exchange(tmp, target):
        return True
    # No atomic exchange here: the old copy goes aside first, so a crash between the two renames
    # leaves it under the hidden name (never a half-written target).
    aside = tmp.parent / f"{tmp.name}-old"
    os.rename(target, aside)
    os.rename(tmp, target)
    _remove(aside)
    return False


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _wait_for_zarr_writes(timeout: float = 60.0) -> None:
    """Let zarr's in-flight asynchronous writes finish (after a failed write, e.g. a full disk).

    zarr gathers a store's chunk writes on its own event loop and does not cancel the others when one
    fails; they would otherwise recreate files in a directory that was just removed.
    """
    try:
        from zarr.core.sync import sync
    except ImportError:
        return

    async def settle() -> None:
        current = asyncio.current_task()
        pending = [task for task in asyncio.all_tasks() if task is not current]
        if pending:
            await asyncio.wait(pending, timeout=timeout)

    with contextlib.suppress(Exception):
        sync(settle())


def _chunk_counts(store: Path) -> dict[str, int]:
    """Array path → number of chunk files, for every array of a Zarr v3 store."""
    counts = {}
    for directory, _, files in os.walk(store):
        if "zarr.json" not in files:
            continue
        meta = json.loads((Path(directory) / "zarr.json").read_text())
        if meta.get("node_type") != "array":
            continue
        name = Path(directory).relative_to(store).as_posix()
        # Every file of an array directory but its metadata is a chunk (arrays hold no sub-nodes).
        counts[name] = sum(len(names) for _, _, names in os.walk(directory)) - 1
    return counts


def _write_manifest(store: Path) -> None:
    """Record the store's arrays and chunk counts in its root attributes, as the last write."""
    root = store / "zarr.json"
    meta = json.loads(root.read_text())
    meta.setdefault("attributes", {})[MANIFEST_ATTR] = {"arrays": _chunk_counts(store)}
    root.write_text(json.dumps(meta))  # the temporary copy is not visible yet: no need for atomicity


def _verify_manifest(store: Path) -> None:
    root = store / "zarr.json"
    if not root.is_file():
        return  # format-1 stores (Zarr v2) predate manifests; read_kind has accepted it
    attrs = json.loads(root.read_text()).get("attributes", {})
    if attrs.get(VERSION_ATTR, 0) < FORMAT_VERSION:
        return  # written before manifests
    manifest = attrs.get(MANIFEST_ATTR)
    if manifest is None:
        raise StoreDamagedError(f"{store} is incomplete (no manifest): its writer did not finish")
    found = _chunk_counts(store)
    for name, expected in manifest["arrays"].items():
        if found.get(name) != expected:
            have = "no array" if name not in found else f"{found[name]} of its {expected} chunk files"
            raise StoreDamagedError(
                f"{store} is damaged: array {name!r} has {have}; the store cannot be read"
            )


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
    target = Path(path)
    if not target.exists():
        raise FileNotFoundError(f"no attnflow store at {target}")
    try:
        attrs = _root_attrs(target)
    except Exception:
        raise StoreFormatError(f"{target} is not an attnflow store (not a Zarr group)") from None
    version = attrs.get(VERSION_ATTR)
    if "attnflow_sweep" in attrs and version is None:
        return "sweep"  # version-1 sweep store
    if version == 1:
        return "density" if attrs.get(KIND_ATTR) == "circle-density" else "trajectory"
    if version is None or KIND_ATTR not in attrs:
        raise StoreFormatError(f"{target} is not an attnflow store (no {KIND_ATTR!r} marker)")
    if version not in (2, FORMAT_VERSION):
        raise StoreFormatError(
            f"{target} was written in attnflow store format {version!r}; this attnflow reads formats 1 "
            f"to {FORMAT_VERSION}. Upgrade attnflow to read it."
        )
    kind = attrs[KIND_ATTR]
    if kind not in KINDS:
        raise StoreFormatError(f"{target} is a store of unknown kind {kind!r}")
    return kind


def _root_attrs(store: Path) -> dict[str, Any]:
    """A Zarr group's attributes: read from its ``zarr.json`` directly (Zarr v3, much faster than
    opening the group), through zarr for older layouts."""
    import zarr

    root = store / "zarr.json"
    if root.is_file():
        meta = json.loads(root.read_text())
        if meta.get("node_type") != "group":
            raise StoreFormatError(f"{store} is not a Zarr group")
        return dict(meta.get("attributes", {}))
    return dict(zarr.open_group(str(store), mode="r").attrs)


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
    """Read a ``dataset`` store (or another kind's data, checked) fully into memory, as one whole version."""
    with read_store(path, kind), xr.open_zarr(path, consolidated=False) as ds:
        loaded = ds.load()
    loaded.attrs.pop(MANIFEST_ATTR, None)
    return loaded


def write_dataset(
    path: str | os.PathLike[str], dataset: xr.Dataset, kind: str = "dataset", *, clean_stale: bool = True
) -> Path:
    """Write ``dataset`` as a marked store of ``kind`` at ``path`` (see :func:`atomic_write_dir`).

    Object-typed variables (token strings) are stored as fixed-width strings, which xarray reads back.

    Raises:
        StoreExistsError: ``path`` holds something other than a store of ``kind``.
    """
    marked = dataset.copy()
    marked.attrs = {**dataset.attrs, **marker(kind)}
    for name in list(marked.variables):
        if marked[name].dtype == object:
            marked[name] = marked[name].astype(str)

    def write(tmp: Path) -> None:
        with warnings.catch_warnings():
            # Fixed-width strings have no Zarr v3 specification yet; xarray and zarr-python read them fine.
            warnings.filterwarnings("ignore", message="The data type .* does not have a Zarr V3 spec")
            marked.to_zarr(tmp, mode="w", consolidated=False)

    return atomic_write_dir(path, write, kind, clean_stale=clean_stale)


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
