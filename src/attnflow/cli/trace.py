"""``attnflow trace --model NAME --text TEXT --out DIR``: a real model's forward pass as a flow."""

from __future__ import annotations

from pathlib import Path

import typer


def trace(
    model: str = typer.Option(
        ..., "--model", "-m", help="Short name (smollm2-135m, minilm-l6), directory or hub id."
    ),
    text: str = typer.Option(..., "--text", "-t", help="The input text."),
    out: Path = typer.Option(..., "--out", "-o", help="Output directory (created)."),
    sublayers: bool = typer.Option(False, "--sublayers", help="Also store the state after each attention."),
    beta: float = typer.Option(1.0, help="β of the energy E_β on the unit-normalised states."),
    figures: bool = typer.Option(True, "--figures/--no-figures", help="Write PNG figures."),
    save_recording: bool = typer.Option(
        False, "--save-recording", help="Also store the whole recorded pass (recording.zarr)."
    ),
) -> None:
    """Trace a Transformer on a text: one forward pass, then trajectory, attention/MLP decomposition,
    lens, particle measures and the fitted dynamics, all read from that pass.

    Writes to OUT: trajectory.zarr (the residual stream over layers), decomposition.zarr, lens.zarr,
    particles.zarr and fit.zarr (the SA step fitted to every layer), optionally recording.zarr, and
    with figures lens.png, cosines.png, shares.png and fit.png.
    """
    from rich.console import Console

    from attnflow import lm
    from attnflow.viz import plot_trace

    console = Console(stderr=True)
    with console.status(f"loading {model} …"):
        language_model = lm.load(model)
    with console.status("tracing …"):
        recording = lm.record(language_model, text)
        analysis = lm.analyse(recording, sublayers=sublayers, beta=beta)
    written = analysis.save(out, recording=save_recording)
    if figures:
        written += plot_trace(analysis, out, f"{model}: {recording.n_tokens} tokens")
    console.print(f"traced {model} ({recording.n_layers} layers) on {recording.n_tokens} tokens")
    for path in written:
        console.print(f"  {path}")


def register(app: typer.Typer) -> None:
    """Add ``attnflow trace`` to the CLI."""
    app.command(name="trace")(trace)
