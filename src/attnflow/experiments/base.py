"""Experiments: a claim from a source, a runnable check of it, and a verdict.

An :class:`Experiment` is declarative: its parameters with full-size defaults, the overrides that make
the ``--quick`` size, and a runner. The runner receives the resolved parameters and an output directory
(for figures) and returns an :class:`Outcome`: the prediction, the measured value, the verdict with its
tolerance, the figures and the key numbers (``values``, which sweeps store and docs quote).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class Outcome:
    """What one run of an experiment found.

    Attributes:
        prediction: the theory's prediction, with numbers where it has them.
        measured: the measured value, formatted for a person.
        agrees: the verdict: whether the measurement agrees with the prediction within ``tolerance``.
        tolerance: how agreement was judged (a number and what it bounds).
        values: key numbers (numbers or numeric arrays) by name; sweeps store these. Nested
            mappings are flattened to dotted names.
        figures: paths of the figures written (PNG, or GIF for animations).
        notes: anything a reader needs to interpret the numbers.
    """

    prediction: str
    measured: str
    agrees: bool
    tolerance: str
    values: dict[str, Any] = field(default_factory=dict)
    figures: list[Path] = field(default_factory=list)
    notes: str = ""

    def __post_init__(self) -> None:
        self.values = _flatten_values(self.values)

    @property
    def verdict(self) -> str:
        """``"agrees"`` or ``"disagrees"``."""
        return "agrees" if self.agrees else "disagrees"


def _flatten_values(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings become dotted names (``{"rates": {"SA": 1.0}}`` → ``{"rates.SA": 1.0}``).

    Every leaf must be a number or a numeric array, the forms that sweeps store and reports print.
    """
    flat: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten_values(value, f"{name}."))
        elif np.asarray(value).dtype.kind in "biuf":
            flat[name] = value
        else:
            raise TypeError(
                f"Outcome.values[{name!r}] must be a number, a numeric array or a mapping of them, "
                f"got {type(value).__name__}"
            )
    return flat


@dataclass
class ExperimentResult:
    """An :class:`Outcome` together with the experiment and parameters that produced it."""

    experiment: Experiment
    params: dict[str, Any]
    outcome: Outcome
    seconds: float
    out_dir: Path


Runner = Callable[[Mapping[str, Any], Path], Outcome]


@dataclass(frozen=True)
class Experiment:
    """A named, declarative check of one claim.

    Attributes:
        name: short kebab-case name used on the command line (``attnflow reproduce NAME``).
        title: one-line human title.
        source: where the claim comes from (e.g. ``"seed 002: particles"``).
        claim: the claim in one or two sentences.
        defaults: parameters at full size.
        quick: overrides of ``defaults`` for the ``--quick`` size (tests use it; seconds, not minutes).
        runner: ``runner(params, out_dir) -> Outcome``.
    """

    name: str
    title: str
    source: str
    claim: str
    defaults: Mapping[str, Any]
    quick: Mapping[str, Any]
    runner: Runner

    def __post_init__(self) -> None:
        unknown = set(self.quick) - set(self.defaults)
        if unknown:
            raise ValueError(
                f"experiment {self.name!r}: quick overrides unknown parameters {sorted(unknown)}"
            )

    def params(self, quick: bool = False, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Resolve parameters: defaults, then the quick size if asked, then ``overrides``.

        Raises:
            ValueError: an override names a parameter the experiment does not have, or has a value
                of a different type than the default.
        """
        resolved = dict(self.defaults)
        if quick:
            resolved.update(self.quick)
        for key, value in (overrides or {}).items():
            if key not in self.defaults:
                raise ValueError(
                    f"experiment {self.name!r} has no parameter {key!r}; "
                    f"its parameters are {', '.join(sorted(self.defaults))}"
                )
            resolved[key] = _coerce(self.name, key, value, self.defaults[key])
        return resolved

    def run(
        self,
        out_dir: str | Path,
        quick: bool = False,
        overrides: Mapping[str, Any] | None = None,
    ) -> ExperimentResult:
        """Run with resolved parameters, writing figures under ``out_dir``."""
        params = self.params(quick=quick, overrides=overrides)
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        outcome = self.runner(params, out)
        return ExperimentResult(self, params, outcome, time.perf_counter() - start, out)


def _coerce(experiment: str, key: str, value: Any, default: Any) -> Any:
    """Check an override against the default's type (ints may stand for floats; lists stay lists)."""
    if isinstance(default, bool):
        ok = isinstance(value, bool | np.bool_)
    elif isinstance(default, int):
        ok = isinstance(value, int | np.integer) and not isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)
        if ok:
            value = float(value)
            ok = math.isfinite(value)
    elif isinstance(default, list | tuple):
        ok = isinstance(value, list | tuple)
        value = list(value) if ok else value
    elif isinstance(default, str):
        ok = isinstance(value, str)
    else:
        ok = True
    if not ok:
        raise TypeError(
            f"experiment {experiment!r}: parameter {key!r} must be like its default "
            f"{default!r} ({type(default).__name__}), got {value!r}"
        )
    return value


_REGISTRY: dict[str, Experiment] = {}


def register(experiment: Experiment) -> Experiment:
    """Add an experiment to the registry used by ``attnflow reproduce`` and sweeps."""
    if experiment.name in _REGISTRY:
        raise ValueError(f"an experiment named {experiment.name!r} is already registered")
    _REGISTRY[experiment.name] = experiment
    return experiment


def unregister(name: str) -> Experiment:
    """Remove the experiment called ``name`` from the registry and return it (for temporary experiments)."""
    try:
        return _REGISTRY.pop(name)
    except KeyError:
        raise KeyError(f"no experiment named {name!r} is registered") from None


def get(name: str) -> Experiment:
    """The registered experiment called ``name``."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(
            f"unknown experiment {name!r}; available: {', '.join(sorted(_REGISTRY)) or '(none)'}"
        ) from None


def available() -> list[str]:
    """Names of all registered experiments, in registration order."""
    return list(_REGISTRY)
