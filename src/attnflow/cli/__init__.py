"""The ``attnflow`` command line.

Every command module of this package defines a ``register(app)`` function that adds its commands;
each is imported and registered here by name. Heavy imports (transformers, ray) stay inside the
command bodies so that ``attnflow --help`` is fast.
"""

from __future__ import annotations

from typing import Annotated

import typer
from typer.core import TyperGroup

from attnflow.cli import explore, paths, reproduce, simulate, sweep, trace
from attnflow.cli._errors import guard_commands


def _drop_flag_metavars(cmd: TyperGroup) -> None:
    # The help option is made (and cached) on first request; make it now to reach it.
    help_option = cmd.get_help_option(cmd.context_class(cmd))
    for param in [*cmd.params, help_option]:
        # A flag takes no value, so the help's type column stays empty for it.
        if getattr(param, "is_flag", False):
            param.metavar = ""
    for sub in getattr(cmd, "commands", {}).values():
        _drop_flag_metavars(sub)


class _Root(TyperGroup):
    """The root command: shows on/off flags in the help without a ``<bool>`` value placeholder."""

    def main(self, *args, **kwargs):
        _drop_flag_metavars(self)
        return super().main(*args, **kwargs)


app = typer.Typer(
    name="attnflow",
    cls=_Root,
    help="Transformers as flows of token clouds: simulate, measure real models, reproduce the claims.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    # Markdown joins the lines of a docstring's paragraph, so help never breaks mid-sentence.
    rich_markup_mode="markdown",
)

for _module in (explore, paths, reproduce, simulate, sweep, trace):
    _module.register(app)
guard_commands(app)  # every command: a user's error is one line and exit status 2


def _print_version(value: bool) -> None:
    if value:
        from attnflow import __version__

        typer.echo(f"attnflow {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Transformers as flows of token clouds: simulate, measure real models, reproduce the claims."""


def main() -> None:
    """Console-script entry point."""
    app()
