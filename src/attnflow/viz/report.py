"""The reproduction report: one self-contained HTML page (figures embedded) plus ``results.json``."""

from __future__ import annotations

import base64
import datetime as dt
import html
import json
import platform
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch

from attnflow.io import atomic_write_text, jsonable
from attnflow.viz.figure import VECTOR_FORMATS, caption_of

#: Verdicts a run can end with: the three of an experiment, or ``error`` when it raised.
STATUSES = ("agrees", "disagrees", "inconclusive", "error")

_MIME = {".png": "image/png", ".gif": "image/gif", ".svg": "image/svg+xml", ".jpg": "image/jpeg"}

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 1100px;
       padding: 0 1rem; color: #1d1d1f; line-height: 1.45; overflow-wrap: anywhere; }
h1 { font-size: 1.7rem; } h2 { margin-top: 2.4rem; border-bottom: 1px solid #ddd; padding-bottom: .3rem; }
table { border-collapse: collapse; width: 100%; margin: 1rem 0; font-size: .92rem; }
th, td { border: 1px solid #d6d6d6; padding: .35rem .5rem; text-align: left; vertical-align: top; }
th { background: #f3f3f5; } tr.paper th { background: #e7ecf5; text-align: left; }
table.params, table.values { width: auto; max-width: 100%; } td.number { font-variant-numeric: tabular-nums; }
th, #claims td:first-child { overflow-wrap: normal; }
#claims td:first-child, table.outcome th { white-space: nowrap; }
.verdict { font-weight: 600; padding: .1rem .45rem; border-radius: .3rem; white-space: nowrap; }
.agrees { background: #d8f3dc; color: #1b4332; } .disagrees { background: #ffd6d6; color: #7a1212; }
.inconclusive { background: #e4e4ea; color: #3a3a4a; } .error { background: #ffe8b3; color: #6b4500; }
figure { margin: 1rem 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: .85rem; color: #555; } .meta { color: #555; font-size: .9rem; }
pre { background: #f6f6f6; padding: .6rem; overflow-x: auto; font-size: .85rem; white-space: pre-wrap; }
.katex { font-size: 1.05em; } .katex-display { overflow-x: auto; }
/* A narrow window: the claims table becomes one block per claim, each cell labelled. */
@media (max-width: 720px) {
  #claims thead { display: none; }
  #claims tr, #claims td { display: block; border: none; }
  #claims tr { border-top: 1px solid #d6d6d6; padding: .4rem 0; }
  #claims td::before { content: attr(data-label) ": "; font-weight: 600; color: #555; }
  #claims tr.paper th { display: block; }
}
"""

#: Unicode symbols in claim texts and their TeX, so KaTeX typesets them in a formula.
_TEX = {
    "α": r"\alpha ",
    "β": r"\beta ",
    "γ": r"\gamma ",
    "δ": r"\delta ",
    "ε": r"\varepsilon ",
    "θ": r"\theta ",
    "κ": r"\kappa ",
    "λ": r"\lambda ",
    "μ": r"\mu ",
    "π": r"\pi ",
    "ρ": r"\rho ",
    "σ": r"\sigma ",
    "τ": r"\tau ",
    "φ": r"\varphi ",
    "Σ": r"\sum ",
    "Δ": r"\Delta ",
    "⟨": r"\langle ",
    "⟩": r"\rangle ",
    "−": "-",
    "≤": r"\le ",
    "≥": r"\ge ",
    "∝": r"\propto ",
    "·": r"\cdot ",
    "‖": r"\| ",
    "∞": r"\infty ",
    "×": r"\times ",
    "→": r"\to ",
    "∈": r"\in ",
    "ℝ": r"\mathbb{R}",
    "√": r"\sqrt ",
    "²": "^{2}",
    "³": "^{3}",
    "₀": "_{0}",
    "₁": "_{1}",
    "₂": "_{2}",
}

#: A word written as a formula: a superscript, a subscript on a one-letter (or Greek) base, or a Greek or
#: braced subscript (``dE_β/dt``).
_FORMULA_WORD = re.compile(r"\^|(?<![A-Za-z0-9])[A-Za-zΑ-Ωα-ω]_|_[{Α-Ωα-ω]")
#: A sub- or superscript without braces and the run of characters it applies to (a subscript ends at
#: ``/``: ``E_β/dt``; a superscript keeps it: ``n^-2/5``).
_BARE_SCRIPT = re.compile(r"(_)(?!\{)([^\s{}_^,()⟨⟩/=+]+)|(\^)(?!\{)(-?[^\s{}_^,()⟨⟩=+]+)")
#: Explicit formulas: ``$...$``.
_DOLLARS = re.compile(r"\$([^$]+)\$")


def tex_of(formula: str) -> str:
    """The TeX of a formula written with Unicode symbols (``e^{β⟨x_i,x_j⟩}`` → ``e^{\\beta \\langle …}``)."""
    braced = _BARE_SCRIPT.sub(lambda m: f"{m.group(1) or m.group(3)}{{{m.group(2) or m.group(4)}}}", formula)
    return "".join(_TEX.get(ch, ch) for ch in braced)


def math_html(text: str) -> str:
    """Escaped ``text`` with each formula as ``<span class="math">TeX</span>`` for KaTeX to typeset.

    Formulas are the spans between ``$`` signs; without any, each word with a superscript or a
    one-letter subscript (``S^{d−1}``, ``E_β``, ``n^-2/5``; not ``key_dim``), less unbalanced brackets
    and trailing punctuation around it.
    """
    if _DOLLARS.search(text):
        parts = _DOLLARS.split(text)
        return "".join(
            html.escape(part) if i % 2 == 0 else f'<span class="math">{html.escape(tex_of(part))}</span>'
            for i, part in enumerate(parts)
        )
    return "".join(_math_word(word) for word in re.split(r"(\s+)", text))


def _math_word(word: str) -> str:
    if not _FORMULA_WORD.search(word):
        return html.escape(word)
    core, lead, trail = word, "", ""
    while core and (core[-1] in ".,;:" or (core[-1] == ")" and core.count(")") > core.count("("))):
        core, trail = core[:-1], core[-1] + trail
    while core and core[0] == "(" and core.count("(") > core.count(")"):
        core, lead = core[1:], lead + core[0]
    tex = html.escape(tex_of(core))
    return f'{html.escape(lead)}<span class="math">{tex}</span>{html.escape(trail)}'


def _katex() -> tuple[str, str]:
    """The vendored KaTeX (script with auto-render, style sheet with its fonts inlined as data URIs)."""
    folder = resources.files("attnflow.viz") / "assets" / "katex"
    script = (folder / "katex.min.js").read_text(encoding="utf-8")
    fonts = folder / "fonts"

    def inline(match: re.Match[str]) -> str:
        name = match.group(1)
        data = base64.b64encode((fonts / name).read_bytes()).decode("ascii")
        return f'url(data:font/woff2;base64,{data}) format("woff2")'

    style = (folder / "katex.min.css").read_text(encoding="utf-8")
    # Only the woff2 fonts ship (every current browser reads them); drop the woff/ttf fallbacks.
    style = re.sub(r",url\(fonts/[^)]+\.(?:woff|ttf)\) format\(\"(?:woff|truetype)\"\)", "", style)
    style = re.sub(r"url\(fonts/([^)]+\.woff2)\) format\(\"woff2\"\)", inline, style)
    return script, style


#: Typesets every ``.math`` span once the page has loaded (KaTeX is inlined above it).
_RENDER_MATH = """
document.querySelectorAll('.math').forEach(function (el) {
  katex.render(el.textContent, el, {throwOnError: false, output: 'html', strict: 'ignore'});
});
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
    columns = ("experiment", "claim", "prediction", "measured", "verdict", "tolerance")
    rows = [
        "<table id='claims'><thead><tr>" + "".join(f"<th>{c}</th>" for c in columns) + "</tr></thead><tbody>"
    ]
    for paper, group in _by_paper(records).items():
        rows.append(f"<tr class='paper'><th colspan='6'>{html.escape(paper)}</th></tr>")
        for r in group:
            failed = r.error is not None
            prediction = "—" if failed else math_html(r.prediction)
            measured = "run failed (see its section)" if failed else math_html(r.measured)
            tolerance = "—" if failed else math_html(r.tolerance)
            name = html.escape(r.name)
            cells = (
                f"<a href='#{name}'>{name}</a>",
                math_html(r.claim),
                prediction,
                measured,
                _badge(r.status),
                tolerance,
            )
            rows.append(
                "<tr>"
                + "".join(f"<td data-label='{c}'>{v}</td>" for c, v in zip(columns, cells, strict=True))
                + "</tr>"
            )
    rows.append("</tbody></table>")
    return "\n".join(rows)


def _summary_table(records: Sequence[RunRecord]) -> str:
    """How many runs of each paper ended in each verdict: one row per paper."""
    present = [status for status in STATUSES if any(r.status == status for r in records)]
    rows = [
        "<table id='summary'><thead><tr><th>paper</th>"
        + "".join(f"<th>{_badge(status)}</th>" for status in present)
        + "</tr></thead><tbody>"
    ]
    for paper, group in _by_paper(records).items():
        counts = "".join(
            f"<td class='number'>{sum(r.status == status for r in group) or ''}</td>" for status in present
        )
        rows.append(f"<tr><td>{html.escape(paper)}</td>{counts}</tr>")
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
        f"<h2>{html.escape(record.name)}: {math_html(record.title)}</h2>",
        f"<p class='meta'>size: {size} · {record.seconds:.1f} s · {_badge(record.status)}</p>",
        *(f"<p class='meta'>{html.escape(k)}: {html.escape(v)}</p>" for k, v in record.provenance.items()),
        f"<p><strong>Source.</strong> {html.escape(record.citation)}</p>",
        f"<p><strong>Claim.</strong> {math_html(record.claim)}</p>",
        "<table class='params'><thead><tr><th>parameter</th><th>value</th></tr></thead><tbody>",
        *(
            f"<tr><td>{html.escape(k)}</td><td>{html.escape(format_value(v))}</td></tr>"
            for k, v in record.params.items()
        ),
        "</tbody></table>",
    ]
    if record.error is not None:
        parts.append(f"<p><strong>The run failed.</strong></p><pre>{html.escape(record.error)}</pre>")
    else:
        parts += [
            "<table class='outcome'>",
            f"<tr><th>prediction</th><td>{math_html(record.prediction)}</td></tr>",
            f"<tr><th>measured</th><td>{math_html(record.measured)}</td></tr>",
            f"<tr><th>tolerance</th><td>{math_html(record.tolerance)}</td></tr>",
            f"<tr><th>verdict</th><td>{_badge(record.status)}</td></tr>",
            "</table>",
        ]
        if record.notes:
            parts.append(f"<p><strong>Notes.</strong> {math_html(record.notes)}</p>")
        if record.values:
            parts.append(
                "<table class='values'><thead><tr><th>quantity</th><th>value</th></tr></thead><tbody>"
            )
            parts += [
                f"<tr><td>{html.escape(k)}</td><td class='number'>{html.escape(format_value(v))}</td></tr>"
                for k, v in record.values.items()
            ]
            parts.append("</tbody></table>")
        parts += [_figure(Path(figure)) for figure in record.figures]
    parts.append("</section>")
    return "\n".join(parts)


def _figure(path: Path) -> str:
    """The figure embedded, captioned with what it plots; its vector copies are named beside it."""
    caption = caption_of(path) or path.stem.replace("_", " ")
    copies = [path.with_suffix(s).name for s in VECTOR_FORMATS if path.with_suffix(s).is_file()]
    files = html.escape(", ".join([path.name, *copies]))
    return (
        f"<figure><img src='{_embed(path)}' alt='{html.escape(caption)}'>"
        f"<figcaption>{math_html(caption)} <span class='meta'>({files})</span></figcaption></figure>"
    )


def write_report(
    records: Sequence[RunRecord], out_dir: str | Path, title: str = "attnflow: reproduced claims"
) -> Path:
    """Write ``report.html`` (self-contained: CSS, KaTeX and its fonts inline, figures as data URIs) and
    ``results.json``.

    The page opens with the verdicts counted per paper and a table of claims grouped by the cited paper
    (prediction, measured value, verdict, tolerance), followed by a section per experiment with its
    citation, parameters, values and captioned figures. The verdicts ``agrees``, ``disagrees``,
    ``inconclusive`` and ``error`` each have a badge. Formulas in the texts (between ``$`` signs, or
    words such as ``S^{d−1}`` and ``E_β``: see :func:`math_html`) are typeset by the vendored KaTeX
    when the page opens, offline. On a narrow window the claims table becomes one block per claim.

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
    katex_script, katex_style = _katex()
    page = "\n".join(
        [
            "<!DOCTYPE html>",
            "<html lang='en'><head><meta charset='utf-8'>",
            "<meta name='viewport' content='width=device-width, initial-scale=1'>",
            f"<title>{html.escape(title)}</title><style>{katex_style}</style><style>{_STYLE}</style>",
            "</head><body>",
            f"<h1>{html.escape(title)}</h1>",
            f"<p class='meta'>{len(records)} experiment{'s' if len(records) > 1 else ''}: {summary}. "
            f"Generated {when} by attnflow {__version__} (Python {platform.python_version()}, "
            f"torch {torch.__version__}).</p>",
            "<h2>Summary by paper</h2>",
            _summary_table(records),
            "<h2>Claims</h2>",
            _claims_table(records),
            *(_section(r) for group in _by_paper(records).values() for r in group),
            f"<script>{katex_script}</script><script>{_RENDER_MATH}</script>",
            "</body></html>",
        ]
    )
    atomic_write_text(out / "results.json", json.dumps([record_json(r, out) for r in records], indent=2))
    return atomic_write_text(out / "report.html", page)
