"""SA Euler steps on one CUDA GPU: n = 10⁴ … 10⁶ tokens, d = 3 and 64, float32 and bfloat16 scores.

One script, planned to finish in under 8 minutes on one H100: every configuration is timed with a
budget (a configuration whose first step says it would overrun is skipped and reported as such).

- Correctness first: the field on CUDA (float32, and with bfloat16 scores) against a float64 direct
  computation (softmax(β X Xᵀ) X, projected) at n = 4096; bfloat16 rows are timed only where their
  field error stays below ``BF16_TOLERANCE``.
- Paths: ``attnflow`` is ``simulate`` with ``SelfAttention`` (state and scores in float32: the code as
  shipped); ``sdpa-pad8`` is a bare Euler loop on SDPA with the token dimension zero-padded to a multiple
  of 8 (what the flash and memory-efficient CUDA kernels require; zeros change no score and no output);
  ``bf16-scores`` is the same loop with queries, keys and values cast to bfloat16 and the state kept in
  float32. There is no fused CUDA kernel of our own: the CPU kernel (docs/benchmarks.md, "fused
  kernel") is a CPU path.
- Peak memory is ``torch.cuda.max_memory_allocated`` over each configuration.

    python benchmarks/bench_gpu.py            # prints the table and writes its section of docs/benchmarks.md
    python benchmarks/bench_gpu.py --quick    # n = 10⁴ only, prints only

Without CUDA it says so and exits with status 0.
"""

from __future__ import annotations

import argparse
import sys
import time

from _report import update_section

BETA, DT = 4.0, 0.05
SIZES = (10_000, 100_000, 1_000_000)
DIMS = (3, 64)
BUDGET_S = 420.0  # for the timings; the correctness check and start-up fit in the rest of 8 minutes
PER_CONFIG_S = 40.0  # at most this long on one configuration (at least one step is always run)
BF16_TOLERANCE = 2e-2  # largest |field error| for bfloat16 scores to count as accurate enough


def direct_field(x, beta):
    """float64 ẋ_i = P_{x_i}(Σ_j softmax_j(β⟨x_i,x_j⟩) x_j) with the n×n matrix formed."""
    import torch

    x = x.double()
    drift = torch.softmax(beta * x @ x.T, dim=-1) @ x
    return drift - (drift * x).sum(-1, keepdim=True) * x


def sdpa_field(x, score_dtype):
    """The SA field on the sphere by bare SDPA: tokens zero-padded to a multiple of 8 coordinates (zeros
    change no score and no output), queries, keys and values in ``score_dtype``, the result in x's dtype."""
    import torch.nn.functional as F

    n, d = x.shape
    pad = -(-d // 8) * 8
    z = F.pad(x, (0, pad - d)).to(score_dtype).view(1, 1, n, pad)
    drift = F.scaled_dot_product_attention(z, z, z, scale=BETA)[0, 0, :, :d].to(x.dtype)
    return drift - (drift * x).sum(-1, keepdim=True) * x


def sdpa_step(x, score_dtype):
    """One Euler step of :func:`sdpa_field`, retracted onto the sphere."""
    x = x + DT * sdpa_field(x, score_dtype)
    return x / x.norm(dim=-1, keepdim=True)


def field_error(path: str, x, reference) -> float:
    import torch

    import attnflow as af

    if path == "attnflow":
        field = af.SelfAttention(BETA)(0.0, x)
    else:
        field = sdpa_field(x, torch.bfloat16 if path == "bf16-scores" else torch.float32)
    return (field.double() - reference).abs().max().item()


def time_config(path: str, n: int, d: int, budget: float) -> dict:
    """Steps per second and peak memory of one configuration, within ``budget`` seconds."""
    import torch

    import attnflow as af

    x = af.init.uniform_sphere(n, d, seed=0).cuda()
    score_dtype = torch.bfloat16 if path == "bf16-scores" else torch.float32
    field = af.SelfAttention(BETA)

    def steps(count: int) -> float:
        torch.cuda.synchronize()
        start = time.perf_counter()
        if path == "attnflow":
            af.simulate(field, x, t_end=count * DT, dt=DT, method="euler", save_every=count)
        else:
            y = x
            for _ in range(count):
                y = sdpa_step(y, score_dtype)
        torch.cuda.synchronize()
        return time.perf_counter() - start

    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    try:
        first = steps(1)  # includes kernel selection and allocator warm-up
        if first > budget:
            return {
                "status": f"one step took {first:.1f} s",
                "peak_gb": torch.cuda.max_memory_allocated() / 2**30,
            }
        count = max(1, min(50, int(min(budget, PER_CONFIG_S) / max(first, 1e-4) / 2)))
        elapsed = steps(count)
    except torch.cuda.OutOfMemoryError:
        return {"status": "out of memory", "peak_gb": torch.cuda.max_memory_allocated() / 2**30}
    return {
        "status": "ok",
        "steps_per_s": count / elapsed,
        "seconds": first + elapsed,
        "peak_gb": torch.cuda.max_memory_allocated() / 2**30,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="n = 10⁴ only; print, do not write docs")
    args = parser.parse_args()

    import torch

    if not torch.cuda.is_available():
        print("bench_gpu: no CUDA device is available here; nothing to measure (run it on a GPU machine).")
        return
    import attnflow as af

    started = time.perf_counter()
    device = torch.cuda.get_device_name()
    print(f"device: {device}, torch {torch.__version__}", flush=True)

    errors = {}
    for d in DIMS:
        x = af.init.uniform_sphere(4096, d, seed=1).cuda()
        reference = direct_field(x, BETA)
        for path in ("attnflow", "sdpa-pad8", "bf16-scores"):
            errors[path, d] = field_error(path, x, reference)
            print(f"correctness d={d} {path}: max |field − float64| = {errors[path, d]:.2e}", flush=True)
    if max(errors["attnflow", d] for d in DIMS) > 1e-4:
        sys.exit("bench_gpu: the float32 field on CUDA disagrees with float64 by more than 1e-4")

    rows = []
    sizes = SIZES[:1] if args.quick else SIZES
    for n in sizes:
        for d in DIMS:
            for path in ("attnflow", "sdpa-pad8", "bf16-scores"):
                left = BUDGET_S - (time.perf_counter() - started)
                if path == "bf16-scores" and errors[path, d] > BF16_TOLERANCE:
                    result = {"status": f"not timed: field error {errors[path, d]:.1e}"}
                elif left < 1:
                    result = {"status": "not timed: out of time"}
                else:
                    result = time_config(path, n, d, left)
                rows.append((n, d, path, result))
                rate = (
                    f"{result['steps_per_s']:.4g} steps/s" if result["status"] == "ok" else result["status"]
                )
                print(
                    f"n={n} d={d} {path}: {rate}, peak {result.get('peak_gb', float('nan')):.2f} GiB",
                    flush=True,
                )

    lines = [
        "| n | d | path | steps/s | pairs/s | peak GiB |",
        "|---:|---:|---|---:|---:|---:|",
    ]
    for n, d, path, r in rows:
        if r["status"] == "ok":
            lines.append(
                f"| {n} | {d} | {path} | {r['steps_per_s']:.4g} | {r['steps_per_s'] * n * n:.3g} "
                f"| {r['peak_gb']:.2f} |"
            )
        else:
            lines.append(f"| {n} | {d} | {path} | {r['status']} | | {r.get('peak_gb', float('nan')):.2f} |")
    print("\n".join(lines))
    print(f"total {time.perf_counter() - started:.0f} s")
    if args.quick:
        return

    correctness = ", ".join(f"{p} d={d}: {e:.1e}" for (p, d), e in errors.items())
    update_section(
        "gpu",
        "\n".join(
            [
                "## SA steps on one GPU",
                "",
                f"Command: `python benchmarks/bench_gpu.py` on {device}, torch {torch.__version__}. "
                f"Field error against float64 at n = 4096 (max abs): {correctness}.",
                "",
                *lines,
            ]
        ),
    )
    print("wrote docs/benchmarks.md")


if __name__ == "__main__":
    main()
