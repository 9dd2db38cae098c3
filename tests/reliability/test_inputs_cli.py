"""Every bad value a command-line user can type ends in one line, ``error: ...``, and exit status 2."""

from __future__ import annotations

import errno
import re
import sys
import time
import types
from pathlib import Path

import pytest
from typer.testing import CliRunner

from attnflow import Trajectory
from attnflow.cli import app
from attnflow.sweep.executors import unguarded_main_script

runner = CliRunner()

SIMULATE = ["simulate", "--n", "4", "--d", "3", "--t-end", "0.2", "--dt", "0.1", "--no-progress"]


def _one_line_error(result, pattern: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output

    assert re.search(pattern, lines[0]), lines[0]


def test_an_out_path_that_cannot_be_written(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    result = runner.invoke(app, [*SIMULATE, "--out", str(tmp_path / "a-file" / "run.zarr")])
    _one_line_error(result, r"a-file")


def test_a_full_disk_while_saving(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(self: Trajectory, path: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(Trajectory, "save", full)
    result = runner.invoke(app, [*SIMULATE, "--out", str(tmp_path / "run.zarr")])
    _one_line_error(result, r"^error: no space left on the device while writing .*run\.zarr")


@pytest.mark.parametrize(("suffix", "content"), [(".pt", b"not a torch file"), (".npy", b"\x93NUMPY junk")])
def test_a_garbage_start_file(tmp_path: Path, suffix: str, content: bytes) -> None:
    start = tmp_path / f"start{suffix}"
    start.write_bytes(content)
    args = [*SIMULATE, "--start", "file", "--start-file", str(start), "--out", str(tmp_path / "r.zarr")]
    _one_line_error(runner.invoke(app, args), r"cannot read a token cloud from .*start")


def test_a_spec_that_is_not_utf8(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_bytes(b"simulation: self-attention\nname: caf\xe9\n")
    result = runner.invoke(app, ["sweep", str(spec), "--out", str(tmp_path / "s.zarr")])
    _one_line_error(result, r"is not UTF-8 text")


def test_a_yaml_alias_bomb_fails_fast(tmp_path: Path) -> None:
    levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True):
        levels.append(f"{name}: &{name} [{','.join([f'*{previous}'] * 9)}]")
    bomb = "simulation: self-attention\nmeasurements: [energy]\nparams:\n" + "".join(
        f"  {line}\n" for line in levels
    )
    assert len(bomb) < 700
    (tmp_path / "bomb.yaml").write_text(bomb)
    start = time.perf_counter()
    result = runner.invoke(app, ["sweep", str(tmp_path / "bomb.yaml"), "--out", str(tmp_path / "s.zarr")])
    assert time.perf_counter() - start < 10
    _one_line_error(result, r"more than 100000 values")
    assert not (tmp_path / "s.zarr").exists()


def test_dry_run_checks_the_target_and_writes_nothing(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "simulation: self-attention\nparams: {n: 4, t_end: 1e2}\ngrid: {beta: [1, 2]}\nseeds: 3\n"
        "measurements: [energy]\n"
    )
    result = runner.invoke(app, ["sweep", str(spec), "--out", str(tmp_path / "s.zarr"), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "6 runs" in result.output
    assert not (tmp_path / "s.zarr").exists()
    spec.write_text("simulation: self-attention\ngrid: {temperature: [1, 2]}\nmeasurements: [energy]\n")
    result = runner.invoke(app, ["sweep", str(spec), "--out", str(tmp_path / "s.zarr"), "--dry-run"])
    _one_line_error(result, r"grid\.temperature: unknown parameter")


def test_a_store_of_another_kind_for_the_phase_diagram(tmp_path: Path) -> None:
    (tmp_path / "not-a-store").mkdir()
    result = runner.invoke(app, ["plot", "phase-diagram", str(tmp_path / "not-a-store")])
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_a_bug_keeps_its_traceback(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def broken(self: Trajectory, path: object) -> None:
        raise ZeroDivisionError("a bug, not the user's error")

    monkeypatch.setattr(Trajectory, "save", broken)
    result = runner.invoke(app, [*SIMULATE, "--out", str(tmp_path / "run.zarr")])
    assert result.exit_code == 1 and isinstance(result.exception, ZeroDivisionError)


def test_a_script_without_a_main_guard_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Local sweep workers import the main script; one that runs the sweep at import breaks the pool.
    unguarded, guarded = tmp_path / "unguarded.py", tmp_path / "guarded.py"
    unguarded.write_text("from attnflow import sweep\nsweep.run(spec, 'out.zarr')\n")
    guarded.write_text("from attnflow import sweep\nif __name__ == '__main__':\n    sweep.run(spec, 'o')\n")
    for script, expected in ((unguarded, str(unguarded)), (guarded, None)):
        monkeypatch.setitem(sys.modules, "__main__", types.SimpleNamespace(__file__=str(script)))
        assert unguarded_main_script() == expected
    monkeypatch.setitem(sys.modules, "__main__", types.SimpleNamespace())  # python -c, a notebook
    assert unguarded_main_script() is None
