"""``attnflow trace --model NAME --text TEXT --out DIR``: a real model's forward pass as a flow."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from attnflow.io import atomic_write_zarr

if TYPE_CHECKING:
    pass


def trace(
    model: str = typer.Option(
        ..., "--model", "-m", help="Short name (smollm2-135m, minilm-l6), directory or hub id."
    ),
    text: str = typer.Option(..., "--text", "-t", help="The input text."),
    out: Path = typer.Option(..., "--out", "-o", help="Output directory (created)."),
    sublayers: bool = typer.Option(False, "--sublayers", help="Also record the state after each attention."),
    beta: float = typer.Option(1.0, help="β of the energy E_β on the unit-normalised states."),
    figures: bool = typer.Option(True, "--figures/--no-figures", help="Write PNG figures."),
) -> None:
    """Trace a Transformer on a text: trajectory, attention/MLP decomposition, lens, particle measures.

    Writes to OUT: trajectory.zarr (the residual stream over layers), decomposition.zarr, lens.zarr,
    particles.zarr and fit.zarr (the SA step fitted to every layer), and with figures lens.png,
    cosines.png, shares.png and fit.png.
    """
    from rich.console import Console

    from attnflow import lm
    from attnflow.viz import plot_cosine_histograms

    console = Console(stderr=True)
    try:
        with console.status(f"loading {model} …"):
            language_model = lm.load(model)
        with console.status("tracing …"):
            traj = lm.trace(language_model, text, sublayers=sublayers)
            layers = traj[::2] if sublayers else traj
            decomposition = lm.decompose(language_model, text)
            lens_of = lm.logit_lens if language_model.is_causal_lm else lm.embedding_lens
            lens = lens_of(language_model, text)
            particles = lm.particle_measures(layers, beta=beta)
            fit = lm.fit_dynamics(layers)
    except (ValueError, TypeError, FileNotFoundError) as err:
        console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(2) from None
    out.mkdir(parents=True, exist_ok=True)
    written = [traj.save(out / "trajectory.zarr")]
    for name, dataset in (
        ("decomposition", decomposition),
        ("lens", lens),
        ("particles", particles),
        ("fit", fit),
    ):
        atomic_write_zarr(out / f"{name}.zarr", dataset)
        written.append(out / f"{name}.zarr")
    if figures:
        label = f"{model}: {traj.n_tokens} tokens"
        lm.plot_lens(lens, out / "lens.png", title=f"{lens.attrs['lens']} lens — {label}")
        plot_cosine_histograms(
            lm.to_sphere(layers), path=out / "cosines.png", title=f"pairwise cosines per layer — {label}"
        )
        lm.plot_shares(decomposition, out / "shares.png", title=f"attention vs filtering — {label}")
        lm.plot_fit(fit, out / "fit.png", title=f"fitted self-attention step — {label}")
        written += [out / f"{name}.png" for name in ("lens", "cosines", "shares", "fit")]
    console.print(f"traced {model} ({language_model.n_layers} layers) on {traj.n_tokens} tokens")
    for path in written:
        console.print(f"  {path}")


def register(app: typer.Typer) -> None:
    """Add ``attnflow trace`` to the CLI."""
    app.command(name="trace")(trace)
