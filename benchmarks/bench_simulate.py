"""simulate() against a plain NumPy reference: Euler steps of SA dynamics on the sphere, float32.

The reference forms the full n×n softmax every step, as research notebooks do. Both sides run the
same number of steps from the same start, side by side, at 1 and 2 torch/BLAS threads; we report
steps per second (median of repeats), the speed ratio, and peak memory (each in a fresh process).

    python benchmarks/bench_simulate.py            # writes its section of docs/benchmarks.md
    python benchmarks/bench_simulate.py --quick    # small sizes, prints only
"""

from __future__ import annotations

import argparse
import json
import statistics

from _report import interleaved, load_note, machine_line, pin_threads, run_worker, update_section

BETA, DT = 4.0, 0.05
# Steps per repeat: enough for a measurable interval without spending minutes on the reference.
STEPS = {256: 50, 1024: 20, 4096: 4, 16384: 1, 65536: 1}


def numpy_reference(x, steps: int):
    import numpy as np

    for _ in range(steps):
        scores = BETA * (x @ x.T)
        scores -= scores.max(axis=1, keepdims=True)
        weights = np.exp(scores)
        weights /= weights.sum(axis=1, keepdims=True)
        drift = weights @ x
        drift -= (drift * x).sum(axis=1, keepdims=True) * x
        x = x + DT * drift
        x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def ours(x, steps: int):
    import attnflow as af

    return af.simulate(
        af.SelfAttention(BETA), x, t_end=steps * DT, dt=DT, method="euler", save_every=steps
    ).final


def worker(impl: str, n: int, d: int, threads: int, repeats: int) -> dict:
    """Run in a fresh process: time ``repeats`` runs and read the peak resident memory."""
    pin_threads(threads)
    import resource

    import attnflow as af

    x0 = af.init.uniform_sphere(n, d, seed=0)
    steps = STEPS[n]
    run = (lambda: numpy_reference(x0.numpy(), steps)) if impl == "numpy" else (lambda: ours(x0, steps))
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = interleaved({impl: run}, repeats, warmup=False)[impl]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "steps_per_s": steps / statistics.median(times),
        "peak_mb": peak / 1024,
        "extra_mb": (peak - baseline) / 1024,
    }


def measure(impl: str, n: int, d: int, threads: int, repeats: int) -> dict:
    return run_worker(__file__, impl, str(n), str(d), str(threads), str(repeats))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="n in {256, 1024} only; print, do not write docs"
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        impl, n, d, threads, repeats = args.worker
        print(json.dumps(worker(impl, int(n), int(d), int(threads), int(repeats))))
        return

    sizes = [256, 1024] if args.quick else [256, 1024, 4096, 16384]
    rows = []
    for n in sizes:
        for d in (3, 64):
            for threads in (1, 2):
                repeats = args.repeats if n <= 4096 else 3
                ref = measure("numpy", n, d, threads, repeats)
                mine = measure("attnflow", n, d, threads, repeats)
                ratio = mine["steps_per_s"] / ref["steps_per_s"]
                rows.append((n, d, threads, ref, mine, ratio))
                print(
                    f"n={n:6d} d={d:3d} threads={threads}: numpy {ref['steps_per_s']:9.2f} steps/s "
                    f"({ref['peak_mb']:7.0f} MB), attnflow {mine['steps_per_s']:9.2f} steps/s "
                    f"({mine['peak_mb']:7.0f} MB), ratio {ratio:5.1f}x",
                    flush=True,
                )
    big = None if args.quick else measure("attnflow", 65536, 3, 2, 1)
    if big is not None:
        print(f"n=65536 d=3: attnflow {big['steps_per_s']:.3f} steps/s, peak {big['peak_mb']:.0f} MB")
    if args.quick:
        return

    lines = [
        "## simulate vs a NumPy reference (SA, sphere, Euler, float32)",
        "",
        "Command: `python benchmarks/bench_simulate.py`. Each cell is the median of "
        f"{args.repeats} repeats (3 for n = 16384) in a fresh process; the NumPy reference forms the full "
        "n×n softmax each step. Peak memory is the process's maximum resident set (torch and NumPy loaded).",
        f"{machine_line()} {load_note()}",
        "",
        "| n | d | threads | NumPy steps/s | attnflow steps/s | speed-up | NumPy peak MB "
        "| attnflow peak MB |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n, d, threads, ref, mine, ratio in rows:
        lines.append(
            f"| {n} | {d} | {threads} | {ref['steps_per_s']:.2f} | {mine['steps_per_s']:.2f} "
            f"| {ratio:.1f}× | {ref['peak_mb']:.0f} | {mine['peak_mb']:.0f} |"
        )
    lines += [
        "",
        f"n = 65 536, d = 3, 2 threads: attnflow {big['steps_per_s']:.3f} steps/s with a peak resident "
        f"memory of {big['peak_mb']:.0f} MB (the NumPy reference would need the 16 GiB score matrix several "
        "times over; not run).",
        "",
        "Reading the numbers: the speed-up grows with n because the reference's n×n temporaries fall out of "
        "the cache while the fused kernel keeps its blocks in it; at d = 64 both sides spend most of their "
        "time in the same matrix products, so the gap is smaller. Below n² = 65 536 scores attnflow runs on "
        "one thread whatever the setting (see docs/dynamics.md).",
    ]
    update_section("simulate", "\n".join(lines))
    print("wrote docs/benchmarks.md")


if __name__ == "__main__":
    main()
