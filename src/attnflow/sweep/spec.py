"""Sweep specs: what to run (an experiment or a simulation), over which parameters, and what to keep.

A spec is a mapping, usually read from YAML or TOML::

    experiment: equiangular-curve    # a registered experiment ... or: simulation: self-attention
    quick: false                     # experiments only: run at the --quick size
    imports: [my_package.experiments]  # modules imported first (they may register experiments)
    params: {n: 32, seed: 0}         # fixed values for every run (seed: the base of the replicates)
    grid: {beta: [1, 4, 9], d: [8, 128]}   # every combination (a product)
    zip: {n: [16, 32], t_end: [10, 20]}    # equal-length lists varied together
    seeds: 4                         # 4 replicates: the children spawn(params.seed, 4); or a list of seeds
    measurements: [fraction_close_pairs]   # what to keep (default: all of an experiment's values)

Replicates are independent by construction (:func:`attnflow.random.spawn`): ``seeds: k`` runs the seeds
``child_int(c)`` of the ``k`` children ``c`` of the base seed, so sweeps with different base seeds never
share a run, where consecutive integers would.

Validation has two steps, so that reading a spec never runs code. :func:`load_spec` /
:meth:`SweepSpec.from_dict` check the spec's structure and bounds (size, nodes, runs) and import
nothing. :func:`check_target` imports the spec's ``imports`` (which run their code: a spec with
``imports`` is as trusted as a script) and checks the parameter names, the measurements and every
run's parameters; :func:`attnflow.sweep.run` and ``attnflow sweep --dry-run`` call it before anything
runs. Every error names the offending key.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import numbers
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from attnflow.random import check_seed, child_int, spawn
from attnflow.sweep.targets import Target, resolve_target

TOP_LEVEL_KEYS = (
    "name",
    "experiment",
    "simulation",
    "quick",
    "imports",
    "params",
    "grid",
    "zip",
    "seeds",
    "measurements",
)


#: The largest spec file read (bytes): specs are a few hundred bytes; this leaves room for long lists.
MAX_SPEC_BYTES = 2**20

#: The most values (mappings, lists and scalars, counting a YAML alias each time it is used) a spec may
#: hold: a 540-byte YAML alias bomb expands to ~10^9, and is refused after 10^5.
MAX_SPEC_NODES = 100_000

#: The most runs a sweep may have, checked before any run is expanded.
MAX_RUNS = 1_000_000


class SpecError(ValueError):
    """A sweep spec that cannot run; the message names the offending key."""


@dataclass(frozen=True)
class RunPoint:
    """One run of a sweep.

    Attributes:
        key: a stable identifier, derived from the swept values (the run's key in the store).
        index: the run's position along each swept dimension.
        swept: the swept parameter values of this run (seed included).
        params: every parameter passed to the target (fixed and swept).
    """

    key: str
    index: tuple[int, ...]
    swept: dict[str, Any]
    params: dict[str, Any]


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep: the target, the fixed and swept parameters, the seeds and the measurements.

    Build it with :meth:`from_dict` or :func:`load_spec`; both validate everything.

    Attributes:
        target: ``{"experiment": name, "quick": bool}`` or ``{"simulation": dynamics}``.
        imports: modules imported before the target is resolved (in the driver and in every worker).
        params: fixed parameter values for every run.
        grid: parameter → values; the sweep runs every combination.
        zipped: parameter → values, all of one length; they vary together along one dimension named
            after the first of them.
        seeds: the seeds of the runs (a dimension ``seed``: the spawned children of the base seed, or
            the listed seeds), or ``None`` for no seed dimension.
        measurements: what to keep, normalised to ``{"name": ..., "as": ..., "kwargs": {...}}``;
            empty keeps every value an experiment returns.
        name: optional human name.
    """

    target: dict[str, Any]
    imports: tuple[str, ...]
    params: dict[str, Any]
    grid: dict[str, list[Any]]
    zipped: dict[str, list[Any]]
    seeds: tuple[int, ...] | None
    measurements: tuple[dict[str, Any], ...]
    name: str | None = None

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> SweepSpec:
        """Check a spec mapping's structure and bounds (as read from YAML/TOML), importing nothing.

        The target, parameter names, measurements and every run's parameters are checked by
        :func:`check_target`, which imports the spec's ``imports``.

        Args:
            raw: the spec; see the module docstring for its keys.

        Returns:
            The spec.

        Raises:
            SpecError: unknown keys, empty or duplicated grids (``1`` and ``1.0`` are one value),
                quoted numbers in a grid, zipped lists of different lengths, values of the wrong type,
                more than :data:`MAX_SPEC_NODES` values or :data:`MAX_RUNS` runs; the message names
                the key.
        """
        if not isinstance(raw, Mapping):
            raise SpecError(f"a sweep spec must be a mapping of keys to values, got {type(raw).__name__}")
        _check_node_count(raw)
        unknown = [key for key in raw if key not in TOP_LEVEL_KEYS]
        if unknown:
            raise SpecError(
                f"unknown key(s) {unknown} in the sweep spec; allowed: {', '.join(TOP_LEVEL_KEYS)}"
            )
        if ("experiment" in raw) == ("simulation" in raw):
            raise SpecError(
                "a sweep spec needs exactly one of 'experiment: NAME' or 'simulation: self-attention'"
            )

        name = raw.get("name")
        if name is not None and not isinstance(name, str):
            raise SpecError(f"name must be a string, got {name!r}")
        imports = tuple(_string_list("imports", raw.get("imports", [])))
        if "experiment" in raw:
            if not isinstance(raw["experiment"], str):
                raise SpecError(
                    f"experiment must be the name of a registered experiment, got {raw['experiment']!r}"
                )
            quick = raw.get("quick", False)
            if not isinstance(quick, bool):
                raise SpecError(f"quick must be true or false, got {quick!r}")
            target_spec: dict[str, Any] = {"experiment": raw["experiment"], "quick": quick}
        else:
            if "quick" in raw:
                raise SpecError(
                    "quick applies to experiments only; a simulation's size is set by its parameters"
                )
            if not isinstance(raw["simulation"], str):
                raise SpecError(
                    f"simulation must be a name such as 'self-attention', got {raw['simulation']!r}"
                )
            target_spec = {"simulation": raw["simulation"]}

        params = _mapping("params", raw.get("params", {}))
        grid = {
            key: _values(f"grid.{key}", values)
            for key, values in _mapping("grid", raw.get("grid", {})).items()
        }
        zipped = {
            key: _values(f"zip.{key}", values) for key, values in _mapping("zip", raw.get("zip", {})).items()
        }
        lengths = {key: len(values) for key, values in zipped.items()}
        if len(set(lengths.values())) > 1:
            raise SpecError(f"zip: every zipped list must have the same length, got lengths {lengths}")
        runs = math.prod(len(values) for values in grid.values())
        runs *= next(iter(lengths.values()), 1)
        if runs > MAX_RUNS:
            raise SpecError(f"grid/zip: the sweep would have {runs} runs, more than {MAX_RUNS}")
        seeds = _seeds(raw.get("seeds"), params, MAX_RUNS // runs)

        owners: dict[str, str] = {}
        for section, keys in (("params", params), ("grid", grid), ("zip", zipped)):
            for key in keys:
                if key in owners:
                    raise SpecError(f"{section}.{key}: parameter {key!r} is already set in {owners[key]}")
                owners[key] = section
                if key == "seed" and section != "params":
                    raise SpecError(f"{section}.seed: set seeds with the top-level 'seeds' key")

        return cls(
            target=target_spec,
            imports=imports,
            params=params,
            grid=grid,
            zipped=zipped,
            seeds=seeds,
            measurements=tuple(_measurements(raw.get("measurements", []))),
            name=name,
        )

    @property
    def dims(self) -> dict[str, list[Any]]:
        """The swept dimensions in order (grid keys, the zip dimension, ``seed``) and their coordinates."""
        dims: dict[str, list[Any]] = dict(self.grid)
        if self.zipped:
            first = next(iter(self.zipped))
            dims[first] = self.zipped[first]
        if self.seeds is not None:
            dims["seed"] = list(self.seeds)
        return dims

    def points(self) -> Iterator[RunPoint]:
        """Every run of the sweep, in a fixed order (the last dimension varies fastest)."""
        axes: list[list[tuple[int, dict[str, Any]]]] = [
            [(i, {key: value}) for i, value in enumerate(values)] for key, values in self.grid.items()
        ]
        if self.zipped:
            length = len(next(iter(self.zipped.values())))
            axes.append([(i, {key: values[i] for key, values in self.zipped.items()}) for i in range(length)])
        if self.seeds is not None:
            axes.append([(i, {"seed": seed}) for i, seed in enumerate(self.seeds)])
        for combo in itertools.product(*axes):
            swept: dict[str, Any] = {}
            for _, assignment in combo:
                swept.update(assignment)
            digest = hashlib.sha1(_canonical(swept).encode()).hexdigest()[:16]
            yield RunPoint(
                key=f"run-{digest}",
                index=tuple(i for i, _ in combo),
                swept=swept,
                params={**self.params, **swept},
            )

    @property
    def n_runs(self) -> int:
        """How many runs the sweep has."""
        return math.prod(len(values) for values in self.dims.values())

    def to_dict(self) -> dict[str, Any]:
        """The normalised spec as plain JSON-friendly data (what the store keeps and compares)."""
        out: dict[str, Any] = {"name": self.name, **self.target, "imports": list(self.imports)}
        out.update(params=self.params, grid=self.grid, zip=self.zipped)
        out.update(
            seeds=None if self.seeds is None else list(self.seeds), measurements=list(self.measurements)
        )
        # Round-trip through JSON (keeping key order: it is the order of the dimensions).
        return json.loads(json.dumps(out))

    def differences(self, other: Mapping[str, Any]) -> list[str]:
        """The top-level keys on which this spec's :meth:`to_dict` differs from ``other`` (``name`` aside)."""
        mine = self.to_dict()
        keys = sorted((set(mine) | set(other)) - {"name"})
        return [key for key in keys if mine.get(key) != other.get(key)]


def check_target(spec: SweepSpec) -> Target:
    """Import the spec's ``imports``, resolve its target and check every run against it.

    This runs code: the modules in ``imports`` execute when imported (so does a registered experiment's
    parameter check). :func:`attnflow.sweep.run` calls it before creating or resuming a store.

    Args:
        spec: a spec from :func:`load_spec` or :meth:`SweepSpec.from_dict`.

    Returns:
        The resolved target.

    Raises:
        SpecError: an import fails, the target is unknown, or a parameter name, a measurement or a
            run's parameters do not fit the target; the message names the key.
    """
    kind = "experiment" if "experiment" in spec.target else "simulation"
    try:
        target = resolve_target(spec.target, spec.imports)
    except (KeyError, ValueError, TypeError, ImportError) as err:
        raise SpecError(f"{kind}: {_message(err)}") from None
    for section, keys in (("params", spec.params), ("grid", spec.grid), ("zip", spec.zipped)):
        for key in keys:
            if key not in target.parameters:
                raise SpecError(
                    f"{section}.{key}: unknown parameter {key!r} for {target.describe()}; "
                    f"its parameters are {', '.join(sorted(target.parameters))}"
                )
    if spec.seeds is not None and "seed" not in target.parameters:
        raise SpecError(f"seeds: {target.describe()} has no 'seed' parameter to sweep")
    try:
        target.check_measurements(spec.measurements)
    except (KeyError, ValueError, TypeError) as err:
        raise SpecError(f"measurements: {_message(err)}") from None
    for point in spec.points():
        try:
            target.check_params(point.params)
        except (KeyError, ValueError, TypeError) as err:
            where = ", ".join(f"{k}={v!r}" for k, v in point.swept.items()) or "the fixed params"
            raise SpecError(f"params/grid/zip at ({where}): {_message(err)}") from None
    return target


def load_spec(path: str | os.PathLike[str]) -> SweepSpec:
    """Read a sweep spec from a YAML (``.yaml``/``.yml``) or TOML (``.toml``) file and check its structure.

    Nothing is imported (see :func:`check_target`). In YAML, numbers in exponent form without a decimal
    point (``1e4``) are read as numbers, as YAML 1.2 and TOML do (PyYAML alone would read text).

    Args:
        path: the spec file (at most :data:`MAX_SPEC_BYTES` bytes of UTF-8).

    Returns:
        The :class:`SweepSpec`.

    Raises:
        FileNotFoundError: no such file.
        SpecError: the file is too large, not UTF-8, does not parse, or the spec is invalid (the message
            names the key).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no sweep spec at {path}")
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".yaml", ".yml"):
        raise SpecError(f"{path}: a sweep spec must be a .yaml, .yml or .toml file")
    size = path.stat().st_size
    if size > MAX_SPEC_BYTES:
        raise SpecError(f"{path} is {size} bytes; a sweep spec may be at most {MAX_SPEC_BYTES} bytes")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        raise SpecError(f"{path} is not UTF-8 text (byte {err.start} cannot be decoded)") from None
    try:
        if suffix == ".toml":
            try:
                import tomllib
            except ModuleNotFoundError:  # Python 3.10: the same parser as the tomli package
                import tomli as tomllib

            raw = tomllib.loads(text)
        else:
            raw = yaml.load(text, Loader=_SpecLoader)  # a SafeLoader subclass: no object tags
    except (yaml.YAMLError, ValueError) as err:  # tomllib.TOMLDecodeError is a ValueError
        raise SpecError(f"{path} does not parse: {err}") from None
    return SweepSpec.from_dict(raw if raw is not None else {})


class _SpecLoader(yaml.SafeLoader):
    """PyYAML's safe loader, also reading YAML 1.2 exponent floats without a point (``1e4``, ``-2E-3``)."""


# Copy the resolver lists before adding to them: add_implicit_resolver would append to SafeLoader's own.
_SpecLoader.yaml_implicit_resolvers = {
    first: list(resolvers) for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_SpecLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def _check_node_count(raw: Any) -> None:
    """Refuse a spec with more than :data:`MAX_SPEC_NODES` values, counting shared ones at every use.

    The walk stops as soon as the count passes the bound, so an alias bomb (or a self-referencing
    YAML alias) costs at most that many steps.
    """
    stack, count = [raw], 0
    while stack:
        node = stack.pop()
        count += 1
        if count > MAX_SPEC_NODES:
            raise SpecError(
                f"the sweep spec holds more than {MAX_SPEC_NODES} values (YAML aliases count at every use)"
            )
        if isinstance(node, Mapping):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list | tuple):
            stack.extend(node)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _message(err: BaseException) -> str:
    # KeyError's str() wraps the message in quotes.
    return err.args[0] if isinstance(err, KeyError) and err.args else str(err)


def _mapping(key: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise SpecError(f"{key} must be a mapping of parameter names to values, got {value!r}")
    for name in value:
        if not isinstance(name, str):
            raise SpecError(f"{key}: parameter names must be strings, got {name!r}")
    return dict(value)


def _string_list(key: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SpecError(f"{key} must be a list of strings, got {value!r}")
    return list(value)


def _values(key: str, values: Any) -> list[Any]:
    """A swept list: non-empty, unique scalars of one kind (numbers, strings or booleans)."""
    if not isinstance(values, list):
        raise SpecError(f"{key} must be a list of values to sweep, got {values!r}")
    if not values:
        raise SpecError(f"{key} is empty: a swept parameter needs at least one value")
    kinds = {_kind(v) for v in values}
    if None in kinds:
        bad = next(v for v in values if _kind(v) is None)
        raise SpecError(f"{key}: swept values must be numbers, strings or booleans, got {bad!r}")
    if len(kinds) > 1:
        raise SpecError(
            f"{key}: swept values must all be of one kind (numbers, strings or booleans), got {values!r}"
        )
    if kinds == {"number"} and not all(math.isfinite(v) for v in values):
        raise SpecError(f"{key}: swept numbers must be finite, got {values!r}")
    if kinds == {"str"}:
        numeric = next((v for v in values if _reads_as_number(v)), None)
        if numeric is not None:
            raise SpecError(
                f"{key}: {numeric!r} is a quoted number; write numbers without quotes "
                f"(a string that reads as a number is refused rather than guessed), got {values!r}"
            )
    # Equal values are one run: 1 and 1.0 (and 1e0) compare equal, so a set finds them.
    if len(set(values)) != len(values):
        raise SpecError(f"{key}: swept values must be distinct (1 and 1.0 are equal), got {values!r}")
    return list(values)


def _reads_as_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _kind(value: Any) -> str | None:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, numbers.Real):
        return "number"
    if isinstance(value, str):
        return "str"
    return None


def _seeds(value: Any, params: Mapping[str, Any], most: int) -> tuple[int, ...] | None:
    """The seeds of the runs: ``k`` spawned children of ``params.seed`` (default 0), or a list as given.

    ``most``: the largest count that keeps the sweep within :data:`MAX_RUNS` (checked before spawning).
    """
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            raise SpecError(f"seeds must be a count >= 1 or a list of seeds, got {value!r}")
        if value > most:
            raise SpecError(
                f"seeds: {value} replicates would make the sweep more than {MAX_RUNS} runs "
                f"(at most {most} with this grid)"
            )
        try:
            base = check_seed(params.get("seed", 0), "params.seed")
        except TypeError as err:
            raise SpecError(str(err)) from None
        return tuple(child_int(child) for child in spawn(base, value))
    if isinstance(value, list) and value:
        if "seed" in params:
            raise SpecError(
                "params.seed: a list of seeds names every seed; a base seed goes with a count (seeds: k)"
            )
        if not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in value):
            raise SpecError(f"seeds: every seed must be an integer >= 0, got {value!r}")
        if len(set(value)) != len(value):
            raise SpecError(f"seeds must be distinct, got {value!r}")
        if len(value) > most:
            raise SpecError(f"seeds: {len(value)} seeds would make the sweep more than {MAX_RUNS} runs")
        return tuple(value)
    raise SpecError(f"seeds must be a count >= 1 or a non-empty list of integers, got {value!r}")


def _measurements(value: Any) -> Iterator[dict[str, Any]]:
    """Normalise ``[name, {name: ..., as: ..., **kwargs}]`` to dicts with ``name``, ``as`` and ``kwargs``."""
    if not isinstance(value, list):
        raise SpecError(f"measurements must be a list, got {value!r}")
    seen: set[str] = set()
    for i, entry in enumerate(value):
        if isinstance(entry, str):
            entry = {"name": entry}
        if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
            raise SpecError(f"measurements[{i}] must be a name or a mapping with a 'name', got {entry!r}")
        alias = entry.get("as", entry["name"])
        if not isinstance(alias, str) or not alias:
            raise SpecError(f"measurements[{i}].as must be a non-empty string, got {alias!r}")
        if alias in seen:
            raise SpecError(
                f"measurements[{i}]: the output name {alias!r} is used twice; give one an 'as' name"
            )
        seen.add(alias)
        kwargs = {k: v for k, v in entry.items() if k not in ("name", "as")}
        yield {"name": entry["name"], "as": alias, "kwargs": kwargs}
