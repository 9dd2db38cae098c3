"""One live particle simulation, advanced frame by frame for a browser page or a notebook.

A :class:`ParticleSession` owns a validated :class:`~attnflow.simulation.Simulation` (the one
simulation schema: every parameter the page sends is checked by it), the current cloud and time, and
turns each advance into a *frame*: the tokens for display, the time, the interaction energy and the
number of clusters. It knows nothing of the network; :mod:`attnflow.explore.server` streams its frames.
"""

from __future__ import annotations

import base64
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from attnflow.simulation import Simulation

#: What a page may set, with the bounds the server enforces (beyond the schema's own checks): a
#: cloud the server can stream at interactive rates, and steps small enough to stay responsive.
BOUNDS: dict[str, tuple[float, float]] = {
    "n": (2, 20_000),
    "d": (2, 64),
    "beta": (-20.0, 100.0),
    "dt": (1e-4, 0.5),
    "steps_per_frame": (1, 50),
    "noise": (0.0, 5.0),
}
#: The parameters a page sends, with their defaults.
DEFAULTS: dict[str, Any] = {
    "n": 400,
    "d": 3,
    "beta": 4.0,
    "variant": "SA",
    "causal": False,
    "normalization": "post",
    "noise": 0.0,
    "method": "rk4",
    "dt": 0.05,
    "steps_per_frame": 2,
    "seed": 0,
}
#: Energy and cluster count cost more than a step at large n: they are measured on a frame when the
#: time spent measuring stays below this share of the time spent stepping, and at least once per
#: :data:`MEASURE_AT_LEAST_EVERY` seconds (and on the first frame), so the readouts never freeze.
MEASURE_SHARE = 0.25
MEASURE_AT_LEAST_EVERY = 1.0
#: Euclidean linking distance of the live cluster count (about 3° on the unit sphere).
CLUSTER_TOL = 0.05


def check_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """The page's parameters merged over :data:`DEFAULTS` and checked.

    Raises:
        ValueError: an unknown name, a value outside :data:`BOUNDS` or one the simulation schema
            refuses; the message names the parameter.
        TypeError: a value of the wrong type.
    """
    unknown = sorted(set(params) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"unknown parameter(s) {unknown}; the page may set {', '.join(DEFAULTS)}")
    merged = {**DEFAULTS, **params}
    for name, (low, high) in BOUNDS.items():
        value = merged[name]
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise TypeError(f"{name} must be a finite number, got {value!r}")
        if not low <= value <= high:
            raise ValueError(f"{name} must be between {low:g} and {high:g}, got {value:g}")
    for name in ("n", "d", "steps_per_frame", "seed"):
        if isinstance(merged[name], bool) or not float(merged[name]).is_integer():
            raise TypeError(f"{name} must be an integer, got {merged[name]!r}")
        merged[name] = int(merged[name])
    simulation(merged)  # the schema's own checks (variant, method, causal, seed)
    return merged


def simulation(params: Mapping[str, Any]) -> Simulation:
    """The :class:`Simulation` that a frame step of these parameters integrates."""
    steps = int(params["steps_per_frame"])
    return Simulation.from_flat(
        {
            "n": params["n"],
            "d": params["d"],
            "beta": params["beta"],
            "variant": params["variant"],
            "causal": params["causal"],
            "normalization": params["normalization"],
            "noise": params["noise"],
            "method": params["method"],
            "dt": params["dt"],
            "t_end": params["dt"] * steps,
            "save_every": steps,
            "seed": params["seed"],
        }
    )


@dataclass(frozen=True)
class Frame:
    """One state for display: ``points`` are ``(n, k)`` with k = 2 on the circle, 3 otherwise."""

    index: int
    time: float
    points: np.ndarray
    energy: float
    clusters: int

    def to_message(self) -> dict[str, Any]:
        """The JSON message a page receives (points as base64 float32, row-major)."""
        data = np.ascontiguousarray(self.points, dtype=np.float32)
        return {
            "type": "frame",
            "index": self.index,
            "time": self.time,
            "shape": list(data.shape),
            "points": base64.b64encode(data.tobytes()).decode("ascii"),
            "energy": None if math.isnan(self.energy) else self.energy,
            "clusters": self.clusters,
        }


class ParticleSession:
    """A simulation that advances one frame at a time (not thread-safe: one caller at a time)."""

    def __init__(self, params: Mapping[str, Any] | None = None) -> None:
        self.params = check_params(params or {})
        self.reset()

    def reset(self, params: Mapping[str, Any] | None = None) -> Frame:
        """Start again from a fresh draw (with new parameters if given); the first frame."""
        if params is not None:
            self.params = check_params({**self.params, **params})
        spec = self._build()
        self.x = spec.start.build(spec.seed, torch.float32, "cpu", normalize=True)
        self.time = 0.0
        self.index = 0
        self._measured: tuple[float, int] | None = None
        self._step_seconds = 0.0
        self._measure_seconds = 0.0
        self._measured_at = time.monotonic()
        # A fixed projection for d > 3 (drawn once per session so the picture does not jump).
        d = spec.start.d
        generator = np.random.default_rng(spec.seed)
        basis, _ = np.linalg.qr(generator.standard_normal((d, 3))) if d > 3 else (None, None)
        self._basis = basis
        return self.frame()

    def update(self, params: Mapping[str, Any]) -> None:
        """Change parameters that do not need a new cloud (β, variant, causal, method, dt, speed).

        Raises:
            ValueError: ``n``, ``d`` or ``seed`` changed (those need :meth:`reset`), or a bad value.
        """
        redraw = {k for k in ("n", "d", "seed") if k in params and params[k] != self.params[k]}
        if redraw:
            raise ValueError(f"changing {', '.join(sorted(redraw))} needs a reset")
        self.params = check_params({**self.params, **params})
        self._build()
        self._measured = None

    def _build(self) -> Simulation:
        """The spec, the field and the noise seed of the current parameters (as ``Simulation.run`` does:
        the weights from the seed's first child, the noise from its second)."""
        from attnflow.random import spawn

        spec = simulation(self.params)
        self._spec = spec
        weights_seed, self._noise_seed = spawn(spec.seed, 2)
        self.field = spec.field.build(spec.start.d, weights_seed, torch.float32, "cpu")
        return spec

    def advance(self) -> Frame:
        """Integrate ``steps_per_frame`` steps with the library's integrator; the new frame."""
        from attnflow.integrate import simulate

        spec = self._spec.integrator
        start = time.perf_counter()
        if spec.noisy:
            from attnflow.integrate import integrate_sde

            # Frame k's noise is child k of the run's noise seed (spawn(noise_seed, k + 1)[k]).
            frame_seed = np.random.SeedSequence(
                self._noise_seed.entropy, spawn_key=(*self._noise_seed.spawn_key, self.index)
            )
            traj = integrate_sde(
                self.field,
                self.x,
                t_end=spec.t_end,
                dt=spec.dt,
                noise=spec.noise,
                seed=frame_seed,
                save_every=spec.save_every,
            )
        else:
            traj = simulate(
                self.field,
                self.x,
                t_end=spec.t_end,
                dt=spec.dt,
                method=spec.method,
                save_every=spec.save_every,
            )
        self._step_seconds += time.perf_counter() - start
        self.x = traj.x[-1]
        self.time += spec.t_end
        self.index += 1
        return self.frame()

    def frame(self) -> Frame:
        """The current state as a :class:`Frame`."""
        from attnflow.measure import energy as interaction_energy
        from attnflow.measure.clusters import cluster_labels
        from attnflow.trajectory import Trajectory

        x = self.x.double()
        due = time.monotonic() - self._measured_at >= MEASURE_AT_LEAST_EVERY
        if self._measured is None or due or self._measure_seconds <= MEASURE_SHARE * self._step_seconds:
            start = time.perf_counter()
            self._measured_at = time.monotonic()
            beta = self.params["beta"]
            state = Trajectory(torch.tensor([self.time], dtype=torch.float64), x.unsqueeze(0))
            # E_β of the library's measure (undefined at β = 0, where it carries 1/(2β)).
            energy = float(interaction_energy(state, beta)[0]) if beta != 0 else float("nan")
            self._measured = (energy, int(cluster_labels(x.numpy(), CLUSTER_TOL).max() + 1))
            self._measure_seconds += time.perf_counter() - start
        energy, count = self._measured
        points = x.numpy()
        if self._basis is not None:
            points = points @ self._basis
        # Directions only: with pre-LN, peri-LN or nGPT the norms grow; the picture shows the sphere.
        points = points / np.linalg.norm(points, axis=1, keepdims=True).clip(1e-12)
        return Frame(self.index, self.time, points, energy, count)
