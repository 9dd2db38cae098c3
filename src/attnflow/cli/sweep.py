"""``attnflow sweep SPEC --out STORE`` and ``attnflow plot phase-diagram STORE``."""

from __future__ import annotations

from pathlib import Path

import typer

plot_app = typer.Typer(help="Figures from stored results.", no_args_is_help=True)


def sweep(
    spec: Path = typer.Argument(..., help="Sweep spec, YAML (.yaml/.yml) or TOML (.toml).", exists=True),
    out: Path = typer.Option(..., "--out", "-o", help="The sweep's Zarr store (created, or resumed)."),
    executor: str = typer.Option("local", help="Where runs execute: 'local' (process pool) or 'ray'."),
    workers: int = typer.Option(
        None, help="Local worker processes (or local Ray CPUs); default: one per core."
    ),
    threads_per_run: int = typer.Option(1, help="torch threads inside each run."),
    betas_per_task: int = typer.Option(
        None,
        help="Most simulation runs that differ only in beta integrated together in one task; "
        "default: chosen from the workers; 1: every run alone.",
    ),
    address: str = typer.Option(
        None, help="Ray: join this cluster ('auto' or HOST:PORT) instead of a local Ray."
    ),
    gpus_per_run: float = typer.Option(0.0, help="Ray: GPUs reserved for each run (fractions share a GPU)."),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="Run the failed runs again."),
    force_new: bool = typer.Option(False, "--force-new", help="Discard a store made from a different spec."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    dry_run: bool = typer.Option(
        False,
        "--dry-run",
        help="Check the spec against its target (this imports the spec's imports) and count the runs; "
        "run nothing, write nothing.",
    ),
) -> None:
    """Run a parameter sweep into a resumable Zarr store (re-run the same command to resume).

    A spec's `imports` run Python code: run only specs you would run as scripts.

    Exit status: 0 if every run succeeded, 1 if some failed (tracebacks are kept), 2 for a bad spec or store.
    """
    from rich.console import Console

    from attnflow import sweep as sweep_api

    console = Console(stderr=True)
    config = sweep_api.ExecutorConfig(
        kind=executor,
        workers=workers,
        threads_per_run=threads_per_run,
        address=address,
        gpus_per_run=gpus_per_run,
        betas_per_task=betas_per_task,
    )
    parsed = sweep_api.load_spec(spec)
    if dry_run:
        sweep_api.check_target(parsed)
        shape = " x ".join(f"{name} ({len(values)})" for name, values in parsed.dims.items())
        console.print(f"{parsed.n_runs} runs: {shape or 'one run'}; spec and target check out")
        return
    status = sweep_api.run(
        parsed, out, executor=config, retry_failed=retry_failed, force_new=force_new, progress=not quiet
    )
    counts = f"{status.done} done, {status.failed} failed, {status.pending} pending"
    console.print(f"{counts} of {status.total} runs in {out}")
    for failure in status.failures[:5]:
        where = ", ".join(f"{k}={v!r}" for k, v in failure.swept.items())
        console.print(f"[red]failed[/] ({where}): {failure.error}")
    if status.failed:
        console.print("Tracebacks: attnflow.sweep.status(STORE).failures; rerun with --retry-failed.")
        raise typer.Exit(1)


def phase_diagram(
    store: Path = typer.Argument(..., help="A sweep store written by `attnflow sweep`.", exists=True),
    var: str | None = typer.Option(None, help="Variable to draw (default: the first one)."),
    x: str = typer.Option(
        None, "--x", help="Dimension on the horizontal axis (default: the variable's last)."
    ),
    y: str | None = typer.Option(None, "--y", help="Dimension on the vertical axis (default: its first)."),
    facet: str | None = typer.Option(None, help="Dimension split into panels."),
    sel: list[str] = typer.Option(
        [], "--sel", help="Fix a dimension, DIM=VALUE (repeatable); others are averaged."
    ),
    contour: list[float] = typer.Option(
        [], "--contour", help="Draw a contour line at this level (repeatable)."
    ),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Figure file (default: STORE's name + VAR.png)."
    ),
) -> None:
    """Heat map of a sweep's result over two dimensions (e.g. time × β), other dimensions averaged."""

    from attnflow import sweep as sweep_api
    from attnflow.viz import plot_phase_diagram

    ds = sweep_api.load_results(store)
    target = out or store.with_name(f"{store.stem}-{var or 'phase-diagram'}.png")
    fixed = dict(_parse_sel(item) for item in sel)
    plot_phase_diagram(ds, var, x=x, y=y, facet=facet, sel=fixed, contour=contour, path=target)
    typer.echo(str(target))


def _parse_sel(item: str) -> tuple[str, object]:
    """``DIM=VALUE`` → ``(DIM, value)``, the value read as a number where it is one."""
    dim, sep, text = item.partition("=")
    if not sep or not dim:
        raise ValueError(f"--sel must be DIM=VALUE, got {item!r}")
    for kind in (int, float):
        try:
            return dim, kind(text)
        except ValueError:
            pass
    return dim, text


def register(app: typer.Typer) -> None:
    """Add ``sweep`` and the ``plot`` group (``plot phase-diagram``) to the CLI."""
    app.command("sweep")(sweep)
    plot_app.command("phase-diagram")(phase_diagram)
    app.add_typer(plot_app, name="plot")
