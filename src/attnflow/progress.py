"""The one progress mechanism: producers report through a callback; a front end renders it.

Long work (integration, sweeps, training, the mean-field solver, reproduce) accepts
``progress: Progress | bool | None``. ``None``/``False`` reports nothing; ``True`` renders a rich bar on
the terminal (:class:`RichProgress`); any object with the :class:`Progress` methods receives the
updates (a notebook widget, a web page, a test).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol, runtime_checkable


@runtime_checkable
class Progress(Protocol):
    """Receives progress of one task: ``start`` once, ``update`` any number of times, ``finish`` once."""

    def start(self, description: str, total: float, unit: str = "") -> None: ...

    def update(self, completed: float, **fields: object) -> None: ...

    def finish(self) -> None: ...


class RichProgress:
    """Renders a task as a rich progress bar with elapsed time and ETA (on stderr)."""

    def __init__(self) -> None:
        self._bar = None
        self._task = None

    def start(self, description: str, total: float, unit: str = "") -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        if unit == "t":
            counter = "t={task.completed:.3g}/{task.total:.3g}"
        else:
            counter = "{task.completed:.0f}/{task.total:.0f}" + (f" {unit}" if unit else "")
        self._bar = Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            TextColumn(counter),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            # The note (e.g. which experiment) comes last, so a narrow terminal cuts it, not the ETA.
            TextColumn("{task.fields[note]}"),
            console=Console(stderr=True),
            transient=False,
        )
        self._bar.start()
        self._task = self._bar.add_task(description, total=total, note="")

    def update(self, completed: float, **fields: object) -> None:
        if self._bar is not None:
            note = " ".join(f"{k}={v}" for k, v in fields.items())
            self._bar.update(self._task, completed=completed, note=note)

    def finish(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


class _Silent:
    def start(self, description: str, total: float, unit: str = "") -> None:
        pass

    def update(self, completed: float, **fields: object) -> None:
        pass

    def finish(self) -> None:
        pass


def resolve(progress: Progress | bool | None) -> Progress:
    """The reporter for a ``progress`` argument: silent, a rich bar, or the given object."""
    if progress is None or progress is False:
        return _Silent()
    if progress is True:
        return RichProgress()
    if isinstance(progress, Progress):
        return progress
    raise TypeError(
        "progress must be True, False, None or an object with start/update/finish methods, "
        f"got {type(progress).__name__}"
    )


@contextmanager
def task(
    progress: Progress | bool | None, description: str, total: float, unit: str = ""
) -> Iterator[Progress]:
    """Start a task on ``progress`` (see :func:`resolve`), yield the reporter, finish it on exit."""
    reporter = resolve(progress)
    reporter.start(description, total, unit)
    try:
        yield reporter
    finally:
        reporter.finish()


__all__ = ["Progress", "RichProgress", "resolve", "task"]
