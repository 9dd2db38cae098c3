"""The Ray executor (a local Ray with 2 CPUs) gives exactly the local executor's results."""

from __future__ import annotations

from pathlib import Path

import pytest
import xarray as xr

from attnflow import sweep
from attnflow.sweep import ExecutorConfig, SweepSpec, plan_tasks
from conftest import toy_spec

pytest.importorskip("ray")


@pytest.mark.xdist_group("ray")
def test_ray_executor_matches_the_local_executor(toy: str, tmp_path: Path) -> None:
    spec = SweepSpec.from_dict(toy_spec(quick=True))
    local = sweep.run(spec, tmp_path / "local.zarr", ExecutorConfig(kind="local", workers=2))
    on_ray = sweep.run(spec, tmp_path / "ray.zarr", ExecutorConfig(kind="ray", workers=2))
    assert (on_ray.done, on_ray.failed) == (local.done, local.failed) == (8, 4)
    assert [f.swept for f in on_ray.failures] == [f.swept for f in local.failures]
    assert all("toy failure" in f.traceback for f in on_ray.failures)
    xr.testing.assert_identical(
        sweep.load_results(tmp_path / "ray.zarr"), sweep.load_results(tmp_path / "local.zarr")
    )


@pytest.mark.xdist_group("ray")
def test_ray_runs_batched_tasks_and_stores_each_run_as_the_local_unbatched_sweep(tmp_path: Path) -> None:
    spec = SweepSpec.from_dict(
        {
            "simulation": "self-attention",
            "params": {"n": 8, "d": 3, "t_end": 0.5, "dt": 0.1},
            "grid": {"beta": [0.5, 1.0, 2.0, 4.0]},
            "seeds": 2,
            "measurements": ["energy"],
        }
    )
    # workers=1: two batched tasks of 4 runs (one per seed) on Ray.
    assert [len(task) for task in plan_tasks(spec, list(spec.points()), ExecutorConfig(workers=1))] == [4, 4]
    on_ray = sweep.run(spec, tmp_path / "ray.zarr", ExecutorConfig(kind="ray", workers=1))
    assert (on_ray.done, on_ray.failed) == (8, 0)
    sweep.run(spec, tmp_path / "local.zarr", ExecutorConfig(workers=2, betas_per_task=1))
    xr.testing.assert_identical(
        sweep.load_results(tmp_path / "ray.zarr"), sweep.load_results(tmp_path / "local.zarr")
    )
