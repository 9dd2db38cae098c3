"""Sweep throughput on the local executor: runs per second with 1 and 2 worker processes, each run
alone in its task (per point) against runs that differ only in β batched into one task.

One fixed simulation sweep (n = 64 tokens on S^15, 16 values of β, rk4 to t = 20 with dt = 0.05, the
fraction of close pairs measured at every saved state) is run into a fresh store with 1 worker and
with 2 workers, 1 torch thread per run, and with 1 worker at 2 torch threads, each once per point
(``betas_per_task=1``) and once batched (the default: the runs of one task integrated together by
``Simulation.run_betas``), interleaved, several repeats each; the time includes starting the pool and
committing every run to the Zarr store. We report the median runs/s, the batched/per-point ratio and
the ratio to 1 worker.

    python benchmarks/bench_sweep.py            # writes its section of docs/benchmarks.md
    python benchmarks/bench_sweep.py --quick    # fewer runs and repeats, prints only
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from _report import load_note, machine_line, update_section

from attnflow import sweep

CONFIGS = [(1, 1), (2, 1), (1, 2)]  # (workers, torch threads per run)
BATCHING = {"per point": 1, "batched": None}  # name -> ExecutorConfig.betas_per_task


def make_spec(runs: int) -> sweep.SweepSpec:
    """A simulation sweep of ``runs`` runs of equal cost."""
    return sweep.SweepSpec.from_dict(
        {
            "simulation": "self-attention",
            "params": {"n": 64, "d": 16, "t_end": 20.0, "dt": 0.05, "method": "rk4", "save_every": 10},
            "grid": {"beta": [1.0 + 0.25 * k for k in range(runs)]},
            "measurements": [{"name": "fraction_close_pairs", "eps": 1e-3}],
        }
    )


def timed_sweep(spec: sweep.SweepSpec, config: sweep.ExecutorConfig, scratch: Path) -> tuple[float, float]:
    """Seconds to run the whole sweep into a fresh store, and the mean seconds of one run in its worker."""
    store = scratch / "bench.zarr"
    shutil.rmtree(store, ignore_errors=True)
    start = time.perf_counter()
    status = sweep.run(spec, store, config)
    elapsed = time.perf_counter() - start
    if status.done != spec.n_runs:
        raise RuntimeError(f"benchmark sweep failed: {status.failures[:1]}")
    return elapsed, status.run_seconds / spec.n_runs


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer runs and repeats; print only")
    args = parser.parse_args()
    runs, repeats = (4, 1) if args.quick else (16, 5)
    spec = make_spec(runs)
    configs = {
        (workers, threads, name): sweep.ExecutorConfig(
            workers=workers, threads_per_run=threads, betas_per_task=per_task
        )
        for workers, threads in CONFIGS
        for name, per_task in BATCHING.items()
    }
    seconds: dict[tuple[int, int, str], list[float]] = {key: [] for key in configs}
    per_run: dict[tuple[int, int, str], list[float]] = {key: [] for key in configs}
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp:
        scratch = Path(tmp)
        timed_sweep(make_spec(2), sweep.ExecutorConfig(workers=2), scratch)  # warm-up: starts the forkserver
        for _ in range(repeats):
            for key, config in configs.items():
                elapsed, one_run = timed_sweep(spec, config, scratch)
                seconds[key].append(elapsed)
                per_run[key].append(one_run)

    def rate(workers: int, threads: int, name: str) -> float:
        return runs / statistics.median(seconds[(workers, threads, name)])

    points = list(spec.points())
    base = rate(1, 1, "per point")
    lines = [
        "## Sweeps: local executor throughput",
        "",
        f"`python benchmarks/bench_sweep.py`: a simulation sweep of {runs} values of β (n = 64, d = 16, rk4, "
        "t = 20, dt = 0.05, fraction of close pairs at every 10th step), each configuration run into a fresh "
        f"store, interleaved, median of {repeats} repeats; the time includes starting the pool and "
        "committing every run to the Zarr store. *Per point*: one task per run (`betas_per_task=1`, "
        "the engine before batching); *batched*: the default, runs that differ only in β share a task "
        "and are integrated together by `Simulation.run_betas` (tasks of the size in the last column).",
        "",
        "| workers | torch threads per run | per point runs/s | batched runs/s | batched vs per point "
        "| per point vs 1 worker | seconds per run in its worker (per point / batched) "
        "| runs per batched task |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for workers, threads in CONFIGS:
        alone, batched = rate(workers, threads, "per point"), rate(workers, threads, "batched")
        inside = [statistics.median(per_run[(workers, threads, name)]) for name in BATCHING]
        tasks = sweep.plan_tasks(spec, points, configs[(workers, threads, "batched")])
        lines.append(
            f"| {workers} | {threads} | {alone:.2f} | {batched:.2f} | {batched / alone:.2f}× "
            f"| {alone / base:.2f}× | {inside[0]:.3f} / {inside[1]:.3f} | {max(len(t) for t in tasks)} |"
        )
    lines += [
        "",
        f"{machine_line()} {os.cpu_count()} cores. {load_note()} When the cores are already busy, a "
        "second worker or thread competes with those jobs: each run takes longer inside its worker and the "
        "speed-up falls below 2. A batched run's seconds in its worker are its share of its task's "
        "integration plus its own measurements.",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.quick:
        print(f"wrote {update_section('sweep', text)}")


if __name__ == "__main__":
    main()
