"""Crossing a metastable plateau: simulated time per wall second, merge-aware dopri5 vs fixed-step RK4.

The target (issue: long context and long time): a long-time run crosses a plateau of length ~e^{β}
without e^{β}/dt steps. The start is a plateau state: n tokens on the circle at β = 9 run to t = 40 by
the merge-aware driver, so they sit in a few clusters whose members coincide (within 10⁻⁷) and which
persist for times of order e^{9} ≈ 8·10³. From that state, in one process per thread count and
interleaved, median of ``--repeats``:

* fixed-step RK4 (``attnflow.simulate``, dt = 0.1) over a horizon of 20,
* plain dopri5 (``attnflow.simulate``, rtol 1e-6, atol 1e-8) over the same horizon,
* the merge-aware driver (``attnflow.integrate.collapse``, same tolerances) over a horizon of 4000,

each reported as simulated time per wall second (the horizons differ so that every run lasts long
enough to time; the rate is what is compared).

    python benchmarks/bench_plateau.py            # writes its section of docs/benchmarks.md
    python benchmarks/bench_plateau.py --quick    # n = 64, prints only
"""

from __future__ import annotations

import argparse
import json
import math

from _report import interleaved, load_note, machine_line, medians, pin_threads, run_worker, update_section

BETA, PLATEAU_START, DT = 9.0, 40.0, 0.1
FIXED_HORIZON, MERGING_HORIZON = 20.0, 4000.0


def timing_worker(threads: int, n: int, repeats: int) -> dict:
    """In a fresh process: the three schemes from one plateau state, interleaved."""
    pin_threads(threads)
    import torch

    import attnflow as af
    from attnflow.integrate.collapse import integrate_collapsing

    field = af.SelfAttention(BETA)
    x0 = af.init.uniform_sphere(n, 2, seed=0, dtype=torch.float64)
    start = integrate_collapsing(field, x0, [PLATEAU_START]).final
    runs = {
        "rk4": lambda: af.simulate(field, start, FIXED_HORIZON, DT, method="rk4", save_every=1000),
        "dopri5": lambda: af.simulate(field, start, FIXED_HORIZON, DT, method="dopri5", save_every=1000),
        "merging": lambda: integrate_collapsing(field, start, [MERGING_HORIZON]),
    }
    horizons = {"rk4": FIXED_HORIZON, "dopri5": FIXED_HORIZON, "merging": MERGING_HORIZON}
    seconds = medians(interleaved(runs, repeats, warmup=False))
    merged = runs["merging"]()
    return {
        "threads": threads,
        "clusters": merged.params["clusters"],
        "merging_steps": merged.params["steps"],
        **{name: horizons[name] / s for name, s in seconds.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="n = 64, print only")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(timing_worker(*(int(v) for v in args.worker), args.repeats)))
        return
    n = 64 if args.quick else 256
    rows = [run_worker(__file__, str(t), str(n), "--repeats", str(args.repeats)) for t in (1, 2)]
    lines = [
        f"## Plateau crossing: simulated time per wall second (n = {n}, circle, β = {BETA:g})",
        "",
        f"`python benchmarks/bench_plateau.py`: from a plateau state (t = {PLATEAU_START:g}, float64), "
        f"fixed-step RK4 (dt = {DT:g}) and plain dopri5 over t ∈ [0, {FIXED_HORIZON:g}], the merge-aware "
        f"driver over [0, {MERGING_HORIZON:g}]; interleaved, median of {args.repeats}. The plateau lasts "
        f"~e^β ≈ {math.exp(BETA):,.0f}: RK4 needs {math.exp(BETA) / DT:,.0f} steps for it.",
        "",
        "| threads | RK4 (t/s) | dopri5 (t/s) | merge-aware (t/s) | merge-aware / RK4 | clusters "
        "| merge-aware steps |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['threads']} | {row['rk4']:.1f} | {row['dopri5']:.1f} | {row['merging']:.1f} "
            f"| {row['merging'] / row['rk4']:.0f}× | {row['clusters']} | {row['merging_steps']} |"
        )
    lines += ["", f"{machine_line()} {load_note()}"]
    text = "\n".join(lines)
    print(text)
    if not args.quick:
        update_section("plateau", text)


if __name__ == "__main__":
    main()
