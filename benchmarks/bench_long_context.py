"""One self-attention layer at long context against one bare fused-attention call, and its memory.

The target (issue: long context and long time): evaluating the SA field once at n = 10⁵ tokens, d = 3,
costs at most 1.3× one ``scaled_dot_product_attention`` call on the same tensors, with peak memory O(n).
Each thread count runs in a fresh process; the three calls are interleaved (bare SDPA, the field on
its SDPA backend, the field on its automatic backend), median of ``--repeats``. Peak memory is the
growth of the process's maximum resident set during the first field evaluation, in a fresh process
per size: an n×n float32 score matrix would need 4n² bytes (40 GB at n = 10⁵).

    python benchmarks/bench_long_context.py            # writes its section of docs/benchmarks.md
    python benchmarks/bench_long_context.py --quick    # n = 2·10⁴, prints only
"""

from __future__ import annotations

import argparse
import json

from _report import interleaved, load_note, machine_line, medians, pin_threads, run_worker, update_section

BETA = 4.0


def timing_worker(threads: int, n: int, d: int, repeats: int) -> dict:
    """In a fresh process: bare SDPA and the field (SDPA and auto backends), interleaved."""
    pin_threads(threads)
    import torch.nn.functional as F

    import attnflow as af

    x = af.init.uniform_sphere(n, d, seed=0)
    fields = {"field (sdpa)": af.SelfAttention(BETA, backend="sdpa"), "field (auto)": af.SelfAttention(BETA)}

    def bare() -> None:
        # (batch, heads, n, d): the layout that takes torch's fused CPU kernel, as the field does.
        xb = x.view(1, 1, n, d)
        F.scaled_dot_product_attention(xb, xb, xb, scale=BETA)

    calls = {"bare SDPA": bare, **{name: (lambda f=f: f(0.0, x)) for name, f in fields.items()}}
    # The warm-up round compiles the fused kernel.
    return {
        "threads": threads,
        "backend": fields["field (auto)"].backend_for(x),
        **medians(interleaved(calls, repeats)),
    }


def memory_worker(n: int, d: int) -> dict:
    """In a fresh process: growth of the peak resident set over one field evaluation (MiB)."""
    import resource

    import attnflow as af

    field = af.SelfAttention(BETA, backend="sdpa")
    x = af.init.uniform_sphere(n, d, seed=0)
    field(0.0, x[:64])  # load the libraries before the baseline
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    field(0.0, x)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"n": n, "growth_mib": (after - before) / 1024, "state_mib": n * d * 4 / 2**20}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="n = 2·10⁴, print only")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        kind, *rest = args.worker
        if kind == "time":
            result = timing_worker(*(int(v) for v in rest[:3]), args.repeats)
        else:
            result = memory_worker(*(int(v) for v in rest))
        print(json.dumps(result))
        return
    n, d = (20_000 if args.quick else 100_000), 3
    rows = [
        run_worker(__file__, "time", str(t), str(n), str(d), "--repeats", str(args.repeats)) for t in (1, 2)
    ]
    sizes = [10_000, 30_000, 100_000] if not args.quick else [5_000, 20_000]
    memory = [run_worker(__file__, "memory", str(m), str(d)) for m in sizes]
    lines = [
        f"## Long context: one SA layer at n = {n:,}, d = {d}",
        "",
        f"`python benchmarks/bench_long_context.py`: one evaluation of the SA field (β = {BETA:g}, float32, "
        f"uniform start) against one bare `scaled_dot_product_attention` call on the same (1, 1, n, d) "
        f"tensors, interleaved, median of {args.repeats} (target: field ≤ 1.3× bare SDPA).",
        "",
        "| threads | bare SDPA (s) | field, SDPA backend (s) | ratio | field, auto backend (s) | ratio |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        bare = row["bare SDPA"]
        lines.append(
            f"| {row['threads']} | {bare:.3f} | {row['field (sdpa)']:.3f} "
            f"| {row['field (sdpa)'] / bare:.2f}× | {row['field (auto)']:.3f} ({row['backend']}) "
            f"| {row['field (auto)'] / bare:.2f}× |"
        )
    lines += [
        "",
        "Peak memory of one field evaluation (growth of the process's maximum resident set; an n×n float32 "
        "score matrix would need 4n² bytes):",
        "",
        "| n | peak growth (MiB) | the state itself (MiB) | n×n scores would need (MiB) |",
        "|---:|---:|---:|---:|",
    ]
    for row in memory:
        lines.append(
            f"| {row['n']:,} | {row['growth_mib']:.1f} | {row['state_mib']:.2f} "
            f"| {4 * row['n'] ** 2 / 2**20:,.0f} |"
        )
    lines += ["", f"{machine_line()} {load_note()}"]
    text = "\n".join(lines)
    print(text)
    if not args.quick:
        update_section("long_context", text)


if __name__ == "__main__":
    main()
