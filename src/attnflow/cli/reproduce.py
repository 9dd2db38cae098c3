"""``attnflow reproduce`` and ``attnflow experiments``: run the registered experiments, list them."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

console = Console()

VERDICT_STYLE = {"agrees": "green", "disagrees": "red", "inconclusive": "blue", "error": "yellow"}


def parse_overrides(assignments: Sequence[str], names: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Parse ``NAME.KEY=VALUE`` (or ``KEY=VALUE`` when one experiment runs) into per-experiment overrides.

    Values are read as YAML (``3``, ``0.5``, ``1e-6``, ``[2, 3]``, ``true``, ``SA``).

    Raises:
        typer.BadParameter: malformed assignment or an experiment that is not being run.
    """
    import yaml

    parsed: dict[str, dict[str, Any]] = {}
    for item in assignments:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"expected NAME.KEY=VALUE, got {item!r}", param_hint="--set")
        name, dot, param = key.rpartition(".")
        if not dot:
            if len(names) != 1:
                raise typer.BadParameter(
                    f"{item!r}: say which experiment, as NAME.{key}=VALUE", param_hint="--set"
                )
            name, param = names[0], key
        if name not in names:
            raise typer.BadParameter(f"{item!r}: experiment {name!r} is not being run", param_hint="--set")
        parsed.setdefault(name, {})[param] = _value(yaml.safe_load(raw))
    return parsed


def _value(loaded: Any) -> Any:
    """YAML 1.1 reads ``1e-15`` (no dot) as a string; read such strings as numbers."""
    if isinstance(loaded, list):
        return [_value(v) for v in loaded]
    if isinstance(loaded, str):
        try:
            return float(loaded)
        except ValueError:
            return loaded
    return loaded


def _snapshot(doc: Path | None) -> dict[Path, bytes]:
    """The bytes of a docs page and of the figures reproduce copies beside it, by path."""
    if doc is None:
        return {}
    paths = [doc, *sorted((doc.parent / "figures" / "reproduce").glob("*"))]
    return {p: p.read_bytes() for p in paths if p.is_file()}


def register(app: typer.Typer) -> None:
    """Add ``reproduce`` and ``experiments`` to the ``attnflow`` command line."""

    @app.command("reproduce")
    def reproduce_command(
        names: Annotated[
            list[str] | None,
            typer.Argument(help="Experiments to run (default: all; see `attnflow experiments`)."),
        ] = None,
        quick: Annotated[
            bool, typer.Option("--quick", help="Small sizes (seconds each), as in the tests.")
        ] = False,
        out: Annotated[Path, typer.Option("--out", help="Output folder for the report and figures.")] = Path(
            "runs/reproduce"
        ),
        docs: Annotated[
            Path | None,
            typer.Option(
                "--docs",
                help="Also rewrite these runs' sections of this Markdown page (and copy their first "
                "figures beside it); without it nothing under docs/ is touched.",
            ),
        ] = None,
        assignments: Annotated[
            list[str] | None,
            typer.Option(
                "--set", help="Override a parameter: NAME.KEY=VALUE (KEY=VALUE for one experiment)."
            ),
        ] = None,
    ) -> None:
        """Run the experiments that check the papers' claims and write one HTML report.

        Exits with status 0 when nothing disagrees (an inconclusive verdict says the size cannot decide,
        not that the claim failed) and 1 on a disagreement or a failed run.
        """
        from attnflow import experiments

        available = experiments.available()
        unknown = [n for n in names or [] if n not in available]
        if unknown:
            raise typer.BadParameter(
                f"unknown experiment(s) {', '.join(unknown)}; available: {', '.join(available)}",
                param_hint="NAMES",
            )
        selected = list(names) if names else available
        overrides = parse_overrides(assignments or [], selected)
        before = _snapshot(docs)
        try:
            records = experiments.reproduce(
                selected,
                out=out,
                quick=quick,
                overrides=overrides,
                progress=True,
                docs=docs,
                command=shlex.join(["attnflow", *sys.argv[1:]]),
            )
        except (TypeError, ValueError) as err:
            raise typer.BadParameter(str(err), param_hint="--set") from None
        _print_claims(records)
        console.print(f"report: {out / 'report.html'}")
        if docs is not None:
            changed = [path for path, data in _snapshot(docs).items() if before.get(path) != data]
            listing = ", ".join(str(p) for p in changed) if changed else "nothing changed"
            console.print(f"docs: {listing}", highlight=False, soft_wrap=True)
        if any(r.status in ("disagrees", "error") for r in records):
            raise typer.Exit(code=1)

    @app.command("experiments")
    def experiments_command(
        long: Annotated[
            bool, typer.Option("--long", help="Also show each full citation and the parameters.")
        ] = False,
    ) -> None:
        """List the registered experiments, grouped by paper (--long: citations and parameters)."""
        from attnflow import experiments

        specs = sorted((experiments.get(n) for n in experiments.available()), key=lambda e: e.citation.paper)
        if long:
            _print_long(specs)
            return
        table = Table(title="experiments (run with `attnflow reproduce NAME`; details: --long)")
        table.add_column("paper", no_wrap=True)
        # Names are what a user types next: never truncated, the titles wrap instead.
        table.add_column("name", no_wrap=True, overflow="fold")
        table.add_column("title", ratio=1)
        for i, exp in enumerate(specs):
            previous = specs[i - 1].citation.paper if i else None
            following = specs[i + 1].citation.paper if i + 1 < len(specs) else None
            paper = short_citation(exp.citation) if exp.citation.paper != previous else ""
            table.add_row(paper, exp.name, exp.title, end_section=exp.citation.paper != following)
        console.print(table)


#: The terminal width from which the summary table of ``attnflow reproduce`` shows the measured values
#: (narrower, the column would be a few characters wide; the report has them in full).
_MEASURED_MIN_WIDTH = 140


def _print_claims(records: Sequence[Any]) -> None:
    """The summary of a reproduce run: one row per experiment, with the measured values when the terminal
    is wide enough; narrower, a failed run's error gets a line of its own after the table."""
    from attnflow import experiments
    from attnflow.experiments.reproduction import last_line

    wide = console.width >= _MEASURED_MIN_WIDTH
    table = Table(title="claims" if wide else "claims (measured values: report.html)")
    table.add_column("experiment", no_wrap=True)
    table.add_column("paper", no_wrap=True)
    if wide:
        table.add_column("measured", ratio=1)
    table.add_column("verdict", no_wrap=True)
    for r in records:
        measured = last_line(r.error) if r.error is not None else r.measured
        cells = [r.name, short_citation(experiments.get(r.name).citation)]
        table.add_row(*cells, *([measured] if wide else []), f"[{VERDICT_STYLE[r.status]}]{r.status}[/]")
    console.print(table)
    for r in records:
        if not wide and r.error is not None:
            console.print(f"{r.name}: {last_line(r.error)}", highlight=False, soft_wrap=True)


def short_citation(citation: Any) -> str:
    """``Surname et al. (year)`` and the arXiv id on a second line: a paper in a narrow column."""
    first = citation.authors[0].split()[-1]
    label = f"{first}{' et al.' if len(citation.authors) > 1 else ''} ({citation.year})"
    return label + (f"\narXiv:{citation.arxiv}" if citation.arxiv else "")


def _print_long(specs: Sequence[Any]) -> None:
    """One block per experiment: name, title, full citation, parameters (full size; quick size)."""
    for exp in specs:
        params = ", ".join(
            f"{k}={v!r}" + (f" ({exp.quick[k]!r})" if k in exp.quick else "") for k, v in exp.defaults.items()
        )
        console.print(f"[bold]{exp.name}[/]: {exp.title}", highlight=False)
        for label, text in (("source", str(exp.citation)), ("parameters (full size; quick size)", params)):
            console.print(Padding(Text(f"{label}: {text}"), (0, 0, 0, 2)))
        console.print()
