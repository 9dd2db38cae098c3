"""``attnflow explore``: a local web app to watch tokens cluster, live."""

from __future__ import annotations

from pathlib import Path

import typer


def explore(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (loopback by default)."),
    port: int = typer.Option(0, "--port", min=0, max=65535, help="Port (0: a free one)."),
    browser: bool = typer.Option(True, "--browser/--no-browser", help="Open the page in a browser."),
    sweep: Path | None = typer.Option(
        None, "--sweep", help="A sweep store to show as a phase diagram (the only file it reads)."
    ),
    model: str | None = typer.Option(
        None, "--model", "-m", help="A model for the model view (smollm2-135m, minilm-l6 or a directory)."
    ),
) -> None:
    """Start the explore app: tokens on the circle or sphere moving under self-attention, live, with
    sliders for n, β, the variant and the mask; a real model's layers; a sweep's phase diagram.

    Prints the URL; Ctrl-C stops the server.
    """
    from rich.console import Console

    from attnflow.explore import serve

    console = Console(stderr=True)
    try:
        if sweep is not None and not sweep.exists():
            raise FileNotFoundError(f"--sweep: no sweep store at {sweep}")
        language_model = None
        if model is not None:
            from attnflow import lm

            with console.status(f"loading {model} … (the first load of a model converts it, once)"):
                language_model = lm.load(model)
        serve(
            host,
            port,
            sweep=str(sweep) if sweep else None,
            model=language_model,
            open_browser=browser,
            announce=console.print,
        )
    except ImportError as err:
        console.print(f"[red]error:[/red] {err} (explore needs: pip install 'attnflow[explore]')")
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        console.print("stopped")


def register(app: typer.Typer) -> None:
    """Add ``attnflow explore`` to the CLI."""
    app.command(name="explore")(explore)
