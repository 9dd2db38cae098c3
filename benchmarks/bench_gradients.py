"""Differentiable runs: memory and time of simulate(grad=True) with and without checkpoint=True.

A loss on the final state of an SA run (sphere, Euler, float32, β a tensor that requires a gradient)
is differentiated with respect to β. The plain run keeps every step's intermediates for the backward
pass; the checkpointed one keeps the saved states and recomputes each stretch of ``save_every`` steps.
Each measurement is a fresh process (peak resident memory above what it held before the run); the two
modes alternate, repeats are medians, at 1 and 2 torch threads. On a GPU (``--device cuda``) the peak is
``torch.cuda.max_memory_allocated``.

    python benchmarks/bench_gradients.py           # writes its section of docs/benchmarks.md
    python benchmarks/bench_gradients.py --quick   # 2 repeats, print only
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from _report import load_note, machine_line, pin_threads, run_worker, update_section

N, D, STEPS, SAVE_EVERY, BETA, DT = 512, 64, 200, 20, 4.0, 0.05


def worker(mode: str, threads: int, device: str) -> dict[str, float]:
    """Time one forward and backward pass in ``mode`` (``plain`` or ``checkpoint``); read the peak memory."""
    pin_threads(threads)
    import resource

    import torch

    import attnflow as af
    from attnflow.integrate.solvers import small_problem_threads

    x0 = af.init.uniform_sphere(N, D, seed=0).to(device)
    beta = torch.tensor(BETA, device=device, requires_grad=True)
    field = af.SelfAttention(beta)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
        before_gpu = torch.cuda.memory_allocated()
    start = time.perf_counter()
    traj = af.simulate(
        field,
        x0,
        STEPS * DT,
        DT,
        method="euler",
        save_every=SAVE_EVERY,
        grad=True,
        checkpoint=mode == "checkpoint",
    )
    with small_problem_threads(x0):
        (gradient,) = torch.autograd.grad(traj.final[:, 0].sum(), beta)
    float(gradient)  # synchronise
    seconds = time.perf_counter() - start
    peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    if device == "cuda":
        peak = (torch.cuda.max_memory_allocated() - before_gpu) / 2**20
    return {"seconds": seconds, "peak_mb": peak, "gradient": float(gradient)}


def measure(mode: str, threads: int, device: str) -> dict[str, float]:
    return run_worker(__file__, mode, str(threads), device)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--quick", action="store_true", help="2 repeats; print, do not write docs")
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        mode, threads, device = args.worker
        print(json.dumps(worker(mode, int(threads), device)))
        return
    repeats = 2 if args.quick else args.repeats
    results: dict[tuple[str, int], list[dict[str, float]]] = {}
    for _ in range(repeats):
        for threads in (1, 2):
            for mode in ("plain", "checkpoint"):
                results.setdefault((mode, threads), []).append(measure(mode, threads, args.device))
    memory = "peak GPU memory" if args.device == "cuda" else "peak resident memory above the start"
    lines = [
        "## Differentiable runs: checkpointed vs plain",
        "",
        f"Command: `python benchmarks/bench_gradients.py{' --device cuda' * (args.device == 'cuda')}`. "
        f"d(final state)/dβ of SA on the sphere, Euler, float32, n = {N}, d = {D}, {STEPS} steps, "
        f"save_every = {SAVE_EVERY}, on {args.device}: forward + backward time and {memory} (MB), "
        f"medians of {repeats} fresh processes, the modes alternating. The gradients agree to float32 "
        "rounding (column `gradient`).",
        "",
        "| mode | threads | seconds | peak MB | gradient |",
        "|---|---:|---:|---:|---:|",
    ]
    for (mode, threads), rows in results.items():
        seconds = statistics.median(r["seconds"] for r in rows)
        peak = statistics.median(r["peak_mb"] for r in rows)
        lines.append(f"| {mode} | {threads} | {seconds:.2f} | {peak:.1f} | {rows[0]['gradient']:.6g} |")
    markdown = "\n".join(lines)
    print(markdown)
    if not args.quick:
        update_section("gradients", f"{markdown}\n\n{machine_line()} {load_note()}\n")


if __name__ == "__main__":
    main()
