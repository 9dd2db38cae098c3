"""What a sweep runs: a registered experiment, or the self-attention simulation plus measurements.

A target knows its parameter names, checks one run's parameters and the requested measurements before
anything runs, and turns one run's parameters into an ``xarray.Dataset`` of results. :func:`execute`
is the function every executor calls in its workers; it never raises (a failure comes back with its
traceback).
"""

from __future__ import annotations

import importlib
import json
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
import xarray as xr

from attnflow._validate import one_of
from attnflow.errors import AttnflowError
from attnflow.measure import registry
from attnflow.simulation import PARAMETERS, Simulation

SIMULATIONS = ("self-attention",)


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
        return _failed(err, time.perf_counter() - start)


def _failed(err: Exception, seconds: float) -> RunResult:
    """The result of a run that raised ``err``; called inside the ``except`` block, for its traceback."""
    return RunResult(None, f"{type(err).__name__}: {err}", traceback.format_exc(), seconds)


#: Why a batch over β may fail where its points alone would not: a blow-up or step limit at one β, a
#: batch over the work or memory budget. On these each point runs alone; anything else is the points' error.
_BATCH_ONLY_FAILURES = (AttnflowError, FloatingPointError, ValueError, MemoryError, torch.OutOfMemoryError)


def execute_group(
    target_spec: Mapping[str, Any],
    imports: Sequence[str],
    measurements: Sequence[Mapping[str, Any]],
    params_list: Sequence[Mapping[str, Any]],
    threads: int = 1,
) -> list[RunResult]:
    """Run one task of a sweep: one point, or points of the simulation that differ only in β.

    Several points (they must share a :meth:`SimulationTarget.beta_batch_key`) are integrated together
    by :meth:`Simulation.run_betas`, which gives each β the numbers of its own run; each point is then
    measured on its own, so a measurement that raises fails only its point (with the same error). If
    the batch itself cannot run (points that differ in more than β, a blow-up at one β, a batch over
    the work or memory budget: :data:`_BATCH_ONLY_FAILURES`), every point runs alone through
    :func:`execute`, so each point stores what an unbatched sweep stores; any other error of the batch
    is every point's error (a fault in the batching shows instead of being hidden by a slower rerun). A
    batched point's ``seconds`` is its share of the batch's integration plus its own measurements.

    Returns:
        One result per entry of ``params_list``, in order (this function does not raise).
    """
    if len(params_list) == 1:
        return [execute(target_spec, imports, measurements, params_list[0], threads)]
    start = time.perf_counter()
    try:
        torch.set_num_threads(threads)
        target = resolve_target(target_spec, imports)
        if not isinstance(target, SimulationTarget):
            raise ValueError(f"only the simulation batches runs over beta, not {target.describe()}")
        keys = {target.beta_batch_key(params) for params in params_list}
        if len(keys) > 1 or None in keys:
            raise ValueError("the runs of a batch must differ only in beta and be noiseless and fixed-step")
        simulations = [Simulation.from_flat(params) for params in params_list]
        trajs = simulations[0].run_betas([simulation.field.beta for simulation in simulations])
    except _BATCH_ONLY_FAILURES:
        return [execute(target_spec, imports, measurements, params, threads) for params in params_list]
    except Exception as err:  # a fault of the batching itself: reported, not hidden by a silent rerun
        failed = _failed(err, time.perf_counter() - start)
        return [failed] * len(params_list)
    share = (time.perf_counter() - start) / len(params_list)
    results = []
    for simulation, traj in zip(simulations, trajs, strict=True):
        began = time.perf_counter()
        try:
            data = target.measure(simulation, traj, measurements)
            results.append(RunResult(data, "", "", share + time.perf_counter() - began))
        except Exception as err:
            results.append(_failed(err, share + time.perf_counter() - began))
    return results


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
    """The self-attention particle simulation: one :class:`attnflow.Simulation` per run.

    Its parameters are the flat names of :data:`attnflow.simulation.PARAMETERS` (with their defaults
    there): ``n``, ``d``, ``beta``, ``variant``, ``geometry``, ``causal``, ``heads``, ``weights``,
    ``start``, ``start_file``, ``method``, ``t_end``, ``dt``, ``save_every``, ``rtol``, ``atol``,
    ``seed``, ``dtype``, ``device``. Measurements are looked up by name in
    :mod:`attnflow.measure.registry`; the run parameters a measurement declares in ``uses`` (``beta`` for
    ``energy``) are filled in from the run unless the spec gives them, and nothing else is.
    """

    @property
    def parameters(self) -> Sequence[str]:
        """The simulation's flat parameter names."""
        return list(PARAMETERS)

    def describe(self) -> str:
        """``simulation 'self-attention'``."""
        return "simulation 'self-attention'"

    def check_params(self, params: Mapping[str, Any]) -> None:
        """Check names, types and ranges of one run's parameters (by building its Simulation), and
        that the run fits the work and memory bounds."""
        Simulation.from_flat(params).check_budget()

    def check_measurements(self, measurements: Sequence[Mapping[str, Any]]) -> None:
        """Each measurement must be registered for trajectories and get every argument it needs."""
        if not measurements:
            raise ValueError(
                "a simulation sweep needs at least one measurement; the measurements of a trajectory are "
                f"{', '.join(registry.available('trajectory'))}"
            )
        for entry in measurements:
            _trajectory_measurement(entry["name"]).check_arguments(entry["kwargs"])

    def run(self, params: Mapping[str, Any], measurements: Sequence[Mapping[str, Any]]) -> xr.Dataset:
        """Simulate and take the measurements of the trajectory."""
        simulation = Simulation.from_flat(params)
        return self.measure(simulation, simulation.run(), measurements)

    def measure(
        self, simulation: Simulation, traj: Any, measurements: Sequence[Mapping[str, Any]]
    ) -> xr.Dataset:
        """The measurements of ``traj``, the trajectory of ``simulation`` (its parameters fill ``uses``)."""
        traj = traj.to("cpu")
        run = simulation.to_flat()
        return values_to_dataset(
            {
                entry["as"]: _trajectory_measurement(entry["name"])(traj, run=run, **entry["kwargs"])
                for entry in measurements
            }
        )

    def beta_batch_key(self, params: Mapping[str, Any]) -> str | None:
        """Runs with one key differ only in β and may run as one batch (:meth:`Simulation.run_betas`);
        ``None`` for a run that cannot be batched (noisy or ``dopri5``)."""
        simulation = Simulation.from_flat(params)
        if not simulation.batches_over_beta:
            return None
        everything_but_beta = simulation.replace(beta=PARAMETERS["beta"]).to_flat()
        return json.dumps(everything_but_beta, sort_keys=True)


def _trajectory_measurement(name: str) -> registry.Measurement:
    """The registered measurement ``name``; it must take a trajectory."""
    measurement = registry.get(name)
    if "trajectory" not in measurement.takes:
        raise ValueError(
            f"measurement {name!r} takes a {' or '.join(measurement.takes)}, not the trajectory a simulation "
            f"yields; the measurements of a trajectory are {', '.join(registry.available('trajectory'))}"
        )
    return measurement


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
