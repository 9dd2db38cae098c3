"""The fused small-d kernel against SDPA: SA Euler steps on the sphere, float32, side by side.

Both backends of ``SelfAttention`` run the same Euler steps from the same start through ``simulate``,
interleaved (fused, SDPA, fused, SDPA, ...) in one process per thread count, after a warm-up that
compiles the kernel; each cell is the median of ``--repeats`` runs.

    python benchmarks/bench_kernel.py             # writes its section of docs/benchmarks.md
    python benchmarks/bench_kernel.py --quick     # n = 4096 only, prints only
"""

from __future__ import annotations

import argparse
import json
import os

from _report import interleaved, machine_line, medians, pin_threads, run_worker, update_section

BETA, DT = 4.0, 0.05
# Euler steps per timed run: about a tenth of a second of SDPA work at 1 thread on a quiet machine.
STEPS = {128: 400, 256: 200, 512: 100, 1024: 40, 4096: 8, 16384: 1}
MAIN = [(4096, 3), (16384, 3)]
CROSSOVER = [(128, 3), (256, 3), (512, 3), (1024, 3), (4096, 8), (4096, 16)]


def euler_steps(af, field, x0, steps: int) -> None:
    """``steps`` Euler steps of ``field`` from ``x0``, through ``simulate``."""
    af.simulate(field, x0, t_end=steps * DT, dt=DT, method="euler", save_every=steps)


def worker(threads: int, cases: list[tuple[int, int]], repeats: int) -> list[dict]:
    """In a fresh process: time both backends on each case, interleaved, at ``threads`` threads."""
    pin_threads(threads)
    import attnflow as af

    fields = {b: af.SelfAttention(BETA, backend=b) for b in ("fused", "sdpa")}
    rows = []
    for n, d in cases:
        x0 = af.init.uniform_sphere(n, d, seed=0)
        steps = STEPS[n]
        # The warm-up round compiles (or loads) the kernel and touches the memory.
        calls = {
            b: (lambda f=f, x0=x0, steps=steps: euler_steps(af, f, x0, steps)) for b, f in fields.items()
        }
        rate = {b: steps / t for b, t in medians(interleaved(calls, repeats)).items()}
        rows.append({"n": n, "d": d, "threads": threads, "fused": rate["fused"], "sdpa": rate["sdpa"]})
    return rows


def measure(threads: int, cases: list[tuple[int, int]], repeats: int) -> list[dict]:
    return run_worker(__file__, str(threads), json.dumps(cases), str(repeats))


def table(rows: list[dict]) -> list[str]:
    lines = [
        "| n | d | threads | SDPA steps/s | fused steps/s | fused / SDPA | fused G pairs/s |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        pairs = r["fused"] * r["n"] ** 2 / 1e9
        lines.append(
            f"| {r['n']} | {r['d']} | {r['threads']} | {r['sdpa']:.1f} | {r['fused']:.1f} "
            f"| {r['fused'] / r['sdpa']:.2f}× | {pairs:.2f} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="n = 4096, d = 3 only; print, do not write docs")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        threads, cases, repeats = args.worker
        print(json.dumps(worker(int(threads), [tuple(c) for c in json.loads(cases)], int(repeats))))
        return

    main_cases = MAIN[:1] if args.quick else MAIN
    results = {"main": [], "crossover": []}
    load_before = os.getloadavg()[0]
    for threads in (1, 2):
        results["main"] += measure(threads, main_cases, args.repeats)
        if not args.quick:
            results["crossover"] += measure(threads, CROSSOVER, args.repeats)
    load_after = os.getloadavg()[0]
    for line in table(results["main"] + results["crossover"]):
        print(line)
    if args.quick:
        return

    from attnflow.dynamics.attention import FUSED_AUTO_MAX_DIM, FUSED_MIN_TOKENS

    lines = [
        "## Fused small-d kernel vs SDPA (SA, sphere, Euler, float32)",
        "",
        f'Command: `python benchmarks/bench_kernel.py`. `SelfAttention(β = {BETA}, backend="fused")` and '
        f'`backend="sdpa"` (attnflow before the kernel) run the same Euler steps through `simulate`, '
        f"interleaved in one process per thread count; each cell is the median of {args.repeats} runs after "
        "a warm-up that compiles the kernel. Targets (issue 20): fused ≥ 2.5× SDPA at d = 3, "
        "n = 4096 and 16 384 on 1 thread, ≥ 1.8× on 2 threads.",
        "",
        *table(results["main"]),
        "",
        f'Where `backend="auto"` switches (it uses the kernel from n = {FUSED_MIN_TOKENS} tokens and for '
        f"d ≤ {FUSED_AUTO_MAX_DIM}):",
        "",
        *table(results["crossover"]),
        "",
        machine_line()
        + f" 2 cores shared with other jobs: 1-minute load average {load_before:.1f} before the run and "
        f"{load_after:.1f} after.",
    ]
    update_section("kernel", "\n".join(lines))
    print("wrote docs/benchmarks.md")


if __name__ == "__main__":
    main()
