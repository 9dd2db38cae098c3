"""Processes end with their driver, and an unreachable Ray address fails quickly with one line."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

SWEEP_TESTS = Path(__file__).resolve().parents[1] / "sweep"

# A sweep of two runs that each sleep a minute, on two local workers: its driver is killed mid-run.
DRIVER = textwrap.dedent(
    """
    import sys
    from attnflow import sweep
    from attnflow.sweep import ExecutorConfig, SweepSpec

    spec = SweepSpec.from_dict({
        "experiment": "sweep-toy", "imports": ["sweep_toy_experiment"],
        "params": {"pause": 60.0}, "grid": {"beta": [1.0, 2.0]},
    })
    sweep.run(spec, sys.argv[1], ExecutorConfig(kind="local", workers=2))
    """
)


def _children() -> dict[int, list[int]]:
    """Parent pid → its children's pids, from /proc."""
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            tree.setdefault(parent, []).append(int(entry))
    return tree


def _descendants(pid: int) -> set[int]:
    tree, found, todo = _children(), set(), [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (a zombie has exited; only its entry is left)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_killing_the_sweep_driver_ends_its_workers(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SWEEP_TESTS), os.environ.get("PYTHONPATH", "")])}
    driver = subprocess.Popen(
        [sys.executable, "-c", DRIVER, str(tmp_path / "s.zarr")], env=env, start_new_session=True
    )
    helpers: set[int] = set()
    try:
        deadline = time.monotonic() + 60
        # forkserver + resource tracker + two workers (children of the forkserver).
        while len(helpers := _descendants(driver.pid)) < 4:
            assert driver.poll() is None, "the sweep ended before it could be killed"
            assert time.monotonic() < deadline, f"the workers did not start within 60 s: {helpers}"
            time.sleep(0.05)
        time.sleep(0.5)  # let the workers pick up their runs
        helpers = _descendants(driver.pid)
        driver.send_signal(signal.SIGKILL)
        driver.wait()
        deadline = time.monotonic() + 10
        while (alive := {pid for pid in helpers if _running(pid)}) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not alive, f"processes outlived the killed driver by 10 s: {sorted(alive)}"
    finally:
        for pid in helpers:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_ray_address_fails_within_seconds_with_one_line(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    from typer.testing import CliRunner

    from attnflow.cli import app

    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "simulation: self-attention\nparams: {n: 4, t_end: 0.1}\n"
        "grid: {beta: [1.0]}\nmeasurements: [energy]\n"
    )
    address = f"127.0.0.1:{_closed_port()}"
    start = time.monotonic()
    result = CliRunner().invoke(
        app,
        ["sweep", str(spec), "--out", str(tmp_path / "s.zarr"), "--executor", "ray", "--address", address],
    )
    assert time.monotonic() - start < 30
    assert result.exit_code == 2, result.output
    assert f"no Ray cluster answers at address '{address}'" in result.output
    assert "Traceback" not in result.output
