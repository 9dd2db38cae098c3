"""Tracing overhead: attnflow.lm.trace against a bare forward pass with output_hidden_states=True.

SmolLM2-135M (30 layers, width 576) on a 128-token input, float32 on the CPU. Every repeat runs the
contenders back to back in the same process (interleaved, after a warm-up), at 1 and 2 torch
threads; we report the median time of each and the ratio of medians.

Contenders:
- ``forward``: ``model(ids, output_hidden_states=True)``, the causal LM with its head (the baseline);
- ``body forward``: the same without the language-model head (``model.model``);
- ``trace``: ``attnflow.lm.trace(lm, ids)`` (layer states, labels, a Trajectory);
- ``trace sublayers``: ``trace(lm, ids, sublayers=True)``;
- ``record (CLI)``: ``record(lm, ids)``, the one pass ``attnflow trace`` runs (sublayers, the norm-placement
  hooks and the logits).

    python benchmarks/bench_trace.py            # writes its section of docs/benchmarks.md
    python benchmarks/bench_trace.py --quick    # fewer repeats, prints only
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
from _report import machine_line, update_section

N_TOKENS = 128
TEXT = (
    "The history of the river valley begins with the first farmers who settled along its banks, growing "
    "wheat and barley in the fertile soil left by the yearly floods. Over centuries, their villages grew "
    "into towns connected by roads and boats, and merchants carried grain, cloth and pottery between them. "
    "Scholars later studied the records kept by temple scribes, which describe harvests, taxes, festivals "
    "and the slow changes of the climate. Today the valley is home to several million people, and its "
    "museums preserve the tools, letters and songs of the people who lived there long ago, while new "
    "bridges and railways link its cities to the rest of the country and to the sea."
)


def _time(fn: Callable[[], object]) -> tuple[float, float]:
    """Wall-clock and process CPU seconds of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def run(repeats: int) -> dict[tuple[int, str], dict[str, float]]:
    """Median seconds per contender, keyed by (threads, "wall" or "cpu")."""
    from attnflow.lm import load, record, trace

    lm = load("smollm2-135m")
    ids = torch.tensor([lm.tokenizer(TEXT)["input_ids"][:N_TOKENS]])
    assert ids.shape[1] == N_TOKENS, ids.shape
    contenders = {
        "forward": lambda: lm.model(ids, output_hidden_states=True),
        "body forward": lambda: lm.model.model(ids, output_hidden_states=True),
        "trace": lambda: trace(lm, ids[0]),
        "trace sublayers": lambda: trace(lm, ids[0], sublayers=True),
        "record (CLI)": lambda: record(lm, ids[0]),
    }
    results = {}
    with torch.no_grad():
        for threads in (1, 2):
            torch.set_num_threads(threads)
            for fn in contenders.values():  # warm-up
                fn()
            samples: dict[str, list[tuple[float, float]]] = {name: [] for name in contenders}
            for _ in range(repeats):
                for name, fn in contenders.items():
                    samples[name].append(_time(fn))
            for k, clock in enumerate(("wall", "cpu")):
                results[threads, clock] = {
                    name: statistics.median(t[k] for t in times) for name, times in samples.items()
                }
    return results


def report(results: dict[tuple[int, str], dict[str, float]], repeats: int, load: str) -> str:
    """The markdown section."""
    lines = [
        f"## Tracing overhead (`python benchmarks/bench_trace.py --repeats {repeats}`)",
        "",
        f"SmolLM2-135M, {N_TOKENS} tokens, float32, CPU; median of {repeats} interleaved repeats. "
        "Ratio = median time / median time of `model(ids, output_hidden_states=True)` "
        "(target: trace ≤ 1.2×).",
        "",
        "| threads | clock | forward (ms) | body forward | trace | trace sublayers | record (CLI) |",
        "|---|---|---|---|---|---|---|",
    ]
    for (threads, clock), r in results.items():
        base = r["forward"]
        cells = [
            f"{1000 * r[k]:.0f} ms ({r[k] / base:.2f}×)"
            for k in ("body forward", "trace", "trace sublayers", "record (CLI)")
        ]
        lines.append(f"| {threads} | {clock} | {1000 * base:.0f} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "`wall` is elapsed time, `cpu` the process's CPU time (summed over its threads), which is less "
        f"disturbed when other work shares the machine. {load}",
        "",
        "`trace` runs the Transformer body without the language-model head (the head is not needed for "
        "the hidden states), so it can be faster than the baseline; against the body alone "
        "(`model.model(ids, output_hidden_states=True)`) the hooks' overhead is the ratio of those two "
        "columns.",
        "",
        machine_line(),
    ]
    return "\n".join(lines)


def main() -> None:
    """Run, print, and (unless --quick) write the section of docs/benchmarks.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 repeats, print only")
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    repeats = 3 if args.quick else args.repeats
    before = os.getloadavg()[0]
    results = run(repeats)
    load = f"1-minute load average {before:.1f} before the run and {os.getloadavg()[0]:.1f} after."
    markdown = report(results, repeats, load)
    print(markdown)
    if not args.quick:
        update_section("bench_trace", markdown)


if __name__ == "__main__":
    main()
