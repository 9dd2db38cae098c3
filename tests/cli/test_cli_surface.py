"""The command line as a new user meets it: --version, flag help, the experiments listing at 80 columns."""

import re

from typer.testing import CliRunner

from attnflow import __version__, experiments
from attnflow.cli import app

WIDTH = {"COLUMNS": "80", "TERM": "dumb", "NO_COLOR": "1"}


def _invoke(*args: str):
    return CliRunner().invoke(app, list(args), env=WIDTH, prog_name="attnflow")


def test_version_prints_the_package_version():
    result = _invoke("--version")
    assert result.exit_code == 0
    assert result.output.strip() == f"attnflow {__version__}"


def test_flags_show_no_value_placeholder_and_help_does_not_break_mid_sentence():
    for args in (["--help"], ["reproduce", "--help"], ["simulate", "--help"], ["paths", "train", "--help"]):
        result = _invoke(*args)
        assert result.exit_code == 0, result.output
        assert "<bool>" not in result.output
    # The docstring's second paragraph wraps at the terminal width, not at its source line breaks.
    text = " ".join(_invoke("reproduce", "--help").output.split())
    assert "(an inconclusive verdict says the size cannot decide, not that the claim failed)" in text


def test_experiments_fit_80_columns_with_every_name_whole():
    result = _invoke("experiments")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert max(len(line) for line in lines) <= 80
    for name in experiments.available():
        assert re.search(rf"\b{re.escape(name)}\b", result.output), name
    assert "…" not in result.output
    # The long form adds each full citation and the parameters.
    long = _invoke("experiments", "--long")
    assert long.exit_code == 0 and "arXiv:2312.10794" in long.output and "parameters" in long.output


def test_reproduce_with_docs_names_the_changed_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    small = ["--set", "variants=[SA]", "--set", "n=6", "--set", "seeds=1", "--set", "horizon=20.0"]
    page = tmp_path / "docs" / "reproduce.md"
    result = _invoke("reproduce", "cone-collapse", "--quick", "--out", "out", *small, "--docs", str(page))
    assert result.exit_code == 0, result.output
    listed = " ".join(result.output.split())
    assert f"docs: {page}, {page.parent / 'figures' / 'reproduce' / 'cone-collapse.png'}" in listed
    # At 80 columns the summary keeps one row per experiment; the measured values are in the report.
    # (Paths are printed whole, so only the table is held to the width.)
    table = [line for line in result.output.splitlines() if line[:1] in "┏┃┡│└"]
    assert table and max(len(line) for line in table) <= 80
    row = next(line for line in table if "cone-collapse" in line)
    assert "agrees" in row
