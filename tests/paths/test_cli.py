"""``attnflow paths train`` writes its checkpoint, history, trace and figure, and resumes."""

from __future__ import annotations

import json

import typer
from typer.testing import CliRunner

from attnflow.cli import paths
from attnflow.cli._errors import guard_commands
from attnflow.paths import ARCHITECTURES, WORLDS
from attnflow.trajectory import Trajectory

OPTIONS = ["--steps", "6", "--eval-every", "3", "--d-model", "8", "--n-layers", "1", "--seq-len", "8"]


def _app() -> typer.Typer:
    app = typer.Typer()
    paths.register(app)
    guard_commands(app)  # as attnflow.cli does for every command

    @app.callback()
    def main() -> None:
        """Test app."""

    return app


def test_train_writes_its_outputs(tmp_path) -> None:
    out = tmp_path / "run"
    args = ["paths", "train", "--out", str(out), "--eval-paths", "8", "--no-progress", *OPTIONS]
    result = CliRunner().invoke(_app(), args)
    assert result.exit_code == 0, result.output
    history = json.loads((out / "history.json").read_text())
    assert [h["step"] for h in history] == [0, 3, 6]
    assert Trajectory.load(out / "trace.zarr").axis == "layer"
    assert (out / "kl.png").stat().st_size > 0
    again = CliRunner().invoke(_app(), args)  # a finished checkpoint: nothing to train
    assert again.exit_code == 0, again.output
    # The finished folder keeps its whole learning curve.
    assert json.loads((out / "history.json").read_text()) == history


def test_choices_match_the_library() -> None:
    assert tuple(w.value for w in paths.WorldName) == WORLDS
    assert tuple(a.value for a in paths.Architecture) == ARCHITECTURES


def test_bad_options_fail_clearly(tmp_path) -> None:
    result = CliRunner().invoke(
        _app(), ["paths", "train", "--out", str(tmp_path), "--world", "zipf", "--no-progress", *OPTIONS]
    )
    assert result.exit_code != 0 and "zipf" in result.output
    result = CliRunner().invoke(
        _app(), ["paths", "train", "--out", str(tmp_path), "--d-model", "9", "--no-progress", *OPTIONS[:4]]
    )
    assert result.exit_code == 2 and "divisible" in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
