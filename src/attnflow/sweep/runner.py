"""Run a sweep into its store: resume, retry failures, refuse a changed spec, show progress."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

from attnflow import progress as _progress
from attnflow.sweep.executors import ExecutorConfig, execute_points
from attnflow.sweep.spec import SweepSpec, check_target
from attnflow.sweep.store import StoreError, SweepStatus, SweepStore, replace_store, sweep_lock


def run(
    spec: SweepSpec,
    store: str | os.PathLike[str],
    executor: ExecutorConfig | None = None,
    retry_failed: bool = False,
    force_new: bool = False,
    progress: _progress.Progress | bool | None = False,
) -> SweepStatus:
    """Run every run of ``spec`` that is not yet in ``store``, committing each as it finishes.

    Re-running with the same spec resumes: finished runs are skipped; a killed sweep loses only the runs
    that were in flight. A run that raises is stored with its traceback and the sweep goes on.

    Args:
        spec: the validated sweep.
        store: the store directory (created if missing).
        executor: where to run (default: a local process pool, one worker per core).
        retry_failed: run failed runs again.
        force_new: discard an existing store made from a different spec instead of refusing.
        progress: ``True`` for a progress bar with ETA and done/failed counts, or a
            :class:`attnflow.progress.Progress` that receives them (``update(finished, done=, failed=)``).

    Returns:
        The store's status afterwards.

    Raises:
        SpecError: the spec does not fit its target (see :func:`~attnflow.sweep.spec.check_target`).
        StoreError: the store was made from a different spec (and ``force_new`` is false), it is not a
            sweep store, or another sweep is running on it.
    """
    check_target(spec)  # imports the spec's modules: before any store is touched
    executor = executor if executor is not None else ExecutorConfig()
    path = Path(store)
    # One lock, beside the store, taken before the store is created: a second sweep started at the same
    # moment is refused instead of creating (and running) a store of its own.
    with sweep_lock(path):
        if not path.exists():
            sweep_store = SweepStore.create(path, spec)
        else:
            sweep_store = SweepStore.open(path)
            changed = spec.differences(sweep_store.spec_dict)
            if changed and not force_new:
                raise StoreError(
                    f"{path} holds a sweep with a different spec (it differs in: {', '.join(changed)}); "
                    "use a new store, or force_new / --force-new to discard it"
                )
            if changed:
                sweep_store = replace_store(path, spec)
        sweep_store.remove_stale_temporaries()
        statuses = sweep_store.statuses()
        points = list(spec.points())
        stored = Counter(statuses.get(point.key) for point in points)
        skip = {"ok"} if retry_failed else {"ok", "failed"}
        todo = [point for point in points if statuses.get(point.key) not in skip]
        done, failed = stored["ok"], 0 if retry_failed else stored["failed"]
        with _progress.task(progress, "sweep", total=spec.n_runs, unit="runs") as reporter:
            reporter.update(done + failed, done=done, failed=failed)
            for point, result in execute_points(spec, todo, executor):
                sweep_store.commit(point, result)
                if result.ok:
                    done += 1
                else:
                    failed += 1
                reporter.update(done + failed, done=done, failed=failed)
        return sweep_store.status(spec)
