"""The ``attnflow`` command line.

Every public module of this package defines a ``register(app)`` function that adds its commands;
they are all collected here. Heavy imports (transformers, ray) stay inside the command bodies so
that ``attnflow --help`` is fast.
"""

from __future__ import annotations

import sys

import typer

from attnflow._plugins import import_submodules

app = typer.Typer(
    name="attnflow",
    help="Transformers as flows of token clouds: simulate, measure real models, reproduce the claims.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

for _module in import_submodules(sys.modules[__name__]):
    _module.register(app)


def main() -> None:
    """Console-script entry point."""
    app()
