"""Write a benchmark's results into its own section of docs/benchmarks.md (other sections stay)."""

from __future__ import annotations

import platform
import re
from pathlib import Path

import torch

from attnflow._io import atomic_write_text

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
    """Replace (or append) the section delimited by ``<!-- BEGIN name -->`` / ``<!-- END name -->``."""
    text = doc.read_text() if doc.exists() else HEADER
    block = f"<!-- BEGIN {name} -->\n{markdown.rstrip()}\n<!-- END {name} -->"
    pattern = re.compile(rf"<!-- BEGIN {re.escape(name)} -->.*?<!-- END {re.escape(name)} -->", re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    return atomic_write_text(doc, text)
