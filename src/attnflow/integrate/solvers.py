"""``simulate``: integrate a vector field from an initial token cloud and return a Trajectory.

A field is any callable ``field(t, x) -> velocity`` with ``x`` of shape ``(n, d)`` or ``(batch, n, d)``.
Runs are under ``torch.no_grad`` unless ``grad=True``: then autograd records every step, so the saved
states can be differentiated with respect to the start and to the field's tensors that require gradients
(β, Q, K, V of :class:`attnflow.dynamics.SelfAttention`); ``checkpoint=True`` trades recomputation for
memory. Optional attributes refine the behaviour: ``geometry == "sphere"`` retracts states onto the
unit sphere after every step, ``check_state(x, name)`` validates the start, ``describe()`` returns the
parameters stored with the Trajectory. :class:`attnflow.dynamics.SelfAttention` has all three.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Protocol

import torch
from torch.utils.checkpoint import checkpoint as _recompute_in_backward

from attnflow import progress as _progress
from attnflow._validate import finite_tensor, flag, on_sphere, one_of, positive_int, positive_number
from attnflow.errors import BlowUpError, StepLimitError
from attnflow.trajectory import Trajectory

METHODS = ("euler", "rk4", "dopri5")


class VectorField(Protocol):
    """Anything callable as ``field(t, x)`` returning a tensor shaped like ``x``."""

    def __call__(self, t: float, x: torch.Tensor) -> torch.Tensor: ...


Stepper = Callable[[VectorField, float, torch.Tensor, float], torch.Tensor]


def _euler(field: VectorField, t: float, x: torch.Tensor, h: float) -> torch.Tensor:
    # Exactly one residual layer: x + h·f(x) (one fused operation).
    return torch.add(x, field(t, x), alpha=h)


def _rk4(field: VectorField, t: float, x: torch.Tensor, h: float) -> torch.Tensor:
    k1 = field(t, x)
    k2 = field(t + h / 2, torch.add(x, k1, alpha=h / 2))
    k3 = field(t + h / 2, torch.add(x, k2, alpha=h / 2))
    k4 = field(t + h, torch.add(x, k3, alpha=h))
    return x + (h / 6) * (k1 + 2 * k2 + 2 * k3 + k4)


# Dormand–Prince 5(4) tableau.
_DP_C = (0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0)
_DP_A = (
    (),
    (1 / 5,),
    (3 / 40, 9 / 40),
    (44 / 45, -56 / 15, 32 / 9),
    (19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729),
    (9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656),
    (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84),
)
_DP_B5 = (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84, 0.0)
_DP_B4 = (5179 / 57600, 0.0, 7571 / 16695, 393 / 640, -92097 / 339200, 187 / 2100, 1 / 40)


def _dopri5(field: VectorField, t: float, x: torch.Tensor, h: float) -> tuple[torch.Tensor, torch.Tensor]:
    """One Dormand–Prince step: the 5th-order solution and the embedded error estimate."""
    stages: list[torch.Tensor] = []
    for c, row in zip(_DP_C, _DP_A, strict=True):
        xi = x
        for a, k in zip(row, stages, strict=False):
            if a:
                xi = xi + (h * a) * k
        stages.append(field(t + c * h, xi))
    x5 = x + h * sum(b * k for b, k in zip(_DP_B5, stages, strict=True) if b)
    err = h * sum((b5 - b4) * k for b5, b4, k in zip(_DP_B5, _DP_B4, stages, strict=True))
    return x5, err


_FIXED: dict[str, Stepper] = {"euler": _euler, "rk4": _rk4}

#: Default bound on a run's attention work (multiply-adds, see :func:`check_budget`): about an hour
#: at 3e11 multiply-adds per second, far beyond any run this library's experiments make.
MAX_WORK = 1e15

#: Default bound on the memory the kept states take (bytes): 4 GiB.
MAX_SAVED_BYTES = 4 * 2**30

# Field evaluations per step of each method (dopri5: per trial step).
_STAGES = {"euler": 1, "rk4": 4, "dopri5": 7}

# Each kept state is a separate tensor (about 460 bytes of object and allocator overhead beyond its data,
# measured on CPU with 200 000 clones of a 32 x 3 float32 state), and the list is copied once more by
# the final torch.stack.
_STATE_OVERHEAD = 512


def simulate(
    field: Any,
    x0: torch.Tensor | None = None,
    t_end: float | None = None,
    dt: float | None = None,
    method: str = "rk4",
    save_every: int = 1,
    **options: Any,
) -> Trajectory | list[Trajectory]:
    """Run a simulation: ``simulate(spec)`` for a :class:`attnflow.Simulation`, or
    ``simulate(field, x0, t_end, dt, ...)`` for a vector field and a start (see :func:`integrate` for
    the arguments and the keyword options ``rtol``, ``atol``, ``max_steps``, ``progress``, ``params``,
    ``grad``, ``checkpoint``).
    """
    from attnflow.simulation import Simulation

    if isinstance(field, Simulation):
        if x0 is not None or t_end is not None or dt is not None or set(options) - {"progress"}:
            raise TypeError(
                "simulate(spec) takes a Simulation alone: its start and integrator are in the spec"
            )
        return field.run(progress=options.get("progress", False))
    if x0 is None or t_end is None or dt is None:
        raise TypeError("simulate(field, x0, t_end, dt) needs x0, t_end and dt (or pass a Simulation)")
    return integrate(field, x0, t_end, dt, method, save_every, **options)


def integrate(
    field: VectorField,
    x0: torch.Tensor,
    t_end: float,
    dt: float,
    method: str = "rk4",
    save_every: int = 1,
    *,
    rtol: float = 1e-6,
    atol: float = 1e-8,
    max_steps: int = 10_000_000,
    max_work: float = MAX_WORK,
    max_saved_bytes: int = MAX_SAVED_BYTES,
    progress: _progress.Progress | bool | None = False,
    params: Mapping[str, Any] | None = None,
    grad: bool = False,
    checkpoint: bool = False,
) -> Trajectory | list[Trajectory]:
    """Integrate ``field`` from ``x0`` over ``[0, t_end]``.

    Args:
        field: the vector field, e.g. :class:`attnflow.SelfAttention`.
        x0: initial tokens, shape ``(n, d)``; or ``(batch, n, d)`` for independent runs integrated
            together in one batched pass (the adaptive method then shares its step sizes across the batch).
        t_end: final time, > 0.
        dt: the step for ``"euler"`` and ``"rk4"`` (the last step is shortened to land on ``t_end``);
            for ``"dopri5"`` the first trial step, and the spacing of save points.
        method: ``"euler"`` (one Transformer/ResNet layer per step), ``"rk4"``, or ``"dopri5"``
            (adaptive Dormand–Prince 5(4) with ``rtol``/``atol`` error control).
        save_every: keep every ``save_every``-th step (for ``"dopri5"``: save at multiples of
            ``save_every·dt``). The first and the final state are always kept.
        rtol, atol: relative and absolute tolerances of ``"dopri5"``.
        max_steps: give up (with an error) after this many steps.
        max_work, max_saved_bytes: refuse before starting a run whose attention work or kept states
            exceed these (see :func:`check_budget`); raise them to run a larger problem on purpose.
        progress: ``True`` for a progress bar, or a :class:`attnflow.progress.Progress` to report to.
        params: extra parameters to store with the Trajectory (e.g. the seed of ``x0``).
        grad: record autograd through every step (``False``: the run is under ``torch.no_grad`` and the
            states carry no graph). The saved states are then differentiable with respect to ``x0`` and
            every tensor of the field that requires gradients (a tensor β, Q, K, V); a field's
            ``backend="auto"`` takes its autograd path. The adaptive ``"dopri5"`` differentiates the
            accepted steps with their sizes held fixed.
        checkpoint: with ``grad=True`` and ``"euler"`` or ``"rk4"``, keep only the saved states and
            recompute the steps between two of them in the backward pass (:func:`torch.utils.checkpoint`):
            the graph holds the saved states and one stretch of ``save_every`` steps instead of every
            step's intermediates, for one more forward pass of time. Gradients equal the plain ones.

    Returns:
        A :class:`Trajectory` (``axis="time"``), or a list of them, one per run, for batched ``x0``.

    Raises:
        ValueError / TypeError: bad arguments, each naming the argument and the allowed range, and
            problems over the work or memory budget (before any work is done).
        BlowUpError: the state became NaN or infinite (a ``FloatingPointError``).
        StepLimitError: more than ``max_steps`` steps were needed (a ``RuntimeError``).
    """
    t_end = positive_number("t_end", t_end)
    dt = positive_number("dt", dt)
    method = one_of("method", method, METHODS)
    save_every = positive_int("save_every", save_every)
    max_steps = positive_int("max_steps", max_steps)
    grad = flag("grad", grad)
    checkpoint = flag("checkpoint", checkpoint)
    if checkpoint and not grad:
        raise ValueError("checkpoint=True saves memory of a differentiable run: it needs grad=True")
    if checkpoint and method == "dopri5":
        raise ValueError("checkpoint=True supports method 'euler' or 'rk4', not 'dopri5' (its steps adapt)")
    sphere = getattr(field, "geometry", "euclidean") == "sphere"
    check = getattr(field, "check_state", None)
    if check is not None:
        check(x0, "x0")
    else:
        if not isinstance(x0, torch.Tensor) or x0.ndim not in (2, 3):
            raise ValueError("x0 must be a tensor of shape (n, d) or (batch, n, d)")
        finite_tensor("x0", x0)
    if sphere:
        on_sphere("x0", x0)
    if method == "dopri5":
        rtol = positive_number("rtol", rtol)
        atol = positive_number("atol", atol)
    n, d = x0.shape[-2:]
    check_budget(
        n,
        d,
        x0.shape[0] if x0.ndim == 3 else 1,
        x0.element_size(),
        t_end=t_end,
        dt=dt,
        method=method,
        save_every=save_every,
        max_work=max_work,
        max_saved_bytes=max_saved_bytes,
    )

    retract: Callable[[torch.Tensor], torch.Tensor] = _retract_step if sphere else (lambda x: x)
    if sphere:  # within on_sphere's tolerance; start exactly on the sphere (a copy: x0 is the caller's)
        x0 = x0 / torch.linalg.vector_norm(x0, dim=-1, keepdim=True)
    with _progress.task(progress, "simulate", total=t_end, unit="t") as reporter:

        def advanced(t: float) -> None:
            reporter.update(t)

        with torch.set_grad_enabled(grad), small_problem_threads(x0):
            if method == "dopri5":
                times, states = _integrate_adaptive(
                    field, x0, t_end, dt, save_every * dt, rtol, atol, max_steps, retract, advanced
                )
            else:
                times, states = _integrate_fixed(
                    field, x0, t_end, dt, _FIXED[method], save_every, max_steps, retract, advanced, checkpoint
                )

    settings: dict[str, Any] = dict(method=method, t_end=t_end, dt=dt, save_every=save_every)
    if method == "dopri5":
        settings.update(rtol=rtol, atol=atol)
    return trajectories(field, x0, times, states, settings, params)


def trajectories(
    field: VectorField,
    x0: torch.Tensor,
    times: list[float],
    states: list[torch.Tensor],
    settings: Mapping[str, Any],
    params: Mapping[str, Any] | None,
) -> Trajectory | list[Trajectory]:
    """The Trajectory (or, for a batched ``x0``, one per run) of an integrator's saved states.

    Stored parameters: the field's ``describe()``, the integrator's ``settings``, the dtype, then the
    caller's ``params``; a field's per-run β becomes each run's own β.

    Raises:
        BlowUpError: a saved state holds a NaN or an infinity (the first such save names the time).
    """
    stored = dict(getattr(field, "describe", dict)())
    stored.update(settings, dtype=str(x0.dtype).removeprefix("torch."))
    stored.update(params or {})
    stacked = torch.stack(states)  # (T, [batch,] n, d)
    # The last check, of every saved state (the running one is throttled): the first bad save names the time.
    if not bool(torch.isfinite(stacked).all()):
        raise BlowUpError(first_non_finite(times, states))
    time_tensor = torch.tensor(times, dtype=torch.float64)
    if x0.ndim == 2:
        return Trajectory(time_tensor, stacked, params=stored)
    beta = stored.get("beta")
    return [
        Trajectory(
            time_tensor,
            stacked[:, b],
            params={**stored, **({"beta": beta[b]} if isinstance(beta, list) else {}), "batch_index": b},
        )
        for b in range(x0.shape[0])
    ]


def check_budget(
    n: int,
    d: int,
    runs: int,
    itemsize: int,
    *,
    t_end: float,
    dt: float,
    method: str,
    save_every: int,
    max_work: float = MAX_WORK,
    max_saved_bytes: int = MAX_SAVED_BYTES,
) -> None:
    """Refuse, before any work, a run too large to finish or to hold in memory.

    The work is ``steps × stages × runs × n² × d`` multiply-adds (one n × n attention matrix per
    evaluation; for ``dopri5`` the step count is its lower bound, one step per save point). The kept
    states take ``saves × (2 × runs × n × d × itemsize + overhead)`` bytes (the list of states and the
    stacked copy made at the end).

    Raises:
        ValueError: over either bound; the message gives the estimate and what to change.
    """
    if method == "dopri5":
        steps = max(1, math.ceil(t_end / (save_every * dt) - 1e-9))
        saves = steps + 1
    else:
        steps = max(1, math.ceil(t_end / dt - 1e-9))
        saves = 1 + math.ceil(steps / save_every)  # the start, every save_every-th step and the last
    work = float(steps) * _STAGES[method] * runs * float(n) ** 2 * d
    if work > max_work:
        raise ValueError(
            f"n={n}, d={d}, {runs} run(s) and {steps} {method} steps (t_end/dt) need about {work:.2g} "
            f"multiply-adds, over max_work={max_work:.2g}: reduce n or t_end/dt, or raise max_work"
        )
    saved = saves * (2 * runs * n * d * itemsize + _STATE_OVERHEAD)
    if saved > max_saved_bytes:
        raise ValueError(
            f"keeping {saves} states of {runs} x {n} x {d} ({itemsize}-byte floats) needs about "
            f"{saved / 2**30:.3g} GiB, over max_saved_bytes={max_saved_bytes / 2**30:.3g} GiB: raise "
            "save_every, shorten t_end, or raise max_saved_bytes"
        )


# Relative step below which a still non-finite dopri5 trial means the solution itself blows up.
_MIN_STEP = 1e-12

# Below this many attention scores per evaluation, intra-op threads cost more than they save, and
# spin-waiting threads on a machine whose cores are busy slow small runs down many times over.
_SMALL_PROBLEM_SCORES = 1 << 16


@contextmanager
def small_problem_threads(x0: torch.Tensor) -> Iterator[None]:
    """Run small problems on one thread; leave the caller's thread setting alone otherwise.

    ``simulate`` runs inside it; wrap the backward pass of a ``grad=True`` run of a small problem
    in it too (``with small_problem_threads(x0): loss.backward()``).
    """
    n = x0.shape[-2]
    runs = x0.shape[0] if x0.ndim == 3 else 1
    previous = torch.get_num_threads()
    if runs * n * n > _SMALL_PROBLEM_SCORES or previous == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _checked(x: torch.Tensor, t: float) -> torch.Tensor:
    if not bool(torch.isfinite(x).all()):
        raise BlowUpError(t)
    return x


def _retract_step(x: torch.Tensor) -> torch.Tensor:
    """Onto the sphere: ``x/|x|`` of a step's result, in place (the step made it; nothing else holds it)
    unless autograd records it."""
    norm = torch.linalg.vector_norm(x, dim=-1, keepdim=True)
    return x / norm if x.requires_grad else x.div_(norm)


def _integrate_fixed(
    field: VectorField,
    x: torch.Tensor,
    t_end: float,
    dt: float,
    step: Stepper,
    save_every: int,
    max_steps: int,
    retract: Callable[[torch.Tensor], torch.Tensor],
    advanced: Callable[[float], None],
    checkpoint: bool,
) -> tuple[list[float], list[torch.Tensor]]:
    # Tolerate t_end/dt a hair above an integer from floating-point division.
    n_steps = max(1, math.ceil(t_end / dt - 1e-9))
    if n_steps > max_steps:
        raise StepLimitError(f"t_end/dt = {n_steps} steps", max_steps, f"to reach t_end={t_end:g}")
    last_step = t_end - (n_steps - 1) * dt

    def stretch(x: torch.Tensor, first: int, last: int) -> torch.Tensor:
        """Steps ``first..last`` (1-based); step ``i`` starts at ``(i − 1)·dt``."""
        for i in range(first, last + 1):
            x = retract(step(field, (i - 1) * dt, x, dt if i < n_steps else last_step))
        return x

    # Every step makes a new tensor and the states are stacked (copied) at the end: no clones needed.
    times, states = [0.0], [x]
    last_check = time.monotonic()
    for first in range(1, n_steps + 1, save_every):
        last = min(first + save_every - 1, n_steps)
        if checkpoint:
            x = _recompute_in_backward(stretch, x, first, last, use_reentrant=False)
        else:
            x = stretch(x, first, last)
        t = t_end if last == n_steps else last * dt
        times.append(t)
        states.append(x)
        advanced(t)
        # A run that blows up keeps computing NaN: check about once a second of wall time, so it stops
        # early without a synchronising check (on a GPU) at every save.
        if time.monotonic() - last_check >= _BLOW_UP_CHECK_SECONDS:
            if not bool(torch.isfinite(x).all()):
                raise BlowUpError(first_non_finite(times, states))
            last_check = time.monotonic()
    return times, states


#: Wall-clock seconds between the finiteness checks of a running fixed-step integration.
_BLOW_UP_CHECK_SECONDS = 1.0


def first_non_finite(times: list[float], states: list[torch.Tensor]) -> float:
    """The first saved time whose state holds a NaN or an infinity (``states`` must hold one)."""
    finite = torch.isfinite(torch.stack(states)).flatten(1).all(dim=1)
    return times[int((~finite).nonzero()[0])]


def _integrate_adaptive(
    field: VectorField,
    x: torch.Tensor,
    t_end: float,
    h: float,
    save_spacing: float,
    rtol: float,
    atol: float,
    max_steps: int,
    retract: Callable[[torch.Tensor], torch.Tensor],
    advanced: Callable[[float], None],
) -> tuple[list[float], list[torch.Tensor]]:
    n_saves = max(1, math.ceil(t_end / save_spacing - 1e-9))
    save_at = [min(k * save_spacing, t_end) for k in range(1, n_saves + 1)]
    times, states = [0.0], [x]
    t, steps = 0.0, 0
    for target in save_at:
        while t < target:
            if steps >= max_steps:
                raise StepLimitError("dopri5", max_steps, f"before t={target:g}")
            h_try = min(h, target - t)
            x_new, err = _dopri5(field, t, x, h_try)
            scale = atol + rtol * torch.maximum(x.abs(), x_new.abs())
            error = float(torch.sqrt(torch.mean((err / scale) ** 2)))
            steps += 1
            if not math.isfinite(error):
                # A trial step that overflows is too long: reject it and shrink, like any other.
                if h_try <= _MIN_STEP * max(1.0, abs(t)):
                    _checked(x_new, t + h_try)
                h = h_try * 0.2
                continue
            if error <= 1.0:
                t = target if h_try == target - t else t + h_try
                x = retract(x_new)
            # Standard controller: safety 0.9, exponent 1/5, growth clipped to [0.2, 10].
            factor = 10.0 if error == 0 else min(10.0, max(0.2, 0.9 * error**-0.2))
            h = h_try * factor
        times.append(target)
        states.append(x)
        advanced(target)
    return times, states


__all__ = ["MAX_SAVED_BYTES", "MAX_WORK", "METHODS", "VectorField", "check_budget", "simulate"]
