"""The reproduction report: one self-contained HTML page (figures embedded) plus ``results.json``."""

from __future__ import annotations

import base64
import datetime as dt
import html
import json
import platform
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from attnflow.io import atomic_write_text, jsonable

#: Verdicts a run can end with: the three of an experiment, or ``error`` when it raised.
STATUSES = ("agrees", "disagrees", "inconclusive", "error")

_MIME = {".png": "image/png", ".gif": "image/gif", ".svg": "image/svg+xml", ".jpg": "image/jpeg"}

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 1100px;
       padding: 0 1rem; color: #1d1d1f; line-height: 1.45; }
h1 { font-size: 1.7rem; } h2 { margin-top: 2.4rem; border-bottom: 1px solid #ddd; padding-bottom: .3rem; }
table { border-collapse: collapse; width: 100%; margin: 1rem 0; font-size: .92rem; }
th, td { border: 1px solid #d6d6d6; padding: .35rem .5rem; text-align: left; vertical-align: top; }
th { background: #f3f3f5; } tr.paper th { background: #e7ecf5; text-align: left; }
.verdict { font-weight: 600; padding: .1rem .45rem; border-radius: .3rem; white-space: nowrap; }
.agrees { background: #d8f3dc; color: #1b4332; } .disagrees { background: #ffd6d6; color: #7a1212; }
.inconclusive { background: #e4e4ea; color: #3a3a4a; } .error { background: #ffe8b3; color: #6b4500; }
figure { margin: 1rem 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: .85rem; color: #555; } .meta { color: #555; font-size: .9rem; }
pre { background: #f6f6f6; padding: .6rem; overflow-x: auto; font-size: .85rem; }
"""


@dataclass
class RunRecord:
    """One experiment run as the report shows it: plain text and numbers, no experiment object.

    Attributes:
        name: the experiment's name.
        title: its one-line title.
        paper: the cited paper (the report groups runs by it).
        citation: the full citation: the paper and the place in it.
        claim: the claim checked.
        params: the resolved parameters it ran with.
        quick: whether it ran at the ``--quick`` size.
        seconds: wall-clock time of the run.
        status: one of :data:`STATUSES`.
        prediction: the theory's prediction (empty after an error).
        measured: the measured value (empty after an error).
        tolerance: how agreement was judged (empty after an error).
        notes: what a reader needs to interpret the numbers.
        values: the key numbers by name.
        figures: paths of the figures written.
        error: the error message with its traceback, if the run raised.
        provenance: how the run was made (git commit, command line, package versions; see
            :func:`attnflow.experiments.provenance`).
    """

    name: str
    title: str
    paper: str
    citation: str
    claim: str
    params: dict[str, Any]
    quick: bool
    seconds: float
    status: str
    prediction: str = ""
    measured: str = ""
    tolerance: str = ""
    notes: str = ""
    values: dict[str, Any] = field(default_factory=dict)
    figures: list[Path] = field(default_factory=list)
    error: str | None = None
    provenance: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}, got {self.status!r}")
        if (self.status == "error") != (self.error is not None):
            raise ValueError("a record has an error message exactly when its status is 'error'")


def format_value(value: Any) -> str:
    """A short human form of a parameter or value (numbers to 6 digits, long arrays summarised)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {format_value(v)}" for k, v in value.items()) + "}"
    array = np.asarray(value.detach().cpu() if isinstance(value, torch.Tensor) else value, dtype=object)
    if array.ndim == 0:
        item = array.item()
        if isinstance(item, float | np.floating):
            return f"{float(item):.6g}"
        return str(item)
    if array.size <= 12:
        return "[" + ", ".join(format_value(v) for v in array.reshape(-1).tolist()) + "]"
    numeric = np.asarray(array.tolist(), dtype=np.float64) if array.dtype == object else array
    return f"array {tuple(array.shape)}, min {np.nanmin(numeric):.4g}, max {np.nanmax(numeric):.4g}"


def _relative(path: Path, base: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(base.resolve()))
    except ValueError:
        return str(Path(path).resolve())


def record_json(record: RunRecord, base: Path) -> dict[str, Any]:
    """The machine-readable form of one run (``results.json``); figure paths are relative to ``base``."""
    entry: dict[str, Any] = {
        "name": record.name,
        "title": record.title,
        "paper": record.paper,
        "citation": record.citation,
        "claim": record.claim,
        "size": "quick" if record.quick else "full",
        "params": jsonable(record.params, strict=True),
        "seconds": round(record.seconds, 3),
        "verdict": record.status,
        "provenance": dict(record.provenance),
    }
    if record.error is None:
        entry.update(
            prediction=record.prediction,
            measured=record.measured,
            tolerance=record.tolerance,
            notes=record.notes,
            values=jsonable(record.values, strict=True),
            figures=[_relative(f, base) for f in record.figures],
        )
    else:
        entry["error"] = record.error
    return entry


def _embed(path: Path) -> str:
    mime = _MIME.get(path.suffix.lower())
    if mime is None:
        raise ValueError(f"cannot embed figure {path}: use one of {', '.join(_MIME)}")
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f"data:{mime};base64,{data}"


def _badge(status: str) -> str:
    return f'<span class="verdict {status}">{status}</span>'


def _claims_table(records: Sequence[RunRecord]) -> str:
    rows = [
        "<table id='claims'><thead><tr><th>experiment</th><th>claim</th><th>prediction</th>"
        "<th>measured</th><th>verdict</th><th>tolerance</th></tr></thead><tbody>"
    ]
    for paper, group in _by_paper(records).items():
        rows.append(f"<tr class='paper'><th colspan='6'>{html.escape(paper)}</th></tr>")
        for r in group:
            failed = r.error is not None
            prediction = "—" if failed else html.escape(r.prediction)
            measured = "run failed (see its section)" if failed else html.escape(r.measured)
            tolerance = "—" if failed else html.escape(r.tolerance)
            name = html.escape(r.name)
            rows.append(
                f"<tr><td><a href='#{name}'>{name}</a></td>"
                f"<td>{html.escape(r.claim)}</td><td>{prediction}</td><td>{measured}</td>"
                f"<td>{_badge(r.status)}</td><td>{tolerance}</td></tr>"
            )
    rows.append("</tbody></table>")
    return "\n".join(rows)


def _by_paper(records: Sequence[RunRecord]) -> dict[str, list[RunRecord]]:
    groups: dict[str, list[RunRecord]] = {}
    for r in records:
        groups.setdefault(r.paper, []).append(r)
    return groups


def _section(record: RunRecord) -> str:
    size = "quick" if record.quick else "full"
    parts = [
        f"<section id='{html.escape(record.name)}'>"
        f"<h2>{html.escape(record.name)}: {html.escape(record.title)}</h2>",
        f"<p class='meta'>size: {size} · {record.seconds:.1f} s · {_badge(record.status)}</p>",
        *(f"<p class='meta'>{html.escape(k)}: {html.escape(v)}</p>" for k, v in record.provenance.items()),
        f"<p><strong>Source.</strong> {html.escape(record.citation)}</p>",
        f"<p><strong>Claim.</strong> {html.escape(record.claim)}</p>",
        "<table class='params'><tr><th>parameter</th><th>value</th></tr>",
        *(
            f"<tr><td>{html.escape(k)}</td><td>{html.escape(format_value(v))}</td></tr>"
            for k, v in record.params.items()
        ),
        "</table>",
    ]
    if record.error is not None:
        parts.append(f"<p><strong>The run failed.</strong></p><pre>{html.escape(record.error)}</pre>")
    else:
        parts += [
            "<table class='outcome'>",
            f"<tr><th>prediction</th><td>{html.escape(record.prediction)}</td></tr>",
            f"<tr><th>measured</th><td>{html.escape(record.measured)}</td></tr>",
            f"<tr><th>tolerance</th><td>{html.escape(record.tolerance)}</td></tr>",
            f"<tr><th>verdict</th><td>{_badge(record.status)}</td></tr>",
            "</table>",
        ]
        if record.notes:
            parts.append(f"<p><strong>Notes.</strong> {html.escape(record.notes)}</p>")
        if record.values:
            parts.append("<table class='values'><tr><th>value</th><th></th></tr>")
            parts += [
                f"<tr><td>{html.escape(k)}</td><td>{html.escape(format_value(v))}</td></tr>"
                for k, v in record.values.items()
            ]
            parts.append("</table>")
        for figure in record.figures:
            figure = Path(figure)
            parts.append(
                f"<figure><img src='{_embed(figure)}' alt='{html.escape(figure.stem)}'>"
                f"<figcaption>{html.escape(figure.name)}</figcaption></figure>"
            )
    parts.append("</section>")
    return "\n".join(parts)


def write_report(
    records: Sequence[RunRecord], out_dir: str | Path, title: str = "attnflow: reproduced claims"
) -> Path:
    """Write ``report.html`` (self-contained: CSS inline, figures as data URIs) and ``results.json``.

    The page opens with a table of claims grouped by the cited paper (prediction, measured value,
    verdict, tolerance), followed by a section per experiment with its citation, parameters, values
    and figures. The verdicts ``agrees``, ``disagrees``, ``inconclusive`` and ``error`` each have a badge.

    Args:
        records: the runs, in the order to show them (grouped by paper).
        out_dir: the folder to write into (the experiments' figure folders are usually below it).
        title: the page title.

    Returns:
        The path of ``report.html``.

    Raises:
        ValueError: ``records`` is empty, or a figure has a format that cannot be embedded.
    """
    if not records:
        raise ValueError("records must hold at least one run to report")
    from attnflow import __version__

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    counts = {status: sum(r.status == status for r in records) for status in STATUSES}
    when = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    summary = ", ".join(f"{n} {v}" for v, n in counts.items() if n)
    page = "\n".join(
        [
            "<!DOCTYPE html>",
            "<html lang='en'><head><meta charset='utf-8'>",
            "<meta name='viewport' content='width=device-width, initial-scale=1'>",
            f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>",
            f"<h1>{html.escape(title)}</h1>",
            f"<p class='meta'>{len(records)} experiment{'s' if len(records) > 1 else ''}: {summary}. "
            f"Generated {when} by attnflow {__version__} (Python {platform.python_version()}, "
            f"torch {torch.__version__}).</p>",
            "<h2>Claims</h2>",
            _claims_table(records),
            *(_section(r) for group in _by_paper(records).values() for r in group),
            "</body></html>",
        ]
    )
    atomic_write_text(out / "results.json", json.dumps([record_json(r, out) for r in records], indent=2))
    return atomic_write_text(out / "report.html", page)
