"""Sweep specs: runs enumerated as declared, and every bad spec refused with the key named."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from attnflow.random import child_int, spawn
from attnflow.sweep import SpecError, SweepSpec, check_target, load_spec
from conftest import toy_spec


def test_grid_zip_and_seeds_enumerate_the_product(toy: str) -> None:
    spec = SweepSpec.from_dict(
        toy_spec(
            grid={"beta": [0.5, 1.0]}, zip={"scale": [1.0, 2.0, 3.0], "mode": ["a", "b", "c"]}, seeds=[4, 7]
        )
    )
    points = list(spec.points())
    assert spec.n_runs == len(points) == 2 * 3 * 2
    assert list(spec.dims) == ["beta", "scale", "seed"]
    # Zipped parameters vary together: scale and mode always come in their declared pairs.
    assert {(p.params["scale"], p.params["mode"]) for p in points} == {(1.0, "a"), (2.0, "b"), (3.0, "c")}
    assert {(p.params["beta"], p.params["seed"]) for p in points} == {
        (b, s) for b in (0.5, 1.0) for s in (4, 7)
    }
    assert all(p.params["fail_above"] == 2.5 for p in points)
    # Keys are distinct and depend only on the swept values (stable across processes and spec order).
    assert len({p.key for p in points}) == len(points)
    reordered = SweepSpec.from_dict(
        toy_spec(
            zip={"mode": ["a", "b", "c"], "scale": [1.0, 2.0, 3.0]}, grid={"beta": [1.0, 0.5]}, seeds=[7, 4]
        )
    )
    assert {p.key for p in reordered.points()} == {p.key for p in points}
    # The index locates each run along the dimensions.
    for p in points:
        assert [spec.dims[d][i] for d, i in zip(spec.dims, p.index, strict=True)] == [
            p.params["beta"],
            p.params["scale"],
            p.params["seed"],
        ]


def test_yaml_and_toml_give_the_same_spec(toy: str, tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(
        "experiment: sweep-toy\nimports: [sweep_toy_experiment]\nquick: true\n"
        "grid:\n  beta: [0.5, 1.0]\n  mode: [a, b]\nseeds: 3\nmeasurements: [square, {name: curve, as: c}]\n"
    )
    (tmp_path / "s.toml").write_text(
        'experiment = "sweep-toy"\nimports = ["sweep_toy_experiment"]\nquick = true\nseeds = 3\n'
        'measurements = ["square", {name = "curve", as = "c"}]\n'
        '[grid]\nbeta = [0.5, 1.0]\nmode = ["a", "b"]\n'
    )
    from_yaml, from_toml = load_spec(tmp_path / "s.yaml"), load_spec(tmp_path / "s.toml")
    assert from_yaml.to_dict() == from_toml.to_dict()
    assert from_yaml.seeds == tuple(child_int(child) for child in spawn(0, 3))
    assert from_yaml.measurements[1] == {"name": "curve", "as": "c", "kwargs": {}}


@pytest.mark.parametrize(
    ("changes", "pattern"),
    [
        ({"grid": {"temperature": [1.0]}}, r"grid\.temperature: unknown parameter 'temperature'"),
        ({"grid": {"beta": []}}, r"grid\.beta is empty"),
        ({"grid": {"beta": ["hot", "cold"]}}, r"beta.*must be like its default"),
        ({"grid": {"beta": [1.0, "x"]}}, r"grid\.beta: swept values must all be of one kind"),
        ({"grid": {"beta": [1.0, 1.0]}}, r"grid\.beta: swept values must be distinct"),
        ({"grid": {"beta": 1.0}}, r"grid\.beta must be a list"),
        ({"grid": {"beta": [[1.0]]}}, r"grid\.beta: swept values must be numbers, strings or booleans"),
        ({"grid": {"seed": [1, 2]}}, r"grid\.seed: set seeds with the top-level 'seeds' key"),
        ({"params": {"scale": "big"}}, r"scale.*must be like its default"),
        ({"params": {"beta": 2.0}}, r"grid\.beta: parameter 'beta' is already set in params"),
        ({"zip": {"scale": [1.0, 2.0], "mode": ["a"]}}, r"zip: every zipped list must have the same length"),
        ({"seeds": 0}, r"seeds must be a count >= 1"),
        ({"seeds": [1, -2]}, r"seeds: every seed must be an integer >= 0"),
        ({"params": {"seed": -1}, "seeds": 2}, r"params\.seed must be a non-negative integer"),
        ({"params": {"seed": 1}, "seeds": [2, 3]}, r"params\.seed: a list of seeds names every seed"),
        ({"zip": {"seed": [1, 2]}}, r"zip\.seed: set seeds with the top-level 'seeds' key"),
        ({"experiment": "no-such-experiment"}, r"experiment: unknown experiment 'no-such-experiment'"),
        ({"imports": ["no_such_module_anywhere"]}, r"No module named 'no_such_module_anywhere'"),
        ({"simulation": "self-attention"}, r"exactly one of 'experiment: NAME' or 'simulation"),
        ({"grids": {}}, r"unknown key\(s\) \['grids'\]"),
        ({"quick": "yes"}, r"quick must be true or false"),
        (
            {"measurements": ["square", {"name": "curve", "as": "square"}]},
            r"output name 'square' is used twice",
        ),
        ({"measurements": [{"name": "square", "eps": 1}]}, r"measurements: 'square'.*take no arguments"),
    ],
)
def test_bad_experiment_specs_name_the_key(toy: str, changes: dict, pattern: str) -> None:
    with pytest.raises(SpecError, match=pattern):
        check_target(SweepSpec.from_dict(toy_spec(**changes)))


@pytest.mark.parametrize(
    ("spec", "pattern"),
    [
        ({"grid": {"n": [8, 0]}}, r"\(n=0\).*n must be an integer >= 1"),
        ({"grid": {"variant": ["SA", "softmax"]}}, r"variant must be one of"),
        ({"params": {"t_end": -1.0}}, r"t_end must be > 0"),
        ({"params": {"start": "orthogonal", "n": 8, "d": 4}}, r"start 'orthogonal' needs d >= n"),
        ({"params": {"init": "orthogonal"}}, r"params\.init: unknown parameter 'init'"),
        ({"params": {"causal": 1}}, r"causal must be true or false"),
        ({"measurements": ["no_such_measure"]}, r"measurements: unknown measurement 'no_such_measure'"),
        ({"measurements": ["plateaus"]}, r"unknown measurement 'plateaus'"),
        (
            {"measurements": [{"name": "fraction_close_pairs", "epsilon": 0.1}]},
            r"'fraction_close_pairs'.*epsilon",
        ),
        ({"measurements": []}, r"needs at least one measurement"),
        ({"measurements": [{"name": "fourier_modes", "max_mode": 3}]}, r"'fourier_modes' takes a density"),
        (
            {"measurements": ["fraction_close_pairs"]},
            r"'fraction_close_pairs' needs the argument\(s\) \['eps'\]",
        ),
        ({"quick": True}, r"quick applies to experiments only"),
        ({"simulation": "transformer"}, r"simulation: simulation must be one of 'self-attention'"),
    ],
)
def test_bad_simulation_specs_name_the_key(spec: dict, pattern: str) -> None:
    raw = {"simulation": "self-attention", "measurements": ["energy"], **spec}
    with pytest.raises(SpecError, match=pattern):
        check_target(SweepSpec.from_dict(raw))


def test_spec_files_that_do_not_parse(tmp_path: Path) -> None:
    (tmp_path / "s.json").write_text("{}")
    with pytest.raises(SpecError, match=r"must be a \.yaml, \.yml or \.toml file"):
        load_spec(tmp_path / "s.json")
    (tmp_path / "s.yaml").write_text("grid: [unclosed\n")
    with pytest.raises(SpecError, match=re.escape(f"{tmp_path / 's.yaml'} does not parse")):
        load_spec(tmp_path / "s.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(SpecError, match="must be a mapping"):
        load_spec(tmp_path / "list.yaml")
    with pytest.raises(FileNotFoundError, match="no sweep spec"):
        load_spec(tmp_path / "missing.yaml")


@pytest.mark.parametrize(
    "path", sorted((Path(__file__).parents[2] / "examples" / "sweeps").glob("*.[yt][ao]ml"))
)
def test_example_specs_are_valid(path: Path) -> None:
    spec = load_spec(path)
    check_target(spec)
    assert spec.n_runs == len(list(spec.points())) >= 2
