"""Per-step overhead of simulate() on small problems, and batched runs against a loop of runs.

At n = 256, d = 3 one SA step is cheap enough that Python and tensor bookkeeping around SDPA show:
this times a bare SDPA call, a simulate() Euler step (saving only the end, and saving every step), and
64 runs of n = 32 as a loop of simulate() calls against one batched call. Everything is float32 on the
CPU, at 1 and 2 torch threads.

Each repeat is a fresh process per source tree, the trees alternating (side by side, interleaved); a
process times each case after a warm-up and keeps its best of 3 (load spikes on a shared machine only
ever slow a run down); the table holds the medians over repeats.

    python benchmarks/bench_overhead.py                              # this checkout; writes its docs section
    python benchmarks/bench_overhead.py --baseline /path/to/old/src  # before/after; writes its docs section
    python benchmarks/bench_overhead.py --quick                      # 2 repeats, print only
    python benchmarks/bench_overhead.py --compile                    # eager vs torch.compile, print only

``--compile`` times one Euler step at n = 256 (field, projection, step, retraction) eager and compiled
by ``torch.compile`` (inductor's C++ backend), interleaved, and prints ``| threads | eager µs | compiled
µs | speed-up | compile s |``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from _report import interleaved, load_note, machine_line, medians, pin_threads, run_worker, update_section

N, D, STEPS, BETA, DT = 256, 3, 200, 4.0, 0.05
RUNS, RUN_TOKENS, RUN_STEPS = 64, 32, 100
CASES = ("sdpa", "simulate", "simulate_save_every_step", "loop_64_runs", "batch_64_runs")
HERE = Path(__file__).resolve().parent


def worker(threads: int) -> dict[str, float]:
    """Microseconds per step (per run-step for the 64-run cases) of every case, in this process."""
    pin_threads(threads)
    import torch.nn.functional as F

    import attnflow as af

    x0 = af.init.uniform_sphere(N, D, seed=0)
    runs = af.init.uniform_sphere(RUN_TOKENS, D, seed=1, batch=RUNS)
    field = af.SelfAttention(BETA, backend="sdpa")
    q = x0[None, None]

    def sdpa() -> None:
        for _ in range(STEPS):
            F.scaled_dot_product_attention(q, q, q, scale=BETA)

    def simulate(save_every: int):
        return lambda: af.simulate(field, x0, STEPS * DT, DT, method="euler", save_every=save_every)

    def loop() -> None:
        for x in runs:
            af.simulate(field, x, RUN_STEPS * DT, DT, method="euler", save_every=RUN_STEPS)

    def batch() -> None:
        af.simulate(field, runs, RUN_STEPS * DT, DT, method="euler", save_every=RUN_STEPS)

    cases = {
        "sdpa": (sdpa, STEPS),
        "simulate": (simulate(STEPS), STEPS),
        "simulate_save_every_step": (simulate(1), STEPS),
        "loop_64_runs": (loop, RUNS * RUN_STEPS),
        "batch_64_runs": (batch, RUNS * RUN_STEPS),
    }
    # Each case on its own: its best of 3 after a warm-up (load spikes only ever slow a run down).
    return {
        name: 1e6 * min(interleaved({name: run}, 3)[name]) / steps for name, (run, steps) in cases.items()
    }


def compile_worker(threads: int, repeats: int) -> dict[str, float]:
    """One Euler step at n = N (field, projection, step and retraction) eager and through
    ``torch.compile`` (inductor, C++ on the CPU): microseconds per step, and the compile time."""
    pin_threads(threads)
    import torch

    import attnflow as af

    x0 = af.init.uniform_sphere(N, D, seed=0)
    field = af.SelfAttention(BETA, backend="sdpa")

    def step(x):
        y = x + DT * field(0.0, x)
        return y / torch.linalg.vector_norm(y, dim=-1, keepdim=True)

    start = time.perf_counter()
    compiled = torch.compile(step, dynamic=False)
    compiled(x0)
    compile_seconds = time.perf_counter() - start

    def steps(fn):
        def run() -> None:
            x = x0
            for _ in range(STEPS):
                x = fn(x)

        return run

    seconds = medians(interleaved({"eager": steps(step), "compiled": steps(compiled)}, repeats))
    return {"compile_s": compile_seconds, **{name: 1e6 * s / STEPS for name, s in seconds.items()}}


def measure(src: str, threads: int) -> dict[str, float]:
    return run_worker(__file__, str(threads), env={"PYTHONPATH": src})


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--baseline", help="a src/ directory of another attnflow checkout to compare with")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="2 repeats; print, do not write docs")
    parser.add_argument(
        "--compile", action="store_true", help="only: an Euler step eager vs torch.compile (prints only)"
    )
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        result = compile_worker(args.worker, args.repeats) if args.compile else worker(args.worker)
        print(json.dumps(result))
        return
    if args.compile:
        for threads in (1, 2):
            r = run_worker(__file__, str(threads), "--compile", "--repeats", str(args.repeats))
            print(
                f"| {threads} | {r['eager']:.1f} | {r['compiled']:.1f} | {r['eager'] / r['compiled']:.2f}× "
                f"| {r['compile_s']:.0f} |"
            )
        return
    trees = {"this checkout": str(HERE.parent / "src")}
    if args.baseline:
        trees = {"baseline": str(Path(args.baseline).resolve()), **trees}
    repeats = 2 if args.quick else args.repeats
    results: dict[tuple[str, int], list[dict[str, float]]] = {}
    for _ in range(repeats):
        for threads in (1, 2):
            for label, src in trees.items():
                results.setdefault((label, threads), []).append(measure(src, threads))
    lines = [
        "## Small problems: per-step overhead and batched runs",
        "",
        f"Command: `python benchmarks/bench_overhead.py{' --baseline OLD/src' if args.baseline else ''}`. "
        f"Microseconds per step (per run and step for the 64-run cases), SA, Euler, float32, d = {D}: "
        f"medians over {repeats} fresh processes"
        + (" per tree, trees alternating" if args.baseline else "")
        + ", each the best of 3 after a warm-up. `overhead` is the share of a simulate() step outside SDPA.",
        "",
        f"| tree | threads | SDPA alone (n={N}) | simulate (n={N}) | saving every step | overhead "
        f"| loop of {RUNS} runs (n={RUN_TOKENS}) | batched | batched speed-up |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for (label, threads), rows in results.items():
        med = {case: statistics.median(row[case] for row in rows) for case in CASES}
        lines.append(
            f"| {label} | {threads} | {med['sdpa']:.1f} | {med['simulate']:.1f} | "
            f"{med['simulate_save_every_step']:.1f} | {1 - med['sdpa'] / med['simulate']:.0%} | "
            f"{med['loop_64_runs']:.1f} | {med['batch_64_runs']:.2f} | "
            f"{med['loop_64_runs'] / med['batch_64_runs']:.1f}× |"
        )
    markdown = "\n".join(lines)
    print(markdown)
    if not args.quick:
        update_section("overhead", f"{markdown}\n\n{machine_line()} {load_note()}\n")


if __name__ == "__main__":
    main()
