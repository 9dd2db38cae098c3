"""Write a benchmark's results into its own section of docs/benchmarks.md (other sections stay)."""

from __future__ import annotations

import platform
from pathlib import Path

import torch

from attnflow import _docs as docs

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
HEADER = (
    "# Benchmarks\n\n"
    "Each section below is written by the script it names; re-run the script to refresh it.\n"
    "Ratios are measured side by side in one run, medians of several repeats.\n"
)


def machine_line() -> str:
    """One line describing where the numbers were taken."""
    return (
        f"Machine: {platform.machine()}, {torch.get_num_threads()} torch threads available by default, "
        f"Python {platform.python_version()}, torch {torch.__version__}."
    )


def update_section(name: str, markdown: str, doc: Path = DOC) -> Path:
    """Replace (or append) this benchmark's section of docs/benchmarks.md; other sections stay."""
    return docs.update_section(name, markdown, doc, header=HEADER)
