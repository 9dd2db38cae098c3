"""Runs that differ only in β: one batched Simulation.run_betas against a loop of runs, side by side.

The equiangular experiment's phase diagram at full size (n = 32 tokens, 24 values of β, 4 replicates
each: 96 runs per dimension, SA, RK4, float32, dt = 0.1) over a shorter horizon, at d = 8, 128 and 1024:
``spec.replace(beta=β).run(replicates=4)`` for each β (what the experiment did before) against one
``spec.run_betas(betas, replicates=4)`` (what it does now; it integrates the runs in passes of at most
``_PASS_BYTES`` of state). Interleaved in one fresh process per thread count, median of ``--repeats``
after a warm-up round.

    python benchmarks/bench_batched.py            # writes its section of docs/benchmarks.md
    python benchmarks/bench_batched.py --quick    # 2 repeats, prints only
"""

from __future__ import annotations

import argparse
import json

from _report import interleaved, load_note, machine_line, medians, pin_threads, run_worker, update_section

N, BETAS, REPLICATES, DT, T_END = 32, 24, 4, 0.1, 2.0
DIMS = (8, 128, 1024)


def worker(threads: int, repeats: int) -> list[dict]:
    """In a fresh process: the loop and the batch at every dimension, interleaved."""
    pin_threads(threads)
    import numpy as np

    from attnflow import Simulation

    betas = [float(b) for b in np.linspace(0.1, 9.0, BETAS)]
    rows = []
    for d in DIMS:
        spec = Simulation.from_flat({"n": N, "d": d, "t_end": T_END, "dt": DT, "save_every": 5, "seed": 0})
        calls = {
            "loop": lambda spec=spec: [spec.replace(beta=b).run(replicates=REPLICATES) for b in betas],
            "batched": lambda spec=spec: spec.run_betas(betas, replicates=REPLICATES),
        }
        rows.append({"d": d, "threads": threads, **medians(interleaved(calls, repeats))})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="2 repeats; print, do not write docs")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--worker", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(*args.worker)))
        return
    repeats = 2 if args.quick else args.repeats
    rows = [row for threads in (1, 2) for row in run_worker(__file__, str(threads), str(repeats))]
    steps = round(T_END / DT)
    lines = [
        "## Batched runs over β (issue 20 §3)",
        "",
        f"Command: `python benchmarks/bench_batched.py`. {BETAS} values of β × {REPLICATES} replicates of "
        f"n = {N} tokens (the equiangular phase diagram's full size), SA, RK4, float32, {steps} steps: a "
        "loop of `spec.replace(beta=β).run(replicates=4)` against one `spec.run_betas(betas, replicates=4)`, "
        f"interleaved, median of {repeats} after a warm-up round, one fresh process per thread count.",
        "",
        "| d | threads | loop s | batched s | speed-up |",
        "|---:|---:|---:|---:|---:|",
        *(
            f"| {r['d']} | {r['threads']} | {r['loop']:.3f} | {r['batched']:.3f} "
            f"| {r['loop'] / r['batched']:.2f}× |"
            for r in rows
        ),
        "",
        f"{machine_line()} {load_note()}",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.quick:
        update_section("batched", text)


if __name__ == "__main__":
    main()
