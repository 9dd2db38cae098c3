"""The scaffolding every benchmark script shares: thread pinning, fresh worker processes, interleaved
timing with medians, the machine and load notes, and writing a script's own section of
docs/benchmarks.md (other sections stay).

Scripts run as ``python benchmarks/bench_*.py``, so this directory is on ``sys.path`` and they import
it directly (``from _report import ...``). Nothing here imports torch or NumPy at import time: a worker
must pin its thread pools (:func:`pin_threads`) before they load.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
HEADER = (
    "# Benchmarks\n\n"
    "Each section below is written by the script it names; re-run the script to refresh it.\n"
    "Ratios are measured side by side in one run, medians of several repeats.\n"
)
# The thread pools of OpenMP (torch, numba), OpenBLAS and MKL (NumPy, SciPy).
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def pin_threads(threads: int) -> None:
    """In a fresh worker process: every thread pool at ``threads``. Call it before NumPy or torch load."""
    for variable in THREAD_VARIABLES:
        os.environ[variable] = str(threads)
    import torch

    torch.set_num_threads(threads)


def run_worker(script: str | Path, *args: str, env: Mapping[str, str] | None = None) -> Any:
    """Run ``python script --worker ARGS`` in a fresh process (``env`` added to this one's environment);
    return the JSON its last line of output holds."""
    out = subprocess.run(
        [sys.executable, str(script), "--worker", *args],
        check=True,
        capture_output=True,
        text=True,
        env=None if env is None else {**os.environ, **env},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def interleaved(
    calls: Mapping[str, Callable[[], object]], repeats: int, warmup: bool = True
) -> dict[str, list[float]]:
    """Wall seconds of each call over ``repeats`` rounds, every round running each call in turn
    (side by side: a load spike slows every call of its round alike), after one warm-up round."""
    if warmup:
        for call in calls.values():
            call()
    seconds: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            seconds[name].append(time.perf_counter() - start)
    return seconds


def medians(samples: Mapping[str, Sequence[float]]) -> dict[str, float]:
    """The median of each name's samples."""
    return {name: statistics.median(values) for name, values in samples.items()}


def machine_line() -> str:
    """One line describing where the numbers were taken."""
    import torch

    return (
        f"Machine: {platform.machine()}, {torch.get_num_threads()} torch threads available by default, "
        f"Python {platform.python_version()}, torch {torch.__version__}."
    )


def load_note() -> str:
    """The machine's 1-minute load average now, as a sentence for a docs section."""
    return f"1-minute load average when it finished: {os.getloadavg()[0]:.1f}."


def update_section(name: str, markdown: str, doc: Path = DOC) -> Path:
    """Replace (or append) this benchmark's section of docs/benchmarks.md; other sections stay."""
    from attnflow import _docs as docs

    return docs.update_section(name, markdown, doc, header=HEADER)
