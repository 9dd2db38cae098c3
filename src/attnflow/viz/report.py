"""The reproduction report: one self-contained HTML page (figures embedded) plus ``results.json``."""

from __future__ import annotations

import base64
import datetime as dt
import html
import json
import platform
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from attnflow.io import atomic_write_text, jsonable

if TYPE_CHECKING:
    from attnflow.experiments.base import Experiment, ExperimentResult, Outcome

_MIME = {".png": "image/png", ".gif": "image/gif", ".svg": "image/svg+xml", ".jpg": "image/jpeg"}

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 1100px;
       padding: 0 1rem; color: #1d1d1f; line-height: 1.45; }
h1 { font-size: 1.7rem; } h2 { margin-top: 2.4rem; border-bottom: 1px solid #ddd; padding-bottom: .3rem; }
table { border-collapse: collapse; width: 100%; margin: 1rem 0; font-size: .92rem; }
th, td { border: 1px solid #d6d6d6; padding: .35rem .5rem; text-align: left; vertical-align: top; }
th { background: #f3f3f5; } tr.source th { background: #e7ecf5; text-align: left; }
.verdict { font-weight: 600; padding: .1rem .45rem; border-radius: .3rem; white-space: nowrap; }
.agrees { background: #d8f3dc; color: #1b4332; } .disagrees { background: #ffd6d6; color: #7a1212; }
.error { background: #ffe8b3; color: #6b4500; }
figure { margin: 1rem 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: .85rem; color: #555; } .meta { color: #555; font-size: .9rem; }
pre { background: #f6f6f6; padding: .6rem; overflow-x: auto; font-size: .85rem; }
"""


@dataclass
class RunRecord:
    """One experiment run for the report: its outcome, or the error that stopped it.

    Attributes:
        experiment: the experiment.
        params: the resolved parameters it ran with.
        quick: whether it ran at the ``--quick`` size.
        seconds: wall-clock time of the run.
        out_dir: where its figures were written.
        outcome: the :class:`Outcome`, or ``None`` if the run raised.
        error: the error message (with traceback) if the run raised.
    """

    experiment: Experiment
    params: dict[str, Any]
    quick: bool
    seconds: float
    out_dir: Path
    outcome: Outcome | None = None
    error: str | None = None

    @classmethod
    def from_result(cls, result: ExperimentResult, quick: bool) -> RunRecord:
        """Wrap a finished :class:`ExperimentResult`."""
        return cls(result.experiment, result.params, quick, result.seconds, result.out_dir, result.outcome)

    @property
    def verdict(self) -> str:
        """``"agrees"``, ``"disagrees"`` or ``"error"``."""
        return "error" if self.outcome is None else self.outcome.verdict


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
    exp, out = record.experiment, record.outcome
    entry: dict[str, Any] = {
        "name": exp.name,
        "title": exp.title,
        "source": exp.source,
        "claim": exp.claim,
        "size": "quick" if record.quick else "full",
        "params": jsonable(record.params, strict=True),
        "seconds": round(record.seconds, 3),
        "verdict": record.verdict,
    }
    if out is not None:
        entry.update(
            prediction=out.prediction,
            measured=out.measured,
            tolerance=out.tolerance,
            notes=out.notes,
            values=jsonable(out.values, strict=True),
            figures=[_relative(f, base) for f in out.figures],
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


def _badge(verdict: str) -> str:
    return f'<span class="verdict {verdict}">{verdict}</span>'


def _claims_table(records: Sequence[RunRecord]) -> str:
    rows = [
        "<table id='claims'><thead><tr><th>experiment</th><th>claim</th><th>prediction</th>"
        "<th>measured</th><th>verdict</th><th>tolerance</th></tr></thead><tbody>"
    ]
    for source, group in _by_source(records).items():
        rows.append(f"<tr class='source'><th colspan='6'>{html.escape(source)}</th></tr>")
        for r in group:
            out = r.outcome
            prediction = html.escape(out.prediction) if out else "—"
            measured = html.escape(out.measured) if out else "run failed (see its section)"
            tolerance = html.escape(out.tolerance) if out else "—"
            name = html.escape(r.experiment.name)
            rows.append(
                f"<tr><td><a href='#{name}'>{name}</a></td>"
                f"<td>{html.escape(r.experiment.claim)}</td><td>{prediction}</td><td>{measured}</td>"
                f"<td>{_badge(r.verdict)}</td><td>{tolerance}</td></tr>"
            )
    rows.append("</tbody></table>")
    return "\n".join(rows)


def _by_source(records: Sequence[RunRecord]) -> dict[str, list[RunRecord]]:
    groups: dict[str, list[RunRecord]] = {}
    for r in records:
        groups.setdefault(r.experiment.source, []).append(r)
    return groups


def _section(record: RunRecord) -> str:
    exp, out = record.experiment, record.outcome
    size = "quick" if record.quick else "full"
    parts = [
        f"<section id='{html.escape(exp.name)}'><h2>{html.escape(exp.name)}: {html.escape(exp.title)}</h2>",
        f"<p class='meta'>source: {html.escape(exp.source)} · size: {size} · "
        f"{record.seconds:.1f} s · {_badge(record.verdict)}</p>",
        f"<p><strong>Claim.</strong> {html.escape(exp.claim)}</p>",
        "<table class='params'><tr><th>parameter</th><th>value</th></tr>",
        *(
            f"<tr><td>{html.escape(k)}</td><td>{html.escape(format_value(v))}</td></tr>"
            for k, v in record.params.items()
        ),
        "</table>",
    ]
    if out is None:
        parts.append(f"<p><strong>The run failed.</strong></p><pre>{html.escape(record.error or '')}</pre>")
    else:
        parts += [
            "<table class='outcome'>",
            f"<tr><th>prediction</th><td>{html.escape(out.prediction)}</td></tr>",
            f"<tr><th>measured</th><td>{html.escape(out.measured)}</td></tr>",
            f"<tr><th>tolerance</th><td>{html.escape(out.tolerance)}</td></tr>",
            f"<tr><th>verdict</th><td>{_badge(out.verdict)}</td></tr>",
            "</table>",
        ]
        if out.notes:
            parts.append(f"<p><strong>Notes.</strong> {html.escape(out.notes)}</p>")
        if out.values:
            parts.append("<table class='values'><tr><th>value</th><th></th></tr>")
            parts += [
                f"<tr><td>{html.escape(k)}</td><td>{html.escape(format_value(v))}</td></tr>"
                for k, v in out.values.items()
            ]
            parts.append("</table>")
        for figure in out.figures:
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

    The page opens with a table of claims grouped by source (prediction, measured value, verdict,
    tolerance), followed by a section per experiment with its parameters, values and figures.

    Args:
        records: the runs, in the order to show them (grouped by source in the table).
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
    counts = {v: sum(r.verdict == v for r in records) for v in ("agrees", "disagrees", "error")}
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
            *(_section(r) for group in _by_source(records).values() for r in group),
            "</body></html>",
        ]
    )
    atomic_write_text(out / "results.json", json.dumps([record_json(r, out) for r in records], indent=2))
    return atomic_write_text(out / "report.html", page)
