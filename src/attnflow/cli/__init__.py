"""The ``attnflow`` command line.

Every command module of this package defines a ``register(app)`` function that adds its commands;
each is imported and registered here by name. Heavy imports (transformers, ray) stay inside the
command bodies so that ``attnflow --help`` is fast.
"""

from __future__ import annotations

import typer

from attnflow.cli import explore, paths, reproduce, simulate, sweep, trace

app = typer.Typer(
    name="attnflow",
    help="Transformers as flows of token clouds: simulate, measure real models, reproduce the claims.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

for _module in (explore, paths, reproduce, simulate, sweep, trace):
    _module.register(app)


def main() -> None:
    """Console-script entry point."""
    app()
