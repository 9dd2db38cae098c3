"""``kill -9`` in the middle of a sweep loses only the runs in flight; resuming gives the same Dataset."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import xarray as xr
import yaml

from attnflow import sweep
from attnflow.sweep import ExecutorConfig, SweepSpec
from conftest import HERE, toy_spec

CLI = [sys.executable, "-c", "from attnflow.cli import main; main()"]


def _committed(store: Path) -> int:
    runs = store / "runs"
    return sum(1 for p in runs.iterdir() if not p.name.startswith(".")) if runs.is_dir() else 0


def test_sigkill_then_resume_gives_the_uninterrupted_dataset(toy: str, tmp_path: Path) -> None:
    # 16 runs of about 0.25 s each on one worker: the sweep is still running when it is killed.
    raw = toy_spec(params={"pause": 0.25}, grid={"beta": [0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0]}, seeds=2)
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(yaml.safe_dump(raw, sort_keys=False))
    store = tmp_path / "killed.zarr"
    command = [*CLI, "sweep", str(spec_file), "--out", str(store), "--workers", "1", "--quiet"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}

    process = subprocess.Popen(command, cwd=tmp_path, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while _committed(store) < 4:
            assert process.poll() is None, "the sweep ended before it could be killed"
            assert time.monotonic() < deadline, "no runs were committed within 120 s"
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        process.wait()
    finally:
        # The pool's workers are orphaned by kill -9; end them too (they never write the store).
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    after_kill = sweep.status(store)
    assert 4 <= after_kill.done < after_kill.total == 16
    assert after_kill.failed == 0

    # Resume (as `attnflow sweep` with the same arguments would) and compare with a sweep never killed.
    resumed = sweep.run(SweepSpec.from_dict(raw), store, ExecutorConfig(workers=2))
    assert (resumed.done, resumed.failed, resumed.pending) == (16, 0, 0)

    uninterrupted = tmp_path / "uninterrupted.zarr"
    sweep.run(SweepSpec.from_dict(raw), uninterrupted, ExecutorConfig(workers=2))
    xr.testing.assert_identical(sweep.load_results(store), sweep.load_results(uninterrupted))
