"""``attnflow reproduce`` and ``attnflow experiments``: run the registered experiments, list them."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

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
            typer.Option("--docs", help="Also rewrite these runs' sections of this Markdown page."),
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
        from attnflow.experiments.reproduction import last_line

        available = experiments.available()
        unknown = [n for n in names or [] if n not in available]
        if unknown:
            raise typer.BadParameter(
                f"unknown experiment(s) {', '.join(unknown)}; available: {', '.join(available)}",
                param_hint="NAMES",
            )
        selected = list(names) if names else available
        overrides = parse_overrides(assignments or [], selected)
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
        table = Table(title="claims")
        for column in ("experiment", "paper", "measured", "verdict"):
            table.add_column(column)
        for r in records:
            measured = last_line(r.error) if r.error is not None else r.measured
            table.add_row(r.name, r.paper, measured, f"[{VERDICT_STYLE[r.status]}]{r.status}[/]")
        console.print(table)
        console.print(f"report: {out / 'report.html'}")
        if docs is not None:
            console.print(f"docs: {docs}")
        if any(r.status in ("disagrees", "error") for r in records):
            raise typer.Exit(code=1)

    @app.command("experiments")
    def experiments_command() -> None:
        """List the registered experiments, grouped by paper, with their parameters."""
        from attnflow import experiments

        table = Table(title="experiments (run with `attnflow reproduce NAME`)")
        for column in ("paper", "name", "title", "parameters (full size; quick size)"):
            table.add_column(column)
        specs = [experiments.get(n) for n in experiments.available()]
        for exp in sorted(specs, key=lambda e: e.citation.paper):
            params = ", ".join(
                f"{k}={v!r}" + (f" ({exp.quick[k]!r})" if k in exp.quick else "")
                for k, v in exp.defaults.items()
            )
            table.add_row(str(exp.citation), exp.name, exp.title, params)
        console.print(table)
