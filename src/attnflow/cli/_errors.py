"""The one place where the command line turns a user's error into one line: ``error: ...``, exit 2.

Every command is wrapped by :func:`guard_commands` when the app is built, so a bad value a user can
type (a flag out of range, a missing or unreadable file, a store that is not the expected kind, a full
disk) ends in one line naming the argument, never a traceback. Errors that are not the user's (bugs,
a CUDA failure) keep their traceback.
"""

from __future__ import annotations

import errno
import functools
from collections.abc import Callable
from typing import Any

import typer

from attnflow.errors import AttnflowError

#: Exit status for an error in what the user asked for (as click uses for usage errors).
USER_ERROR_EXIT = 2


def user_error_message(err: BaseException) -> str | None:
    """The one line to show for a user's error, or ``None`` if ``err`` is not one."""
    if isinstance(err, OSError):
        if err.errno == errno.ENOSPC:
            where = f" while writing {err.filename}" if err.filename else ""
            return f"no space left on the device{where}; free some space and run the command again"
        return _first_line(err)
    if isinstance(err, KeyError):  # its str() adds quotes around the message
        return str(err.args[0]) if err.args else "KeyError"
    if isinstance(err, ValueError | TypeError | AttnflowError) or _is_store_error(err):
        return _first_line(err)
    return None


def guard(command: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap one command: a user's error prints ``error: MESSAGE`` on stderr and exits with status 2."""

    @functools.wraps(command)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except Exception as err:
            message = user_error_message(err)
            if message is None:
                raise
            typer.echo(f"error: {message}", err=True)
            raise typer.Exit(USER_ERROR_EXIT) from None

    return guarded


def guard_commands(app: typer.Typer) -> None:
    """Wrap every command of ``app`` and of its sub-apps with :func:`guard`."""
    for info in app.registered_commands:
        if info.callback is not None:
            info.callback = guard(info.callback)
    for group in app.registered_groups:
        if group.typer_instance is not None:
            guard_commands(group.typer_instance)


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _is_store_error(err: BaseException) -> bool:
    # Imported only when an error happened: the sweep package is heavy and the CLI starts fast.
    from attnflow.sweep.store import StoreError

    return isinstance(err, StoreError)
