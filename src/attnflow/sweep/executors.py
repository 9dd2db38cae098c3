"""Executors: where a sweep's runs execute. Results stream back to the driver, which alone writes the store.

- ``local``: a process pool on this machine. Workers fork from a ``forkserver`` that has imported
  torch and attnflow once (and started no threads), so a new pool starts in milliseconds and no worker
  inherits a half-initialised torch thread pool. Workers exit when the driver dies, even by ``kill -9``
  (see :func:`_exit_with_driver`).
- ``ray``: Ray tasks, on a local Ray started for the sweep or on an existing cluster (``address``);
  each task asks Ray for one CPU and ``gpus_per_run`` GPUs. An address that does not answer within
  :data:`RAY_CONNECT_TIMEOUT_S` fails at once with a one-line error instead of hanging.

Both run *tasks*: a run of the simulation target that differs from others only in β joins them in
one task of up to :attr:`ExecutorConfig.betas_per_task` runs, integrated as one batch
(:func:`~attnflow.sweep.targets.execute_group`); every other run is a task of its own
(:func:`plan_tasks`). Each run's result still comes back, and is committed, on its own.
"""

from __future__ import annotations

import ast
import contextlib
import ctypes
import math
import multiprocessing
import os
import select
import signal
import socket
import sys
import threading
import time
import traceback
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from attnflow._validate import one_of, positive_int
from attnflow.sweep.spec import RunPoint, SweepSpec
from attnflow.sweep.targets import RunResult, SimulationTarget, execute_group, resolve_target

EXECUTORS = ("local", "ray")
#: Seconds to wait for a Ray cluster's address to accept a connection before giving up.
RAY_CONNECT_TIMEOUT_S = 10.0
#: The most runs one batched task holds by default: past a few dozen small runs a batch gains little
#: (64 runs of n = 32 in one batch run about 8x faster than a loop: benchmarks/bench_overhead.py in
#: docs/benchmarks.md), while a task's runs are lost
#: together on a kill and reported together.
MAX_BETAS_PER_TASK = 64
#: Batched tasks per worker the default aims at: at least two, so that the progress bar moves and a
#: worker that finishes early finds work.
TASKS_PER_WORKER = 2
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class ExecutorConfig:
    """How to execute a sweep's runs.

    Attributes:
        kind: ``"local"`` (process pool) or ``"ray"``.
        workers: local worker processes, or the CPUs of a local Ray started for the sweep; ``None``
            means one per CPU core available to this process. Ignored when joining a Ray cluster.
        threads_per_run: torch threads inside each run.
        address: an existing Ray cluster to join (``"auto"`` or ``"HOST:PORT"``); ``None`` starts a
            local Ray for the sweep.
        gpus_per_run: GPUs Ray reserves for each run (fractions share a GPU); ``ray`` only.
        betas_per_task: the most simulation runs that differ only in β batched into one task; ``None``
            chooses from the number of workers (:meth:`batch_size`), ``1`` runs every run alone.
    """

    kind: str = "local"
    workers: int | None = None
    threads_per_run: int = 1
    address: str | None = None
    gpus_per_run: float = 0.0
    betas_per_task: int | None = None

    def __post_init__(self) -> None:
        one_of("executor", self.kind, EXECUTORS)
        if self.workers is not None:
            positive_int("workers", self.workers)
        if self.betas_per_task is not None:
            positive_int("betas_per_task", self.betas_per_task)
        positive_int("threads_per_run", self.threads_per_run)
        if not (isinstance(self.gpus_per_run, int | float) and self.gpus_per_run >= 0):
            raise ValueError(f"gpus_per_run must be a number >= 0, got {self.gpus_per_run!r}")
        if self.kind == "local" and (self.address is not None or self.gpus_per_run):
            raise ValueError("address and gpus_per_run apply to the ray executor only (use executor='ray')")

    @property
    def n_workers(self) -> int:
        """The number of local workers (or local Ray CPUs)."""
        return self.workers if self.workers is not None else len(os.sched_getaffinity(0))

    def batch_size(self, batchable: int) -> int:
        """Runs per batched task when ``batchable`` runs could be batched: ``betas_per_task`` if set,
        else as many as leave :data:`TASKS_PER_WORKER` tasks to each worker, at most
        :data:`MAX_BETAS_PER_TASK`."""
        if self.betas_per_task is not None:
            return self.betas_per_task
        return max(1, min(MAX_BETAS_PER_TASK, math.ceil(batchable / (self.n_workers * TASKS_PER_WORKER))))


def plan_tasks(spec: SweepSpec, points: Sequence[RunPoint], config: ExecutorConfig) -> list[list[RunPoint]]:
    """Split ``points`` into tasks: runs of the simulation that differ only in β (same seed, size and
    everything else; noiseless and fixed-step) in groups of at most ``config.batch_size`` runs, every
    other run alone. Tasks come in the order of their first run.
    """
    target = resolve_target(spec.target, spec.imports)
    if not isinstance(target, SimulationTarget) or config.betas_per_task == 1:
        return [[point] for point in points]
    groups: dict[str, list[RunPoint]] = {}
    tasks: list[list[RunPoint]] = []
    for point in points:
        key = target.beta_batch_key(point.params)
        if key is None:
            tasks.append([point])
        else:
            groups.setdefault(key, []).append(point)
    size = config.batch_size(sum(len(group) for group in groups.values()))
    tasks += [
        group[first : first + size] for group in groups.values() for first in range(0, len(group), size)
    ]
    order = {point.key: position for position, point in enumerate(points)}
    return sorted(tasks, key=lambda task: order[task[0].key])


def execute_points(
    spec: SweepSpec, points: Sequence[RunPoint], config: ExecutorConfig
) -> Iterator[tuple[RunPoint, RunResult]]:
    """Run ``points`` with the configured executor, yielding each result as soon as it is ready.

    Args:
        spec: the sweep (its target, imports and measurements travel to the workers).
        points: the runs to execute.
        config: the executor.

    Yields:
        ``(point, result)`` in completion order. A run that raises comes back as a failed result.

    Raises:
        RuntimeError: a local worker process died (the runs in flight are lost, as on a kill; a Ray
            worker that dies fails only its own run).
    """
    if not points:
        return
    task = (spec.target, list(spec.imports), list(spec.measurements))
    tasks = plan_tasks(spec, points, config)
    if config.kind == "local":
        yield from _local(task, tasks, config)
    else:
        yield from _ray(task, tasks, config)


def _crash(err: BaseException) -> RunResult:
    text = "".join(traceback.format_exception(err))
    return RunResult(None, f"{type(err).__name__}: {err}", text, 0.0)


def _local(
    task: tuple[Any, ...], tasks: Sequence[list[RunPoint]], config: ExecutorConfig
) -> Iterator[tuple[RunPoint, RunResult]]:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["attnflow.sweep.targets", "attnflow.experiments"])
    pool = ProcessPoolExecutor(
        max_workers=min(config.n_workers, len(tasks)),
        mp_context=context,
        initializer=_exit_with_driver,
        initargs=(os.getpid(),),
    )
    try:
        futures: dict[Future[list[RunResult]], list[RunPoint]] = {
            pool.submit(
                execute_group, *task, [point.params for point in group], config.threads_per_run
            ): group
            for group in tasks
        }
        pending = set(futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                try:
                    results = future.result()
                except BrokenProcessPool as err:
                    script = unguarded_main_script()
                    if script is not None:
                        raise RuntimeError(
                            f"the worker processes could not start: each one imports the main script "
                            f'{script}, which has no `if __name__ == "__main__":` guard and so starts '
                            "the sweep again while importing; put the code that runs the sweep under "
                            "that guard"
                        ) from None
                    raise RuntimeError(
                        "a worker process died (killed, out of memory, or it could not start); the runs in "
                        "flight were not recorded. Run the same command again to resume."
                    ) from err
                yield from zip(futures[future], results, strict=True)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _exit_with_driver(driver: int) -> None:
    """Make this worker exit when the sweep's driver process dies (worker initializer).

    A killed driver (``kill -9``, out of memory) runs no clean-up, and a worker blocked on the pool's
    queue never sees end-of-file (every worker holds the queue's write end too), so without this the
    forkserver, the workers and the resource tracker live on. Two guards: the kernel kills the worker
    when its parent (the forkserver) dies (``PR_SET_PDEATHSIG``), and a daemon thread waits on the
    driver itself (a pidfd, polled where pidfds are missing) and ends the worker when it is gone.
    """
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    try:
        pidfd = os.pidfd_open(driver)
    except ProcessLookupError:
        os._exit(1)  # the driver died while this worker was starting
    except (OSError, AttributeError):
        pidfd = None

    def watch() -> None:
        if pidfd is not None:
            select.select([pidfd], [], [])  # readable once the driver has exited
        else:
            while _alive(driver):
                time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="attnflow-driver-watch", daemon=True).start()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def unguarded_main_script() -> str | None:
    """The main script, if it has no ``if __name__ == "__main__":`` guard (else ``None``).

    Local workers start from a forkserver, which imports the main script (as ``__mp_main__``) before
    it runs anything; a script that starts a sweep at import then starts it again in the workers,
    which multiprocessing refuses, and the pool breaks. Interactive sessions and ``python -c`` have
    no script file and are never the cause.
    """
    path = getattr(sys.modules.get("__main__"), "__file__", None)
    if not path or not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as file:
            tree = ast.parse(file.read(), path)
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and any(
            isinstance(side, ast.Name) and side.id == "__name__" for side in (node.left, *node.comparators)
        ):
            return None
    return path


@contextmanager
def _python_path(path: str) -> Iterator[None]:
    """Set ``PYTHONPATH`` while a local Ray starts, so its workers import what the driver imports.

    (A ``runtime_env`` would do the same, but Ray then starts a second set of workers for it.)
    """
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = path
    try:
        yield
    finally:
        if old is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = old


def _probe(address: str, timeout: float = RAY_CONNECT_TIMEOUT_S) -> None:
    """Fail fast unless a Ray cluster's ``HOST:PORT`` (or ``ray://HOST:PORT``) accepts a connection.

    ``ray.init`` retries an unreachable address for minutes; one TCP connection tells within
    ``timeout``. ``"auto"`` (a local cluster found by Ray itself) is left to Ray.

    Raises:
        ConnectionError: nothing answers at the address within ``timeout`` seconds.
    """
    host_port = address.removeprefix("ray://")
    host, sep, port = host_port.rpartition(":")
    if not sep or not port.isdigit():
        return
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except OSError as err:
        reason = "timed out" if isinstance(err, TimeoutError) else (err.strerror or type(err).__name__)
        raise ConnectionError(
            f"no Ray cluster answers at address {address!r} ({reason} within {timeout:g} s); "
            "start one there, or omit the address to start a local Ray"
        ) from None


def _ray(
    task: tuple[Any, ...], tasks: Sequence[list[RunPoint]], config: ExecutorConfig
) -> Iterator[tuple[RunPoint, RunResult]]:
    try:
        import ray
    except ImportError:
        raise ImportError("the ray executor needs Ray: pip install 'attnflow[ray]'") from None

    started = not ray.is_initialized()
    if started:
        options: dict[str, Any] = {"logging_level": "ERROR", "log_to_driver": False}
        if config.address is None:
            with _python_path(os.pathsep.join(p for p in sys.path if p)):
                ray.init(num_cpus=config.n_workers, include_dashboard=False, **options)
        else:
            _probe(config.address)
            ray.init(address=config.address, **options)
    try:
        remote = ray.remote(execute_group).options(num_cpus=1, num_gpus=config.gpus_per_run, max_retries=0)
        refs = {
            remote.remote(*task, [point.params for point in group], config.threads_per_run): group
            for group in tasks
        }
        while refs:
            done, _ = ray.wait(list(refs), num_returns=1)
            for ref in done:
                group = refs.pop(ref)
                try:
                    results = ray.get(ref)
                except Exception as err:  # the worker died or the task could not be scheduled
                    results = [_crash(err)] * len(group)
                yield from zip(group, results, strict=True)
    finally:
        if started:
            ray.shutdown()
