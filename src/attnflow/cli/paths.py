"""``attnflow paths``: train a sequence model on a world with an exact path law and evaluate it."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

console = Console()


class WorldName(str, Enum):
    markov = "markov"
    hmm = "hmm"
    pcfg = "pcfg"
    in_context = "in-context"


class Architecture(str, Enum):
    attention = "attention"
    linear_attention = "linear-attention"
    ssm = "ssm"
    conv = "conv"
    gpt2 = "gpt2"
    llama = "llama"


def register(app: typer.Typer) -> None:
    """Add the ``paths`` command group (``attnflow paths train``)."""
    paths_app = typer.Typer(
        help="Path worlds: train small sequence models on a language with an exact path law."
    )
    app.add_typer(paths_app, name="paths")

    @paths_app.command("train")
    def train_command(
        out: Annotated[Path, typer.Option(help="Folder for the checkpoint, history, trace and figure.")],
        world: Annotated[WorldName, typer.Option(help="The world.")] = WorldName.hmm,
        architecture: Annotated[Architecture, typer.Option(help="The model.")] = Architecture.attention,
        vocab_size: Annotated[int, typer.Option(min=2, help="Tokens of the world (PCFG: EOS included).")] = 8,
        d_model: Annotated[int, typer.Option(min=2, help="Model width.")] = 32,
        n_layers: Annotated[int, typer.Option(min=1, help="Blocks.")] = 2,
        n_heads: Annotated[int, typer.Option(min=1, help="Attention heads.")] = 2,
        steps: Annotated[int, typer.Option(min=1, help="Optimiser steps.")] = 1000,
        batch_size: Annotated[int, typer.Option(min=1, help="Paths per step.")] = 32,
        seq_len: Annotated[int, typer.Option(min=1, help="Tokens per path.")] = 32,
        lr: Annotated[float, typer.Option(min=0.0, help="AdamW learning rate.")] = 3e-3,
        eval_every: Annotated[int, typer.Option(min=0, help="Evaluate every N steps (0: at the end).")] = 100,
        eval_paths: Annotated[int, typer.Option(min=1, help="Held-out paths per evaluation.")] = 256,
        checkpoint_every: Annotated[int, typer.Option(min=0, help="Checkpoint every N steps.")] = 0,
        seed: Annotated[int, typer.Option(min=0, help="Seed of the world, the weights and the data.")] = 0,
        progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
    ) -> None:
        """Train on fresh world paths; write checkpoint.pt, history.json, trace.zarr and kl.png to --out.

        Re-running with the same options into the same folder resumes from its checkpoint. The trace
        is the first held-out evaluation path through the trained model's layers.
        """
        import json

        from attnflow.io import atomic_write_text, jsonable
        from attnflow.paths import ModelConfig, TrainConfig, make_world, trace_model, train
        from attnflow.paths.train import eval_paths as held_out_paths
        from attnflow.viz.paths import plot_kl_history

        the_world = make_world(world.value, vocab_size=vocab_size, seed=seed)
        model_config = ModelConfig(
            the_world.vocab_size,
            architecture.value,
            d_model=d_model,
            n_layers=n_layers,
            n_heads=n_heads,
            max_len=seq_len,
            seed=seed,
        )
        config = TrainConfig(
            steps=steps,
            batch_size=batch_size,
            seq_len=seq_len,
            lr=lr,
            eval_every=eval_every,
            eval_paths=eval_paths,
            seed=seed,
        )
        result = train(
            model_config,
            the_world,
            config,
            checkpoint_dir=out,
            checkpoint_every=checkpoint_every,
            progress=progress,
        )
        history = jsonable([vars(e) for e in result.evaluations])
        atomic_write_text(out / "history.json", json.dumps(history, indent=1))
        path = held_out_paths(the_world, config)[0]
        trace_model(result.model, path, the_world.vocab_size).save(out / "trace.zarr")
        plot_kl_history(
            result.evaluations, out / "kl.png", f"{architecture.value} on the {world.value} world"
        )

        table = Table(title="evaluation (nats)")
        for column in ("step", "loss", "world entropy", "KL next token", "KL whole path"):
            table.add_column(column, justify="right")
        for e in result.evaluations:
            table.add_row(
                str(e.step),
                f"{e.loss:.4f}",
                f"{e.world_entropy:.4f}",
                f"{e.kl_next:.4f}",
                f"{e.kl_path:.3f} ± {e.kl_path_stderr:.3f}",
            )
        console.print(table)
        console.print(f"wrote {out}/checkpoint.pt, history.json, trace.zarr, kl.png")
