"""What a sweep runs: a registered experiment, or the self-attention simulation plus measurements.

A target knows its parameter names, checks one run's parameters and the requested measurements before
anything runs, and turns one run's parameters into an ``xarray.Dataset`` of results. :func:`execute`
is the function every executor calls in its workers; it never raises (a failure comes back with its
traceback).
"""

from __future__ import annotations

import importlib
import inspect
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
import xarray as xr

from attnflow._validate import finite_number, one_of, positive_int, positive_number
from attnflow.dynamics import GEOMETRIES, VARIANTS
from attnflow.integrate import METHODS

SIMULATIONS = ("self-attention",)

#: Parameters of a ``simulation: self-attention`` sweep and their defaults.
SIMULATION_DEFAULTS: dict[str, Any] = {
    "n": 32,
    "d": 3,
    "beta": 1.0,
    "variant": "SA",
    "geometry": "sphere",
    "causal": False,
    "init": "uniform_sphere",
    "t_end": 10.0,
    "dt": 0.1,
    "method": "rk4",
    "save_every": 1,
    "dtype": "float32",
    "device": "cpu",
    "seed": 0,
}
INITS = ("uniform_sphere", "orthogonal")
DTYPES = {"float32": torch.float32, "float64": torch.float64}


class Target(Protocol):
    """What a sweep runs."""

    @property
    def parameters(self) -> Sequence[str]:
        """The names of the parameters a spec may set."""
        ...

    def describe(self) -> str:
        """A short description for messages."""
        ...

    def check_params(self, params: Mapping[str, Any]) -> None:
        """Raise (naming the parameter) if one run's parameters are invalid."""
        ...

    def check_measurements(self, measurements: Sequence[Mapping[str, Any]]) -> None:
        """Raise (naming the measurement) if the requested measurements cannot be taken."""
        ...

    def run(self, params: Mapping[str, Any], measurements: Sequence[Mapping[str, Any]]) -> xr.Dataset:
        """Run once and return the kept results as a Dataset."""
        ...


@dataclass(frozen=True)
class RunResult:
    """What a worker sends back for one run.

    Attributes:
        data: the results (``None`` if the run failed).
        error: one line naming the exception (empty if it succeeded).
        traceback: the full traceback (empty if it succeeded).
        seconds: wall time of the run.
    """

    data: xr.Dataset | None
    error: str
    traceback: str
    seconds: float

    @property
    def ok(self) -> bool:
        """Whether the run succeeded."""
        return self.data is not None


def import_modules(imports: Sequence[str]) -> None:
    """Import the spec's ``imports`` (modules that register experiments of their own)."""
    for module in imports:
        importlib.import_module(module)


def resolve_target(target_spec: Mapping[str, Any], imports: Sequence[str] = ()) -> Target:
    """The target named by a normalised spec's ``{"experiment": ...}`` or ``{"simulation": ...}``.

    Raises:
        ImportError: a module in ``imports`` does not import.
        KeyError: no experiment of that name is registered.
        ValueError: an unknown simulation.
    """
    import_modules(imports)
    if "experiment" in target_spec:
        from attnflow import experiments

        return ExperimentTarget(
            experiments.get(target_spec["experiment"]), bool(target_spec.get("quick", False))
        )
    one_of("simulation", target_spec["simulation"], SIMULATIONS)
    return SimulationTarget()


def execute(
    target_spec: Mapping[str, Any],
    imports: Sequence[str],
    measurements: Sequence[Mapping[str, Any]],
    params: Mapping[str, Any],
    threads: int = 1,
) -> RunResult:
    """Run one point of a sweep in the current process; the function every executor's workers call.

    Args:
        target_spec: the spec's normalised target.
        imports: the spec's ``imports``.
        measurements: the spec's normalised measurements.
        params: this run's parameters.
        threads: torch threads for this run.

    Returns:
        The results, or the error and traceback if the run raised (this function does not raise).
    """
    start = time.perf_counter()
    try:
        torch.set_num_threads(threads)
        data = resolve_target(target_spec, imports).run(params, measurements)
        return RunResult(data, "", "", time.perf_counter() - start)
    except Exception as err:
        return RunResult(
            None, f"{type(err).__name__}: {err}", traceback.format_exc(), time.perf_counter() - start
        )


@dataclass(frozen=True)
class ExperimentTarget:
    """A registered :class:`~attnflow.experiments.Experiment`; a run stores its values and its verdict.

    A run calls ``experiment.evaluate`` (compute and verdict, never the figures) and stores the kept
    values (by default all but the figure data, see :func:`attnflow.experiments.base.key_values`) plus
    ``verdict`` (``"agrees"``, ``"disagrees"`` or ``"inconclusive"``) and ``agrees`` (a boolean, so
    that averaging over replicates gives the fraction that agree).
    """

    experiment: Any
    quick: bool

    @property
    def parameters(self) -> Sequence[str]:
        """The experiment's parameter names."""
        return list(self.experiment.defaults)

    def describe(self) -> str:
        """``experiment 'NAME'``."""
        return f"experiment {self.experiment.name!r}"

    def check_params(self, params: Mapping[str, Any]) -> None:
        """Resolve the parameters as the experiment would (names and types are checked)."""
        self.experiment.params(quick=self.quick, overrides=params)

    def check_measurements(self, measurements: Sequence[Mapping[str, Any]]) -> None:
        """An experiment's measurements are names of its values: no arguments allowed."""
        for entry in measurements:
            if entry["kwargs"]:
                raise ValueError(
                    f"{entry['name']!r}: an experiment's measurements are the names of its values and take "
                    f"no arguments, got {sorted(entry['kwargs'])}"
                )

    def run(self, params: Mapping[str, Any], measurements: Sequence[Mapping[str, Any]]) -> xr.Dataset:
        """Evaluate the experiment (no figures) and keep its values and verdict.

        Raises:
            KeyError: a requested measurement is not among the experiment's values.
        """
        from attnflow.experiments.base import key_values

        evaluation = self.experiment.evaluate(quick=self.quick, overrides=params)
        values = key_values(evaluation.values)
        if measurements:
            missing = [m["name"] for m in measurements if m["name"] not in evaluation.values]
            if missing:
                raise KeyError(
                    f"experiment {self.experiment.name!r} returned no value(s) {missing}; "
                    f"it returns {', '.join(sorted(values))}"
                )
            values = {m["as"]: evaluation.values[m["name"]] for m in measurements}
        verdict = evaluation.verdict
        return values_to_dataset({**values, "verdict": verdict.status, "agrees": verdict.agrees})


@dataclass(frozen=True)
class SimulationTarget:
    """The self-attention particle dynamics (:class:`attnflow.dynamics.SelfAttention` + ``simulate``).

    Parameters (defaults in :data:`SIMULATION_DEFAULTS`): ``n``, ``d``, ``beta``, ``variant``,
    ``geometry``, ``causal``, ``init`` (``uniform_sphere`` or ``orthogonal``), ``t_end``, ``dt``,
    ``method``, ``save_every``, ``dtype``, ``device``, ``seed``. Measurements are functions of
    :mod:`attnflow.measure` called on the trajectory; an argument of the function that is also a
    simulation parameter (``beta``, ``causal``) is filled in from the run unless the spec gives it.
    """

    @property
    def parameters(self) -> Sequence[str]:
        """The simulation's parameter names."""
        return list(SIMULATION_DEFAULTS)

    def describe(self) -> str:
        """``simulation 'self-attention'``."""
        return "simulation 'self-attention'"

    def check_params(self, params: Mapping[str, Any]) -> None:
        """Check names, types and ranges of one run's parameters."""
        p = {**SIMULATION_DEFAULTS, **params}
        unknown = set(p) - set(SIMULATION_DEFAULTS)
        if unknown:
            raise ValueError(f"unknown simulation parameter(s) {sorted(unknown)}")
        positive_int("n", p["n"], minimum=2)
        positive_int("d", p["d"], minimum=2)
        finite_number("beta", p["beta"])
        one_of("variant", p["variant"], VARIANTS)
        one_of("geometry", p["geometry"], GEOMETRIES)
        if not isinstance(p["causal"], bool):
            raise TypeError(f"causal must be true or false, got {p['causal']!r}")
        one_of("init", p["init"], INITS)
        positive_number("t_end", p["t_end"])
        dt = positive_number("dt", p["dt"])
        if dt > p["t_end"]:
            raise ValueError(f"dt must be <= t_end ({p['t_end']!r}), got {dt!r}")
        one_of("method", p["method"], METHODS)
        positive_int("save_every", p["save_every"])
        one_of("dtype", p["dtype"], DTYPES)
        if not isinstance(p["device"], str):
            raise TypeError(f"device must be a string such as 'cpu' or 'cuda', got {p['device']!r}")
        positive_int("seed", p["seed"], minimum=0)
        if p["init"] == "orthogonal" and p["d"] < p["n"]:
            raise ValueError(f"init 'orthogonal' needs d >= n, got n={p['n']}, d={p['d']}")

    def check_measurements(self, measurements: Sequence[Mapping[str, Any]]) -> None:
        """Each measurement must be a public function of :mod:`attnflow.measure` taking the given args."""
        if not measurements:
            raise ValueError(
                "a simulation sweep needs at least one measurement (a function of attnflow.measure)"
            )
        for entry in measurements:
            function = _measurement(entry["name"])
            signature = inspect.signature(function)
            try:
                signature.bind_partial(None, **entry["kwargs"])
            except TypeError as err:
                raise TypeError(f"{entry['name']!r}: {err}; its signature is {signature}") from None
            missing = [
                name
                for name, parameter in list(signature.parameters.items())[1:]
                if parameter.default is inspect.Parameter.empty
                and name not in entry["kwargs"]
                and name not in SIMULATION_DEFAULTS
            ]
            if missing:
                raise TypeError(
                    f"{entry['name']!r} needs the argument(s) {missing}; its signature is {signature}"
                )

    def run(self, params: Mapping[str, Any], measurements: Sequence[Mapping[str, Any]]) -> xr.Dataset:
        """Simulate from the seeded initial condition and take the measurements."""
        from attnflow import init
        from attnflow.dynamics import SelfAttention
        from attnflow.integrate import simulate

        p = {**SIMULATION_DEFAULTS, **params}
        dtype = DTYPES[p["dtype"]]
        if p["init"] == "orthogonal":
            x0 = init.orthogonal(p["n"], p["d"], seed=p["seed"], dtype=dtype)
        else:
            x0 = init.uniform_sphere(p["n"], p["d"], seed=p["seed"], dtype=dtype)
        field = SelfAttention(p["beta"], variant=p["variant"], geometry=p["geometry"], causal=p["causal"])
        traj = simulate(
            field,
            x0.to(p["device"]),
            t_end=p["t_end"],
            dt=p["dt"],
            method=p["method"],
            save_every=p["save_every"],
        ).to("cpu")
        values = {}
        for entry in measurements:
            function = _measurement(entry["name"])
            accepted = inspect.signature(function).parameters
            implied = {k: p[k] for k in accepted if k in SIMULATION_DEFAULTS and k not in entry["kwargs"]}
            values[entry["as"]] = function(traj, **implied, **entry["kwargs"])
        return values_to_dataset(values)


def _measurement(name: str) -> Any:
    from attnflow import measure

    names = [n for n in measure.__all__ if _takes_trajectory(getattr(measure, n))]
    if name not in names:
        raise KeyError(
            f"unknown measurement {name!r}; the measurements of a trajectory are {', '.join(names)}"
        )
    return getattr(measure, name)


def _takes_trajectory(function: Any) -> bool:
    """Whether ``function`` is a measurement of a Trajectory (its first argument is ``traj``)."""
    if not callable(function):
        return False
    first = next(iter(inspect.signature(function).parameters), None)
    return first == "traj"


def values_to_dataset(values: Mapping[str, Any]) -> xr.Dataset:
    """One run's values (numbers, booleans, strings, arrays, tensors, DataArrays, Datasets) as a Dataset.

    DataArrays keep their dimensions and coordinates; a Dataset contributes each of its variables as
    ``NAME_VARIABLE``; a plain array of shape ``(k, ...)`` gets dimensions ``NAME_dim0, ...``.

    Raises:
        TypeError: a value of another type (the message names it).
    """
    arrays: dict[str, xr.DataArray] = {}
    for name, value in values.items():
        if isinstance(value, xr.Dataset):
            for var, array in value.data_vars.items():
                arrays[f"{name}_{var}"] = array.drop_attrs()
            continue
        if isinstance(value, xr.DataArray):
            arrays[name] = value.drop_attrs().rename(None)
            continue
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu().numpy()
        if isinstance(value, bool | int | float | str | np.generic | np.ndarray | list | tuple):
            try:
                array = np.asarray(value)
            except ValueError:
                array = np.asarray(None)
            if array.dtype == object:
                raise TypeError(f"value {name!r} is not a regular array of numbers or strings: {value!r}")
            arrays[name] = xr.DataArray(array, dims=[f"{name}_dim{i}" for i in range(array.ndim)])
            continue
        raise TypeError(
            f"value {name!r} has type {type(value).__name__}; a sweep stores numbers, booleans, strings, "
            "arrays, tensors, xarray DataArrays and Datasets"
        )
    return xr.Dataset(arrays)
