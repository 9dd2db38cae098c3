"""Sweep throughput on the local executor: runs per second with 1 and 2 worker processes.

One fixed simulation sweep (n = 64 tokens on S^15, β swept, rk4 to t = 20 with dt = 0.05, the
fraction of close pairs measured at every saved state) is run into a fresh store with 1 worker and
with 2 workers, 1 torch thread per run, and with 1 worker at 2 torch threads, interleaved, several
repeats each; the time includes starting the pool and committing every run to the Zarr store. We
report the median runs/s and the ratio to 1 worker.

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


def timed_sweep(spec: sweep.SweepSpec, workers: int, threads: int, scratch: Path) -> tuple[float, float]:
    """Seconds to run the whole sweep into a fresh store, and the mean seconds of one run in its worker."""
    store = scratch / f"w{workers}-t{threads}.zarr"
    shutil.rmtree(store, ignore_errors=True)
    start = time.perf_counter()
    status = sweep.run(spec, store, sweep.ExecutorConfig(workers=workers, threads_per_run=threads))
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
    runs, repeats = (4, 1) if args.quick else (16, 3)
    spec = make_spec(runs)
    seconds: dict[tuple[int, int], list[float]] = {config: [] for config in CONFIGS}
    per_run: dict[tuple[int, int], list[float]] = {config: [] for config in CONFIGS}
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp:
        scratch = Path(tmp)
        timed_sweep(make_spec(2), 2, 1, scratch)  # warm-up: starts the forkserver once
        for _ in range(repeats):
            for workers, threads in CONFIGS:
                elapsed, one_run = timed_sweep(spec, workers, threads, scratch)
                seconds[(workers, threads)].append(elapsed)
                per_run[(workers, threads)].append(one_run)

    base = runs / statistics.median(seconds[(1, 1)])
    lines = [
        "## Sweeps: local executor throughput",
        "",
        f"`python benchmarks/bench_sweep.py`: a simulation sweep of {runs} runs (n = 64, d = 16, rk4, "
        "t = 20, dt = 0.05, fraction of close pairs at every 10th step), each configuration run into a fresh "
        f"store, interleaved, median of {repeats} repeats; the time includes starting the pool and "
        "committing every run to the Zarr store.",
        "",
        "| workers | torch threads per run | runs/s (median) | vs 1 worker | seconds per run in its worker |",
        "|---:|---:|---:|---:|---:|",
    ]
    for workers, threads in CONFIGS:
        rate = runs / statistics.median(seconds[(workers, threads)])
        inside = statistics.median(per_run[(workers, threads)])
        lines.append(f"| {workers} | {threads} | {rate:.2f} | {rate / base:.2f}× | {inside:.3f} |")
    lines += [
        "",
        f"{machine_line()} {os.cpu_count()} cores. {load_note()} When the cores are already busy, a "
        "second worker or thread competes with those jobs: each run takes longer inside its worker (last "
        "column) and the speed-up falls below 2.",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.quick:
        print(f"wrote {update_section('sweep', text)}")


if __name__ == "__main__":
    main()
