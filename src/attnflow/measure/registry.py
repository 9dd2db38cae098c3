"""The explicit registry of measurements: name → function, what it takes, which run parameters it uses.

Sweeps look measurements up here by name. ``uses`` lists the simulation parameters (:data:`
attnflow.simulation.PARAMETERS`) that a measurement reads from the run when the spec does not give
them (``energy`` needs the run's ``beta``); nothing else is filled in implicitly.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

TAKES = ("trajectory", "density")


@dataclass(frozen=True)
class Measurement:
    """A registered measurement.

    Attributes:
        name: its name in sweep specs.
        function: ``function(data, **kwargs)``.
        takes: the containers it measures: ``("trajectory",)``, ``("density",)`` or both (a measurement
            that dispatches on its input, such as ``energy``).
        uses: simulation parameters filled in from the run unless given.
    """

    name: str
    function: Callable[..., Any]
    takes: tuple[str, ...] = ("trajectory",)
    uses: tuple[str, ...] = ()

    def signature(self) -> inspect.Signature:
        """The function's signature."""
        return inspect.signature(self.function)

    def check_arguments(self, kwargs: Sequence[str] | dict[str, Any]) -> None:
        """Raise ``TypeError`` (naming the measurement) unless ``kwargs`` + ``uses`` complete the call."""
        signature = self.signature()
        given = dict.fromkeys(kwargs)
        try:
            signature.bind_partial(None, **given)
        except TypeError as err:
            raise TypeError(f"{self.name!r}: {err}; its signature is {signature}") from None
        missing = [
            name
            for name, parameter in list(signature.parameters.items())[1:]
            if parameter.default is inspect.Parameter.empty and name not in given and name not in self.uses
        ]
        if missing:
            raise TypeError(f"{self.name!r} needs the argument(s) {missing}; its signature is {signature}")

    def __call__(self, data: Any, run: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        """Measure ``data``; parameters in ``uses`` come from ``run`` unless given in ``kwargs``."""
        implied = {k: (run or {})[k] for k in self.uses if k not in kwargs and k in (run or {})}
        return self.function(data, **implied, **kwargs)


_REGISTRY: dict[str, Measurement] = {}


def register(
    name: str,
    function: Callable[..., Any],
    *,
    takes: str | Sequence[str] = "trajectory",
    uses: Sequence[str] = (),
) -> Measurement:
    """Add a measurement to the registry (names are unique); ``takes`` is one container kind or several."""
    if name in _REGISTRY:
        raise ValueError(f"a measurement named {name!r} is already registered")
    kinds = (takes,) if isinstance(takes, str) else tuple(takes)
    if not kinds or any(kind not in TAKES for kind in kinds):
        raise ValueError(f"takes must be one or more of {TAKES}, got {takes!r}")
    entry = Measurement(name, function, kinds, tuple(uses))
    _REGISTRY[name] = entry
    return entry


def get(name: str) -> Measurement:
    """The measurement called ``name``.

    Raises:
        KeyError: unknown name (the message lists the registered ones).
    """
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(
            f"unknown measurement {name!r}; the measurements are {', '.join(available())}"
        ) from None


def available(takes: str | None = None) -> list[str]:
    """Registered names (of one ``takes`` kind if given), in registration order."""
    return [name for name, m in _REGISTRY.items() if takes is None or takes in m.takes]


__all__ = ["Measurement", "available", "get", "register"]
