"""``attnflow trace --model NAME --text TEXT --out DIR``: a real model's forward pass as a flow."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from attnflow.lm import TraceAnalysis


def trace(
    model: str = typer.Option(
        ..., "--model", "-m", help="Short name (smollm2-135m, minilm-l6), directory or hub id."
    ),
    text: str = typer.Option(..., "--text", "-t", help="The input text."),
    out: Path = typer.Option(..., "--out", "-o", help="Output directory (created)."),
    device: str = typer.Option("cpu", help="cpu, cuda, cuda:N or auto (CUDA when present)."),
    dtype: str = typer.Option("float32", help="Parameter dtype: float32, float64, float16 or bfloat16."),
    sublayers: bool = typer.Option(False, "--sublayers", help="Also store the state after each attention."),
    patterns: bool = typer.Option(
        False, "--patterns", help="Record attention patterns and per-head outputs (eager attention, slower)."
    ),
    beta: float = typer.Option(1.0, help="β of the energy E_β on the unit-normalised states."),
    top: int = typer.Option(5, min=1, max=50, help="How many next tokens the summary lists."),
    figures: bool = typer.Option(True, "--figures/--no-figures", help="Write PNG figures."),
    save_recording: bool = typer.Option(
        False, "--save-recording", help="Also store the whole recorded pass (recording.zarr)."
    ),
) -> None:
    """Trace a Transformer on a text: one forward pass, then trajectory, attention/MLP decomposition,
    additivity audit, lens, particle measures and the fitted dynamics, all read from that pass.

    Writes to OUT: trajectory.zarr (the residual stream over layers), decomposition.zarr, audit.zarr,
    lens.zarr, particles.zarr and fit.zarr (the SA step fitted to every layer), optionally
    recording.zarr, and with figures lens.png, lens_curves.png (causal LMs), cosines.png, shares.png,
    fit.png, measures.png, and with --patterns patterns.png and heads.png. Prints the model's top next
    tokens and the layer where its answer first appears.
    """
    from rich.console import Console

    console = Console(stderr=True)
    from attnflow import lm

    with console.status(f"loading {model} …"):
        language_model = lm.load(model, dtype=dtype, device=device)
    with console.status("tracing …"):
        recording = lm.record(language_model, text, patterns=patterns, heads=patterns)
        analysis = lm.analyse(recording, sublayers=sublayers, beta=beta)
    written = analysis.save(out, recording=save_recording)
    if figures:
        from attnflow.viz import plot_trace

        with console.status("rendering the figures …"):
            written += plot_trace(analysis, out, f"{model}: {recording.n_tokens} tokens")
    audit = analysis.audit.attrs
    console.print(
        f"traced {model} ({recording.n_layers} layers, {audit['norm_placement']}-norm"
        f"{', parallel' if audit['parallel'] else ''}; residual additive: "
        f"{'yes' if audit['additive'] else 'no'}) on {recording.n_tokens} tokens"
    )
    if analysis.lens.attrs["lens"] == "logit":
        _print_next_tokens(console, analysis, top)
    for path in written:
        console.print(f"  {path}")


def _print_next_tokens(console: Console, analysis: TraceAnalysis, top: int) -> None:
    """The model's top next tokens after the input and the layer where its answer first appears."""
    import torch

    from attnflow.lm import answer_layer

    recording = analysis.recording
    log_p = torch.log_softmax(recording.logits[-1].double().cpu(), dim=-1)
    best = log_p.topk(min(top, log_p.numel()))
    tokens = recording.language_model.token_strings(best.indices)
    listed = ", ".join(
        f"{token!r} {prob:.3f}" for token, prob in zip(tokens, best.values.exp().tolist(), strict=True)
    )
    console.print(f"next token: {listed}")
    layer = answer_layer(analysis.lens)
    if layer == recording.n_layers:
        where = f"only at the output (layer {recording.n_layers})"
    elif layer % 1:
        where = f"from after the attention of block {int(layer)} on (of {recording.n_layers})"
    else:
        where = f"from layer {int(layer)} on (of {recording.n_layers}; 0 = embeddings)"
    console.print(f"the answer {tokens[0]!r} is the logit lens's top token {where}")


def register(app: typer.Typer) -> None:
    """Add ``attnflow trace`` to the CLI."""
    app.command(name="trace")(trace)
