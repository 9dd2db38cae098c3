"""Saving never destroys what is not a store of its kind, and a store is whole for every reader.

The data-loss and race tests run writers in child processes (forked, so they start in milliseconds)
and kill them with ``SIGKILL`` at the moments that matter, so they test what a crash leaves on disk.
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import json
import os
import resource
import shutil
import signal
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr
from typer.testing import CliRunner

import attnflow.sweep.runner as runner
from attnflow import DensityTrajectory, Trajectory, io, sweep
from attnflow.cli import app
from attnflow.sweep import StoreError, SweepSpec
from attnflow.sweep.targets import execute

SWEEP_TESTS = Path(__file__).resolve().parents[1] / "sweep"


def _trajectory(value: float, tokens: int = 50) -> Trajectory:
    """A trajectory whose every coordinate is ``value``, and which says so in its params."""
    return Trajectory(times=torch.arange(3.0), x=torch.full((3, tokens, 4), value), params={"value": value})


#: The exit code of a child whose action raised (its traceback goes to stderr).
CHILD_RAISED = 99


def _child(action: Callable[[], object]) -> int:
    """Run ``action`` in a forked child process and return its pid (it never returns into pytest)."""
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            action()
        except BaseException:
            traceback.print_exc()
            code = CHILD_RAISED
        finally:
            os._exit(code)
    return pid


def _wait(pid: int) -> int:
    """Wait for a child; its exit code, or minus the signal that killed it."""
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def _kill_self() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


# --- a save replaces only a store of its own kind ------------------------------------------------------


def test_a_save_refuses_user_files_a_regular_file_and_other_kinds(tmp_path: Path) -> None:
    traj = _trajectory(1.0)
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    with pytest.raises(io.StoreExistsError, match=r"mine is a directory that is not an attnflow store"):
        traj.save(folder)
    assert (folder / "notes.txt").read_text() == "keep me"

    regular = tmp_path / "file.zarr"
    regular.write_text("keep me too")
    with pytest.raises(io.StoreExistsError, match=r"file\.zarr is a file"):
        traj.save(regular)
    assert regular.read_text() == "keep me too"

    density = DensityTrajectory(times=torch.arange(2.0), density=torch.ones(2, 8))
    density.save(tmp_path / "density.zarr")
    with pytest.raises(io.StoreExistsError, match="is a density store, not a trajectory store"):
        traj.save(tmp_path / "density.zarr")
    with pytest.raises(io.StoreExistsError, match="is a trajectory store, not a density store"):
        density.save(traj.save(tmp_path / "traj.zarr"))
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]

    # The same kind is replaced; an empty directory holds nothing to lose.
    _trajectory(2.0).save(tmp_path / "traj.zarr")
    assert Trajectory.load(tmp_path / "traj.zarr").params == {"value": 2.0}
    (tmp_path / "empty").mkdir()
    traj.save(tmp_path / "empty")


def test_simulate_refuses_an_existing_out_unless_overwrite_and_a_store(tmp_path: Path) -> None:
    run = ["simulate", "--n", "4", "--t-end", "0.1", "--no-progress", "--out"]
    runner = CliRunner()
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "paper.tex").write_text("draft")
    for extra, message in (
        ([], "already exists; pass --overwrite"),
        (["--overwrite"], "not an attnflow store"),
    ):
        result = runner.invoke(app, [*run, str(folder), *extra])
        assert result.exit_code == 2 and message in " ".join(result.output.split())
        assert "Traceback" not in result.output
    assert (folder / "paper.tex").read_text() == "draft"

    store = tmp_path / "run.zarr"
    assert runner.invoke(app, [*run, str(store)]).exit_code == 0
    refused = runner.invoke(app, [*run, str(store), "--seed", "1"])
    assert refused.exit_code == 2 and "--overwrite" in refused.output
    assert Trajectory.load(store).params["seed"] == 0
    assert runner.invoke(app, [*run, str(store), "--seed", "1", "--overwrite"]).exit_code == 0
    assert Trajectory.load(store).params["seed"] == 1


def test_a_cache_directory_without_a_kind_is_still_replaced(tmp_path: Path) -> None:
    # lm.models caches a converted model with atomic_write_dir and no kind: a plain directory.
    def write(version: str):
        def fill(tmp: Path) -> None:
            tmp.mkdir()
            (tmp / "config.json").write_text(version)

        return fill

    io.atomic_write_dir(tmp_path / "model", write("1"))
    io.atomic_write_dir(tmp_path / "model", write("2"))
    assert (tmp_path / "model" / "config.json").read_text() == "2"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".model.lock", "model"]


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_trajectories_save_and_come_back_in_their_dtype(tmp_path: Path, dtype) -> None:
    traj = Trajectory(
        times=torch.arange(2.0), x=torch.randn(2, 5, 3, generator=torch.Generator().manual_seed(0))
    )
    traj = traj.to(dtype)
    back = Trajectory.load(traj.save(tmp_path / "half.zarr"))
    assert back.x.dtype == dtype and torch.equal(back.x, traj.x)


# --- damaged stores are an error, never silent NaN ---------------------------------------------------------


def test_a_missing_chunk_or_manifest_is_an_error_not_nan(tmp_path: Path) -> None:
    path = _trajectory(1.0).save(tmp_path / "t.zarr")
    chunks = [p for p in (path / "x").rglob("*") if p.is_file() and p.name != "zarr.json"]
    assert chunks
    chunks[0].unlink()
    with pytest.raises(io.StoreDamagedError, match="array 'x' has 0 of its 1 chunk files"):
        Trajectory.load(path)
    with pytest.raises(io.StoreDamagedError):
        io.load(path)

    path = _trajectory(1.0).save(tmp_path / "u.zarr")
    meta = json.loads((path / "zarr.json").read_text())
    del meta["attributes"][io.MANIFEST_ATTR]
    (path / "zarr.json").write_text(json.dumps(meta))
    with pytest.raises(io.StoreDamagedError, match="incomplete"):
        Trajectory.load(path)


def test_format_2_stores_without_a_manifest_still_load(tmp_path: Path) -> None:
    path = _trajectory(1.0).save(tmp_path / "old.zarr")
    meta = json.loads((path / "zarr.json").read_text())
    del meta["attributes"][io.MANIFEST_ATTR]
    meta["attributes"][io.VERSION_ATTR] = 2
    (path / "zarr.json").write_text(json.dumps(meta))
    assert Trajectory.load(path).params == {"value": 1.0}


def test_without_an_atomic_exchange_a_save_still_replaces_the_store(tmp_path: Path, monkeypatch) -> None:
    # Kernels or filesystems without RENAME_EXCHANGE: the old store goes aside, the new one is renamed in.
    monkeypatch.setattr(io, "_exchange", lambda first, second: False)
    target = _trajectory(1.0).save(tmp_path / "t.zarr")
    _trajectory(2.0).save(target)
    assert Trajectory.load(target).params == {"value": 2.0}
    assert sorted(p.name for p in tmp_path.iterdir()) == [".t.zarr.lock", "t.zarr"]


# --- kills and races ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("kill_at", [1, 2, 3])
def test_a_kill_at_any_step_of_a_replacement_leaves_a_whole_store(tmp_path: Path, kill_at: int) -> None:
    target = _trajectory(1.0).save(tmp_path / "t.zarr")
    new = _trajectory(2.0)

    def replace_and_die_at_a_step() -> None:
        # Counts the filesystem steps on the store's level (renames, an exchange, removals) and dies
        # (SIGKILL) at step ``kill_at``: before, between or after the steps that put the copy in place.
        steps = 0

        def dying(step: Callable[..., object]) -> Callable[..., object]:
            def wrapped(*args: object, **kwargs: object) -> object:
                nonlocal steps
                if any(isinstance(a, str | os.PathLike) and Path(a).parent == tmp_path for a in args):
                    steps += 1
                    if steps == kill_at:
                        _kill_self()
                return step(*args, **kwargs)

            return wrapped

        os.rename = dying(os.rename)
        shutil.rmtree = dying(shutil.rmtree)
        if hasattr(io, "_exchange"):
            io._exchange = dying(io._exchange)
        new.save(target)

    _wait(_child(replace_and_die_at_a_step))
    back = Trajectory.load(target)
    value = back.params["value"]
    assert value in (1.0, 2.0)
    assert torch.equal(back.x, torch.full((3, 50, 4), value))
    _trajectory(3.0).save(target)  # the next save cleans whatever the killed writer left
    assert sorted(p.name for p in tmp_path.iterdir()) == [".t.zarr.lock", "t.zarr"]


def test_temporary_copies_of_killed_writers_are_cleaned(tmp_path: Path) -> None:
    target = _trajectory(1.0).save(tmp_path / "t.zarr")
    new = _trajectory(2.0)

    def write_then_die() -> None:
        to_zarr = xr.Dataset.to_zarr

        def written(self: xr.Dataset, *args: object, **kwargs: object) -> None:
            to_zarr(self, *args, **kwargs)
            _kill_self()  # the data is written, not yet put in place

        xr.Dataset.to_zarr = written
        new.save(target)

    assert _wait(_child(write_then_die)) == -signal.SIGKILL
    assert [p for p in tmp_path.iterdir() if ".tmp-" in p.name]  # the kill left its copy
    _trajectory(3.0).save(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".t.zarr.lock", "t.zarr"]
    assert Trajectory.load(target).params == {"value": 3.0}


def test_a_load_racing_saves_sees_one_whole_version(tmp_path: Path) -> None:
    target = _trajectory(2.0).save(tmp_path / "t.zarr")
    versions = [_trajectory(1.0), _trajectory(2.0)]

    def save_over_and_over() -> None:
        end = time.monotonic() + 3.0
        while time.monotonic() < end:
            for traj in versions:
                traj.save(target)

    writer = _child(save_over_and_over)
    reads, seen = 0, set()
    try:
        while os.waitpid(writer, os.WNOHANG) == (0, 0):
            back = Trajectory.load(target)  # never missing, never damaged
            value = back.params["value"]
            assert torch.equal(back.x, torch.full((3, 50, 4), value)), f"x and params of two saves ({value})"
            reads += 1
            seen.add(value)
    finally:
        with contextlib.suppress(ProcessLookupError, ChildProcessError):
            os.kill(writer, signal.SIGKILL)
            os.waitpid(writer, 0)
    assert reads > 10 and seen == {1.0, 2.0}


def test_a_failed_write_leaves_no_temporary_copy_behind(tmp_path: Path) -> None:
    # Every chunk write fails (a file-size limit stands in for a full disk) while zarr has many chunk
    # writes in flight: they must not refill the temporary copy after its removal.
    ds = xr.Dataset({"x": (("a", "b"), np.random.default_rng(0).normal(size=(64, 1024)))})
    ds["x"].encoding["chunks"] = (1, 1024)

    def write_on_a_full_disk() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (2048, resource.RLIM_INFINITY))
        try:
            io.write_dataset(tmp_path / "s.zarr", ds)
        except OSError as err:
            os._exit(err.errno)
        time.sleep(1.0)  # time for stray writes to land

    assert _wait(_child(write_on_a_full_disk)) == errno.EFBIG
    assert os.listdir(tmp_path) == []


def test_two_sweeps_started_at_once_on_a_new_store_run_each_run_once(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(SWEEP_TESTS))
    store = tmp_path / "s.zarr"
    # The spec is built in the children: its import registers the toy experiment, which this process
    # must not keep.
    raw = {
        "experiment": "sweep-toy",
        "imports": ["sweep_toy_experiment"],
        "params": {"pause": 0.2},
        "grid": {"beta": [1.0, 1.5, 2.0, 2.5]},
    }

    def sweep_in_process(delay: float) -> Callable[[], None]:
        # Runs execute in this process (no worker pool); the first store write waits ``delay`` seconds,
        # which opens the window in which the other sweep starts. Exit code: the runs executed here.
        def go() -> None:
            write_dir, executed, pending = io.atomic_write_dir, [], [delay]

            def slow_first_write(*args: object, **kwargs: object) -> Path:
                time.sleep(pending.pop() if pending else 0.0)
                return write_dir(*args, **kwargs)

            def in_process(spec: SweepSpec, points: list, config: object):
                for point in points:
                    executed.append(point.key)
                    yield (
                        point,
                        execute(spec.target, list(spec.imports), list(spec.measurements), point.params, 1),
                    )

            io.atomic_write_dir = slow_first_write
            runner.execute_points = in_process
            # Another test may have imported (and unregistered) the toy: registering is idempotent.
            importlib.import_module("sweep_toy_experiment").ensure_registered()
            with contextlib.suppress(StoreError):
                sweep.run(SweepSpec.from_dict(raw), store)
            os._exit(len(executed))

        return go

    children = [_child(sweep_in_process(delay)) for delay in (0.2, 1.0)]
    executed = [_wait(pid) for pid in children]
    assert CHILD_RAISED not in executed, "a sweep raised (its traceback is above)"
    assert sum(executed) == 4, f"runs executed by each sweep: {executed}"
    assert np.isfinite(io.load(store)["square"].values).all()
