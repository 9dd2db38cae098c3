"""Reading a sweep spec runs no code and is bounded; ambiguous grid values are refused."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from attnflow.sweep import SpecError, SweepSpec, check_target, load_spec
from attnflow.sweep.spec import MAX_RUNS, MAX_SPEC_BYTES

BASE = {"simulation": "self-attention", "measurements": ["energy"]}


def test_reading_a_spec_imports_nothing_and_check_target_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "imported"
    (tmp_path / "spec_side_effect.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "spec_side_effect", raising=False)
    (tmp_path / "spec.yaml").write_text(
        "simulation: self-attention\nimports: [spec_side_effect]\nmeasurements: [energy]\n"
    )
    spec = load_spec(tmp_path / "spec.yaml")
    assert not marker.exists()
    check_target(spec)
    assert marker.exists()


@pytest.mark.parametrize("values", [[1, 1.0], [2.0, 2], [0.5, 5e-1]])
def test_equal_numbers_in_a_grid_are_refused(values: list) -> None:
    with pytest.raises(
        SpecError, match=r"grid\.beta: swept values must be distinct \(1 and 1\.0 are equal\)"
    ):
        SweepSpec.from_dict({**BASE, "grid": {"beta": values}})


def test_quoted_numbers_in_a_grid_are_refused() -> None:
    with pytest.raises(
        SpecError, match=r"grid\.beta: '1e4' is a quoted number; write numbers without quotes"
    ):
        SweepSpec.from_dict({**BASE, "grid": {"beta": ["1e4", "2"]}})


def test_yaml_exponent_numbers_without_a_point_are_numbers(tmp_path: Path) -> None:
    # PyYAML alone reads 1e4 as the string "1e4" (YAML 1.1); YAML 1.2 and TOML read a number.
    (tmp_path / "spec.yaml").write_text(
        "simulation: self-attention\nmeasurements: [energy]\nparams: {t_end: 2e1}\n"
        "grid: {beta: [1e4, 2, -3E-1]}\n"
    )
    spec = load_spec(tmp_path / "spec.yaml")
    assert spec.grid["beta"] == [1e4, 2, -0.3] and spec.params["t_end"] == 20.0
    check_target(spec)


def test_a_grid_over_the_run_bound_is_refused_before_expanding() -> None:
    grid = {name: list(range(1, 101)) for name in ("n", "d", "heads", "save_every")}
    start = time.perf_counter()
    with pytest.raises(SpecError, match=rf"the sweep would have 100000000 runs, more than {MAX_RUNS}"):
        SweepSpec.from_dict({**BASE, "grid": grid})
    with pytest.raises(SpecError, match=r"seeds: 1000000000 replicates would make the sweep more than"):
        SweepSpec.from_dict({**BASE, "grid": {"beta": [1.0, 2.0]}, "seeds": 10**9})
    assert time.perf_counter() - start < 2


def test_a_spec_file_over_the_size_bound_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text("simulation: self-attention\n# " + "x" * MAX_SPEC_BYTES + "\n")
    with pytest.raises(SpecError, match=rf"may be at most {MAX_SPEC_BYTES} bytes"):
        load_spec(path)


def test_a_self_referencing_yaml_alias_is_refused(tmp_path: Path) -> None:
    (tmp_path / "loop.yaml").write_text("simulation: self-attention\nparams: {x: &loop [*loop]}\n")
    with pytest.raises(SpecError, match="more than 100000 values"):
        load_spec(tmp_path / "loop.yaml")


def test_a_run_over_the_memory_budget_fails_the_target_check() -> None:
    spec = SweepSpec.from_dict({**BASE, "params": {"t_end": 1e6}, "grid": {"beta": [1.0, 2.0]}})
    with pytest.raises(SpecError, match=r"\(beta=1\.0\): keeping 10000001 states"):
        check_target(spec)
