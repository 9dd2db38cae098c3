"""The ``attnflow sweep`` and ``attnflow plot phase-diagram`` commands."""

from __future__ import annotations

from pathlib import Path

import yaml
from PIL import Image
from typer.testing import CliRunner

from attnflow import sweep
from attnflow.cli import app
from conftest import toy_spec

runner = CliRunner()


def _write(path: Path, spec: dict) -> Path:
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def test_sweep_then_phase_diagram(toy: str, tmp_path: Path) -> None:
    spec = _write(tmp_path / "s.yaml", toy_spec(seeds=1))
    store = tmp_path / "s.zarr"
    result = runner.invoke(app, ["sweep", str(spec), "--out", str(store), "--workers", "2", "--quiet"])
    # Runs above beta = 2.5 fail: the sweep finishes, reports them, and exits with status 1.
    assert result.exit_code == 1, result.output
    output = " ".join(result.output.split())  # rich wraps long lines
    assert "4 done, 2 failed, 0 pending of 6 runs" in output
    assert "RuntimeError: toy failure at beta=3.0" in output
    assert sweep.status(store).failed == 2

    figure = tmp_path / "curve.png"
    args = ["plot", "phase-diagram", str(store), "--var", "curve", "--x", "time", "--y", "beta"]
    result = runner.invoke(app, [*args, "--facet", "mode", "--contour", "0.5", "--out", str(figure)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == str(figure)
    with Image.open(figure) as image:
        assert image.size[0] > 600 and image.size[1] > 300  # two panels side by side

    result = runner.invoke(app, ["plot", "phase-diagram", str(store), "--var", "nope"])
    assert result.exit_code == 2 and "no variable 'nope'" in result.output
    result = runner.invoke(app, ["plot", "phase-diagram", str(store), "--var", "square", "--x", "time"])
    assert result.exit_code == 2 and "x: 'square' has no dimension 'time'" in result.output


def test_bad_specs_fail_before_anything_runs(toy: str, tmp_path: Path) -> None:
    store = tmp_path / "s.zarr"
    bad = [
        ({"grid": {"temperature": [1.0]}}, "grid.temperature: unknown parameter"),
        ({"grid": {"beta": []}}, "grid.beta is empty"),
        ({"grid": {"beta": ["hot"]}}, "parameter 'beta' must be like its default"),
    ]
    for number, (changes, message) in enumerate(bad):
        spec = _write(tmp_path / f"bad{number}.yaml", toy_spec(**changes))
        result = runner.invoke(app, ["sweep", str(spec), "--out", str(store)])
        assert result.exit_code == 2, result.output
        assert "error:" in result.output and message in " ".join(result.output.split())
        assert not store.exists()

    spec = _write(tmp_path / "good.yaml", toy_spec(seeds=1))
    result = runner.invoke(
        app, ["sweep", str(spec), "--out", str(store), "--executor", "local", "--gpus-per-run", "1"]
    )
    assert result.exit_code == 2 and "apply to the ray executor only" in result.output
    assert not store.exists()


def test_a_bad_betas_per_task_is_one_line_naming_it(toy: str, tmp_path: Path) -> None:
    spec = _write(tmp_path / "s.yaml", toy_spec(seeds=1))
    result = runner.invoke(
        app, ["sweep", str(spec), "--out", str(tmp_path / "s.zarr"), "--betas-per-task", "0"]
    )
    assert result.exit_code == 2 and "betas_per_task" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "s.zarr").exists()
