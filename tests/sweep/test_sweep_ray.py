"""The Ray executor (a local Ray with 2 CPUs) gives exactly the local executor's results."""

from __future__ import annotations

from pathlib import Path

import pytest
import xarray as xr

from attnflow import sweep
from attnflow.sweep import ExecutorConfig, SweepSpec
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
