"""Running a sweep into its store: stored values, failures, resume, retry, spec changes, atomic commits."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr

import attnflow
from attnflow import io, sweep
from attnflow.measure import energy, fraction_close_pairs
from attnflow.random import SEED_POLICY, child_int, spawn
from attnflow.simulation import Simulation
from attnflow.sweep import ExecutorConfig, StoreError, SweepSpec, SweepStore
from attnflow.sweep.store import sweep_lock
from attnflow.sweep.targets import RunResult, execute
from conftest import toy_spec

LOCAL = ExecutorConfig(kind="local", workers=2)


def _run_inodes(runs: Path) -> dict[str, int]:
    """Run directory name → inode, for the visible runs (not the hidden lock files beside them)."""
    return {p.name: p.stat().st_ino for p in runs.iterdir() if not p.name.startswith(".")}


def _expected_square(beta: float, scale: float) -> float:
    return beta**2 * scale


def test_local_sweep_stores_every_value_on_the_swept_dimensions(toy: str, tmp_path: Path) -> None:
    spec = SweepSpec.from_dict(toy_spec(quick=True))
    status = sweep.run(spec, tmp_path / "s.zarr", LOCAL)
    assert (status.total, status.done, status.failed, status.pending) == (12, 8, 4, 0)

    ds = sweep.load_results(tmp_path / "s.zarr")
    assert ds["square"].dims == ("beta", "mode", "seed")
    assert ds["curve"].dims == ("beta", "mode", "seed", "time")
    assert ds["pair"].dims == ("beta", "mode", "seed", "pair_dim0")
    np.testing.assert_array_equal(ds["beta"], [0.5, 1.0, 3.0])
    seeds = [child_int(child) for child in spawn(0, 2)]
    np.testing.assert_array_equal(ds["seed"], seeds)
    np.testing.assert_array_equal(ds["time"], np.linspace(0, 1, 5))
    for beta in (0.5, 1.0):
        # quick=True sets scale = 2 (the toy's quick size).
        assert (ds["square"].sel(beta=beta) == _expected_square(beta, 2.0)).all()
        np.testing.assert_array_equal(
            ds["curve"].sel(beta=beta, mode="b", seed=seeds[1]), beta * np.linspace(0, 1, 5)
        )
        assert (ds["agrees"].sel(beta=beta) == 1.0).all()
    for seed in seeds:
        expected = np.random.default_rng(seed).normal()
        assert (ds["noise"].sel(seed=seed, beta=[0.5, 1.0]) == expected).all()
    # Failed runs are NaN in the combined Dataset, marked in run_status, and kept with their traceback.
    assert ds["square"].sel(beta=3.0).isnull().all()
    assert (ds["run_status"].sel(beta=3.0) == "failed").all() and (
        ds["run_status"].sel(beta=0.5) == "ok"
    ).all()
    assert ds.attrs["runs_done"] == 8 and ds.attrs["runs_failed"] == 4
    assert {f.swept["beta"] for f in status.failures} == {3.0}
    assert all("RuntimeError: toy failure at beta=3.0" in f.traceback for f in status.failures)
    assert all("sweep_toy_experiment.py" in f.traceback for f in status.failures)


def test_resume_skips_finished_runs_and_retry_failed_reruns_failures(
    toy: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = SweepSpec.from_dict(toy_spec(grid={"beta": [1.0, 3.0]}, seeds=1))
    store = tmp_path / "s.zarr"
    sweep.run(spec, store, LOCAL)
    runs = SweepStore.open(store).runs
    before = _run_inodes(runs)

    # Resuming runs nothing: every run directory is the very same one (no rewrite).
    status = sweep.run(spec, store, LOCAL)
    assert (status.done, status.failed) == (1, 1)
    assert _run_inodes(runs) == before

    # The toy heals through a marker file (the spec is unchanged); only the failed runs are redone.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sweep-toy-heal").touch()
    status = sweep.run(spec, store, LOCAL, retry_failed=True)
    assert (status.done, status.failed, status.failures) == (2, 0, [])
    after = _run_inodes(runs)
    unchanged = {key for key in before if after[key] == before[key]}
    ok_keys = {p.key for p in spec.points() if p.params["beta"] == 1.0}
    assert unchanged == ok_keys
    ds = sweep.load_results(store)
    assert (ds["square"].sel(beta=3.0) == 9.0).all()


def test_a_changed_spec_is_refused_unless_force_new(toy: str, tmp_path: Path) -> None:
    store = tmp_path / "s.zarr"
    sweep.run(SweepSpec.from_dict(toy_spec(grid={"beta": [1.0]}, seeds=1)), store, LOCAL)
    changed = SweepSpec.from_dict(toy_spec(grid={"beta": [1.0, 2.0]}, seeds=1))
    with pytest.raises(StoreError, match=r"different spec \(it differs in: grid\).*--force-new"):
        sweep.run(changed, store, LOCAL)
    # A new name alone is not a different sweep.
    renamed = SweepSpec.from_dict(toy_spec(grid={"beta": [1.0]}, seeds=1, name="renamed"))
    assert sweep.run(renamed, store, LOCAL).done == 1
    status = sweep.run(changed, store, LOCAL, force_new=True)
    assert (status.total, status.done) == (2, 2)
    assert sweep.load_results(store)["square"].sel(beta=2.0).item() == 4.0


def test_a_run_is_committed_whole_or_not_at_all(
    toy: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = SweepSpec.from_dict(toy_spec(grid={"beta": [1.0]}, seeds=1))
    store = tmp_path / "s.zarr"
    sweep.run(spec, store, LOCAL)
    sweep_store = SweepStore.open(store)
    point = next(spec.points())
    result = execute(spec.target, spec.imports, spec.measurements, {**point.params, "beta": 2.0})
    assert result.ok

    original = xr.Dataset.to_zarr

    def crash_after_writing(self: xr.Dataset, *args: object, **kwargs: object) -> None:
        original(self, *args, **kwargs)
        raise OSError("disk vanished")

    monkeypatch.setattr(xr.Dataset, "to_zarr", crash_after_writing)
    with pytest.raises(OSError, match="disk vanished"):
        sweep_store.commit(point, result)
    monkeypatch.undo()
    # The earlier record is intact (beta = 1 → square 1), and no partial copy is visible.
    assert sweep.load_results(store)["square"].item() == 1.0
    assert sorted(_run_inodes(sweep_store.runs)) == [point.key]

    # A half-written temporary left by a killed process is ignored, then cleaned up by the next run.
    stale = sweep_store.runs / f".{point.key}.tmp-deadbeef"
    stale.mkdir()
    assert sweep.status(store).done == 1
    sweep.run(spec, store, LOCAL)
    assert not stale.exists()


def test_runs_with_different_coordinates_are_joined_on_their_union(toy: str, tmp_path: Path) -> None:
    spec = SweepSpec.from_dict(toy_spec(grid={"points": [3, 5]}, seeds=1))
    sweep.run(spec, tmp_path / "s.zarr", LOCAL)
    curve = sweep.load_results(tmp_path / "s.zarr")["curve"].isel(seed=0)
    np.testing.assert_array_equal(curve["time"], [0.0, 0.25, 0.5, 0.75, 1.0])
    np.testing.assert_array_equal(curve.sel(points=5), [0.0, 0.25, 0.5, 0.75, 1.0])
    np.testing.assert_array_equal(curve.sel(points=3), [0.0, np.nan, 0.5, np.nan, 1.0])


def test_zipped_parameters_share_one_dimension(toy: str, tmp_path: Path) -> None:
    spec = SweepSpec.from_dict(toy_spec(grid={}, zip={"scale": [1.0, 3.0], "beta": [2.0, 0.5]}, seeds=None))
    sweep.run(spec, tmp_path / "s.zarr", LOCAL)
    ds = sweep.load_results(tmp_path / "s.zarr")
    assert ds["square"].dims == ("scale",)
    np.testing.assert_array_equal(ds["beta"], [2.0, 0.5])  # a coordinate along "scale"
    np.testing.assert_array_equal(ds["square"], [2.0**2 * 1.0, 0.5**2 * 3.0])


def test_values_of_every_supported_kind_become_labelled_variables() -> None:
    time = np.array([0.0, 0.5])
    values = {
        "number": 2.5,
        "flag": True,
        "label": "two",
        "tensor": torch.arange(6.0).reshape(2, 3),
        "series": xr.DataArray([1.0, 2.0], dims="time", coords={"time": time}, attrs={"beta": 3.0}),
        "clusters": xr.Dataset({"count": ("time", [3, 1])}, coords={"time": time}),
    }
    ds = sweep.values_to_dataset(values)
    assert ds["tensor"].dims == ("tensor_dim0", "tensor_dim1")
    np.testing.assert_array_equal(ds["tensor"], np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(ds["clusters_count"], [3, 1])
    np.testing.assert_array_equal(ds["time"], time)
    assert ds["series"].attrs == {} and ds["label"].item() == "two" and bool(ds["flag"]) is True
    with pytest.raises(TypeError, match="value 'bad' has type dict"):
        sweep.values_to_dataset({"bad": {"a": 1}})
    with pytest.raises(TypeError, match="value 'ragged' is not a regular array"):
        sweep.values_to_dataset({"ragged": [[1.0], [1.0, 2.0]]})


def test_execute_never_raises_and_reports_the_traceback(toy: str) -> None:
    spec = SweepSpec.from_dict(toy_spec(measurements=["no_such_value"]))
    result = execute(spec.target, spec.imports, spec.measurements, {"beta": 1.0})
    assert isinstance(result, RunResult) and not result.ok
    assert "returned no value(s) ['no_such_value']" in result.error and "Traceback" in result.traceback


def test_opening_something_that_is_not_a_store(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no sweep store"):
        sweep.load_results(tmp_path / "missing.zarr")
    (tmp_path / "plain").mkdir()
    with pytest.raises(StoreError, match="not an attnflow sweep store"):
        sweep.load_results(tmp_path / "plain")
    other = io.write_dataset(tmp_path / "data.zarr", xr.Dataset({"a": ("x", [1.0])}))
    with pytest.raises(StoreError, match="is a dataset store, not a sweep store"):
        sweep.load_results(other)


def test_only_one_sweep_writes_a_store_at_a_time(toy: str, tmp_path: Path) -> None:
    spec = SweepSpec.from_dict(toy_spec(grid={"beta": [1.0]}, seeds=1))
    store = tmp_path / "s.zarr"
    sweep.run(spec, store, LOCAL)
    with sweep_lock(store), pytest.raises(StoreError, match="another sweep is running"):
        sweep.run(spec, store, LOCAL)
    assert os.path.exists(tmp_path / ".s.zarr.sweep.lock")


def test_a_simulation_sweep_stores_the_measurements_of_each_simulation(tmp_path: Path) -> None:
    raw = {
        "simulation": "self-attention",
        "params": {"n": 6, "d": 3, "t_end": 0.4, "dt": 0.1, "dtype": "float64", "seed": 5},
        "grid": {"beta": [1.0, 4.0]},
        "seeds": 2,
        "measurements": ["energy", {"name": "fraction_close_pairs", "as": "close", "eps": 0.01}],
    }
    spec = SweepSpec.from_dict(raw)
    status = sweep.run(spec, tmp_path / "s.zarr", ExecutorConfig(workers=1))
    assert (status.done, status.failed) == (4, 0)
    ds = sweep.load_results(tmp_path / "s.zarr")
    assert ds["energy"].dims == ("beta", "seed", "time")
    # Each run is the Simulation of its parameters; energy takes the run's beta (its declared `use`).
    for point in spec.points():
        traj = Simulation.from_flat(point.params).run()
        where = {"beta": point.params["beta"], "seed": point.params["seed"]}
        np.testing.assert_allclose(ds["energy"].sel(where), energy(traj, point.params["beta"]).values)
        np.testing.assert_allclose(ds["close"].sel(where), fraction_close_pairs(traj, 0.01).values)


def test_replicate_seeds_are_independent_children_of_the_base_seed(toy: str) -> None:
    # Replicates are the spawned children of the base seed: two sweeps with base seeds 0 and 1 never
    # share a run (the old scheme ran seeds range(base, base + k), so bases 0 and 1 shared four of five).
    first = SweepSpec.from_dict(toy_spec(params={"seed": 0}, seeds=5))
    second = SweepSpec.from_dict(toy_spec(params={"seed": 1}, seeds=5))
    assert first.seeds == tuple(child_int(child) for child in spawn(0, 5))
    assert second.seeds == tuple(child_int(child) for child in spawn(1, 5))
    assert set(first.seeds).isdisjoint(second.seeds)
    assert SweepSpec.from_dict(toy_spec(seeds=5)).seeds == first.seeds  # the base seed defaults to 0
    # Every run gets its replicate's seed (the swept value replaces the base).
    assert sorted({p.params["seed"] for p in second.points()}) == sorted(second.seeds)
    # A list names the seeds themselves.
    assert SweepSpec.from_dict(toy_spec(seeds=[3, 17])).seeds == (3, 17)


def test_the_store_is_marked_and_names_its_seed_policy(toy: str, tmp_path: Path) -> None:
    spec = SweepSpec.from_dict(toy_spec(grid={"beta": [1.0]}, seeds=2))
    store = tmp_path / "s.zarr"
    sweep.run(spec, store, LOCAL)
    assert io.read_kind(store) == "sweep"
    ds = sweep.load_results(store)
    assert ds.attrs["seed_policy"] == SEED_POLICY
    xr.testing.assert_identical(attnflow.load(store), ds)
    assert all(
        sweep_store_run.attrs["seed_policy"] == SEED_POLICY
        for sweep_store_run in (SweepStore.open(store).read_run(p.key) for p in spec.points())
    )


def test_a_format_1_store_still_opens(toy: str, tmp_path: Path) -> None:
    import zarr

    spec = SweepSpec.from_dict(toy_spec(grid={"beta": [1.0]}, seeds=[0]))
    store = tmp_path / "s.zarr"
    sweep.run(spec, store, LOCAL)
    root = zarr.open_group(str(store), mode="r+")
    for name in ("attnflow_kind", "attnflow_format", "seed_policy"):
        del root.attrs[name]
    root.attrs["attnflow_sweep"] = 1
    assert sweep.load_results(store)["square"].item() == 1.0
    assert sweep.run(spec, store, LOCAL).done == 1


def test_progress_goes_to_any_progress_object(toy: str, tmp_path: Path) -> None:
    class Recorder:
        def __init__(self) -> None:
            self.events: list[tuple] = []

        def start(self, description: str, total: float, unit: str = "") -> None:
            self.events.append(("start", description, total, unit))

        def update(self, completed: float, **fields: object) -> None:
            self.events.append(("update", completed, fields))

        def finish(self) -> None:
            self.events.append(("finish",))

    spec = SweepSpec.from_dict(toy_spec(grid={"beta": [1.0, 3.0]}, seeds=1))
    recorder = Recorder()
    sweep.run(spec, tmp_path / "s.zarr", LOCAL, progress=recorder)
    assert recorder.events[0] == ("start", "sweep", 2, "runs") and recorder.events[-1] == ("finish",)
    assert recorder.events[1] == ("update", 0, {"done": 0, "failed": 0})
    assert recorder.events[-2] == ("update", 2, {"done": 1, "failed": 1})
    # Resuming starts from the stored counts.
    again = Recorder()
    sweep.run(spec, tmp_path / "s.zarr", LOCAL, progress=again)
    assert again.events[1:] == [("update", 2, {"done": 1, "failed": 1}), ("finish",)]
