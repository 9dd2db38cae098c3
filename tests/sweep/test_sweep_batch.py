"""Batching across β in simulation sweeps: the same stored results, fewer tasks, per-run failures."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr

from attnflow import sweep
from attnflow.integrate import solvers
from attnflow.simulation import Simulation
from attnflow.sweep import ExecutorConfig, SweepSpec, SweepStore
from attnflow.sweep.executors import plan_tasks
from attnflow.sweep.targets import SimulationTarget, execute, execute_group

MEASUREMENTS = ["energy", {"name": "fraction_close_pairs", "as": "close", "eps": 0.01}]


def _spec(**changes: Any) -> SweepSpec:
    raw: dict[str, Any] = {
        "simulation": "self-attention",
        "params": {"n": 8, "d": 3, "t_end": 0.5, "dt": 0.1, "seed": 2},
        "grid": {"method": ["rk4", "dopri5"], "beta": [0.5, 1.0, 2.0, 4.0, 8.0]},
        "seeds": 2,
        "measurements": MEASUREMENTS,
    }
    raw.update(changes)
    return SweepSpec.from_dict(raw)


def _groups(tasks: list[list[sweep.RunPoint]]) -> list[tuple[tuple[str, int], list[float]]]:
    return [((t[0].params["method"], t[0].params["seed"]), [p.params["beta"] for p in t]) for t in tasks]


def test_only_runs_that_differ_in_beta_alone_share_a_task() -> None:
    spec = _spec()
    points = list(spec.points())
    # 10 batchable rk4 runs, 2 workers: ceil(10 / (2 workers x 2 tasks each)) = 3 runs per task.
    tasks = plan_tasks(spec, points, ExecutorConfig(workers=2))
    seeds = spec.seeds
    assert seeds is not None
    rk4 = [group for group in _groups(tasks) if group[0][0] == "rk4"]
    # In the order of their first runs (seed varies fastest in the spec's order).
    assert rk4 == [(("rk4", seed), betas) for betas in ([0.5, 1.0, 2.0], [4.0, 8.0]) for seed in seeds]
    # dopri5 (its step sizes would be shared by the batch) runs alone; every run is in one task.
    assert all(len(task) == 1 for task in tasks if task[0].params["method"] == "dopri5")
    assert sorted(p.key for task in tasks for p in task) == sorted(p.key for p in points)
    assert len(tasks) == 4 + 10
    # betas_per_task sets the size; 1 is the unbatched sweep: one task per run.
    assert [len(t) for t in plan_tasks(spec, points, ExecutorConfig(betas_per_task=5)) if len(t) > 1] == [
        5
    ] * 2
    assert all(len(t) == 1 for t in plan_tasks(spec, points, ExecutorConfig(betas_per_task=1)))
    # Noisy runs draw their noise per batch: never batched.
    noisy = _spec(
        params={"n": 8, "d": 3, "t_end": 0.5, "dt": 0.1, "method": "euler", "noise": 0.1},
        grid={"beta": [1.0, 2.0]},
    )
    assert all(len(t) == 1 for t in plan_tasks(noisy, list(noisy.points()), ExecutorConfig(workers=1)))


def test_the_batch_size_follows_the_pool_within_bounds() -> None:
    assert ExecutorConfig(workers=1).batch_size(10) == 5
    assert ExecutorConfig(workers=16).batch_size(10) == 1
    assert ExecutorConfig(workers=1).batch_size(10_000) == sweep.executors.MAX_BETAS_PER_TASK
    assert ExecutorConfig(workers=1, betas_per_task=7).batch_size(10_000) == 7
    with pytest.raises(ValueError, match="betas_per_task"):
        ExecutorConfig(betas_per_task=0)


def test_a_batched_task_integrates_once_and_matches_each_run_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = _spec(grid={"beta": [0.5, 1.0, 2.0, 4.0]}, seeds=None)
    params = [point.params for point in spec.points()]
    calls = []
    original = solvers.integrate
    monkeypatch.setattr(solvers, "integrate", lambda *a, **k: calls.append(1) or original(*a, **k))
    batched = execute_group(spec.target, spec.imports, spec.measurements, params)
    assert len(calls) == 1  # one batched integration for the four runs
    alone = [execute(spec.target, spec.imports, spec.measurements, p) for p in params]
    assert len(calls) == 1 + 4  # the rival, one task per run, integrates once per run
    for got, want in zip(batched, alone, strict=True):
        assert got.ok and got.seconds > 0
        xr.testing.assert_identical(got.data, want.data)
    # A rival batch that swapped two betas would store other numbers: the comparison can fail.
    swapped = execute_group(spec.target, spec.imports, spec.measurements, [params[1], params[0]])
    assert not swapped[0].data.identical(batched[0].data)


def test_a_failed_batch_runs_each_point_alone_and_failures_stay_per_point(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spec = _spec(grid={"beta": [0.5, 1.0, 2.0]}, seeds=None)
    params = [point.params for point in spec.points()]
    alone = [execute(spec.target, spec.imports, spec.measurements, p) for p in params]

    def refuse(self: Simulation, betas: list[float], **kwargs: Any) -> None:
        raise FloatingPointError("the batch blew up")

    monkeypatch.setattr(Simulation, "run_betas", refuse)
    fallback = execute_group(spec.target, spec.imports, spec.measurements, params)
    for got, want in zip(fallback, alone, strict=True):
        xr.testing.assert_identical(got.data, want.data)
    # A fault of the batching itself (not a blow-up or a budget) is every point's error, not a silent rerun.

    def broken(self: Simulation, betas: list[float], **kwargs: Any) -> None:
        raise TypeError("a bug in the batching")

    monkeypatch.setattr(Simulation, "run_betas", broken)
    faults = execute_group(spec.target, spec.imports, spec.measurements, params)
    assert [r.error for r in faults] == ["TypeError: a bug in the batching"] * len(params)
    monkeypatch.undo()

    measure = SimulationTarget.measure

    def fail_at_two(self: SimulationTarget, simulation: Simulation, traj: Any, entries: Any) -> xr.Dataset:
        if simulation.field.beta == 2.0:
            raise RuntimeError("no measurement at beta 2")
        return measure(self, simulation, traj, entries)

    monkeypatch.setattr(SimulationTarget, "measure", fail_at_two)
    results = execute_group(spec.target, spec.imports, spec.measurements, params)
    assert [r.ok for r in results] == [True, True, False]
    assert (
        results[2].error == "RuntimeError: no measurement at beta 2" and "fail_at_two" in results[2].traceback
    )
    # Points that differ in more than beta are never integrated as one batch (each runs alone).
    monkeypatch.undo()
    different = [params[0], {**params[1], "n": 5}]
    mixed = execute_group(spec.target, spec.imports, spec.measurements, different)
    for got, one in zip(mixed, different, strict=True):
        xr.testing.assert_identical(got.data, execute(spec.target, spec.imports, spec.measurements, one).data)


def test_a_batched_sweep_stores_what_the_unbatched_sweep_stores_and_resumes(tmp_path: Path) -> None:
    spec = _spec()
    batched, unbatched = tmp_path / "batched.zarr", tmp_path / "unbatched.zarr"
    status = sweep.run(spec, batched, ExecutorConfig(workers=2))
    assert (status.done, status.failed) == (20, 0)
    sweep.run(spec, unbatched, ExecutorConfig(workers=2, betas_per_task=1))
    expected = sweep.load_results(unbatched)
    xr.testing.assert_identical(sweep.load_results(batched), expected)
    assert np.isfinite(expected["energy"]).all()

    # Resume: two lost runs of one batch are redone (batched together), the others are left alone.
    store = SweepStore.open(batched)
    lost = [p for p in spec.points() if p.params["method"] == "rk4" and p.params["beta"] in (1.0, 4.0)][:2]
    for point in lost:
        shutil.rmtree(store.runs / point.key)
    kept = {p.key: (store.runs / p.key).stat().st_ino for p in spec.points() if p not in lost}
    assert sweep.status(str(batched)).pending == 2
    assert sweep.run(spec, batched, ExecutorConfig(workers=2)).done == 20
    assert {key: (store.runs / key).stat().st_ino for key in kept} == kept
    xr.testing.assert_identical(sweep.load_results(batched), expected)
