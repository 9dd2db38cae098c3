"""Sweeps: declarative parameter grids run locally or on Ray into one resumable Zarr store.

A spec (YAML or TOML, see :mod:`attnflow.sweep.spec`) names an experiment or the self-attention
simulation, the parameters to sweep and the measurements to keep. :func:`run` executes the runs not
yet in the store; :func:`load_results` (or ``attnflow.load``) combines the store into one
``xarray.Dataset`` whose dimensions are the swept parameters.

Example:
    >>> from attnflow import sweep
    >>> spec = sweep.load_spec("examples/sweeps/quick-phase.toml")  # doctest: +SKIP
    >>> sweep.run(spec, "runs/phase.zarr", progress=True)  # doctest: +SKIP
    >>> ds = sweep.load_results("runs/phase.zarr")  # doctest: +SKIP
"""

from attnflow.sweep.executors import EXECUTORS, ExecutorConfig, plan_tasks
from attnflow.sweep.runner import run
from attnflow.sweep.spec import RunPoint, SpecError, SweepSpec, check_target, load_spec
from attnflow.sweep.store import Failure, StoreError, SweepStatus, SweepStore, load_results
from attnflow.sweep.targets import RunResult, execute, execute_group, values_to_dataset


def status(store: str) -> SweepStatus:
    """How far the sweep in ``store`` has got: counts of done/failed/pending runs and the failures.

    Raises:
        FileNotFoundError: nothing at ``store``.
        StoreError: ``store`` is not a sweep store.
    """
    return SweepStore.open(store).status()


__all__ = [
    "EXECUTORS",
    "ExecutorConfig",
    "Failure",
    "RunPoint",
    "RunResult",
    "SpecError",
    "StoreError",
    "SweepSpec",
    "SweepStatus",
    "SweepStore",
    "check_target",
    "execute",
    "execute_group",
    "load_results",
    "load_spec",
    "plan_tasks",
    "run",
    "status",
    "values_to_dataset",
]
