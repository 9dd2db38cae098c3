"""Noisy token dynamics: Euler–Maruyama with retraction onto the sphere.

Every token follows the Stratonovich SDE

    dx_i = f_i(t, x) dt + √(2κ) P_{x_i} ∘ dW_i + √(2κ₀) P_{x_i} ∘ dB,

with ``W_1..W_n`` independent Brownian motions in ``R^d`` (independent noise of strength ``κ``) and one
Brownian motion ``B`` shared by all tokens (common noise of strength ``κ₀``); ``P_x`` is the tangent
projection on the sphere and the identity in Euclidean space. Alone, each noise has generator
``κ Δ_{S^{d−1}}`` on a token, so for ``f = 0`` the heat-kernel moment is
``E⟨x(t), x(0)⟩ = e^{−κ (d−1) t}`` (``Δ`` has eigenvalue ``−(d−1)`` on linear functions).

One step is ``x ← R(x + h f(t, x) + √(2κh) P_x ξ_i + √(2κ₀h) P_x ξ₀)`` with standard Gaussian ``ξ`` and
the retraction ``R(y) = y/|y|`` on the sphere. The retraction supplies the Itô correction: since
``|x + σ P_x ξ|² = 1 + σ²|P_x ξ|²``, it pulls the step back by ``σ²(d−1)/2 · x`` on average, the drift
``−κ(d−1) x dt`` of the Itô form. The scheme has weak order 1 and strong order 1/2 (tests/integrate).
Noise is drawn on the CPU from the one seed policy (:mod:`attnflow.random`) and moved, so a seed gives
the same path on every device.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch

from attnflow import progress as _progress
from attnflow._validate import finite_number, on_sphere, positive_int, positive_number
from attnflow.errors import BlowUpError, StepLimitError
from attnflow.integrate.solvers import trajectories
from attnflow.random import SEED_POLICY, Seed, check_seed, torch_generator
from attnflow.trajectory import Trajectory


def integrate_sde(
    field: Any,
    x0: torch.Tensor,
    t_end: float,
    dt: float,
    noise: float = 0.0,
    common_noise: float = 0.0,
    seed: Seed = 0,
    save_every: int = 1,
    *,
    max_steps: int = 10_000_000,
    progress: _progress.Progress | bool | None = False,
    params: Mapping[str, Any] | None = None,
) -> Trajectory | list[Trajectory]:
    """Integrate the noisy dynamics of ``field`` from ``x0`` by Euler–Maruyama (with retraction).

    Args:
        field: the drift ``f``, a vector field such as :class:`attnflow.SelfAttention` (its ``geometry``
            decides the retraction, as in :func:`attnflow.integrate.simulate`).
        x0: initial tokens ``(n, d)``, or ``(batch, n, d)``: independent runs with independent noise
            (common noise is shared by the tokens of one run, not across runs).
        t_end: final time, > 0.
        dt: the step (the last one is shortened to land on ``t_end``).
        noise: ``κ ≥ 0``, the strength of the independent noise.
        common_noise: ``κ₀ ≥ 0``, the strength of the noise shared by all tokens of a run.
        seed: the seed of the noise (int ≥ 0 or ``SeedSequence``).
        save_every: keep every ``save_every``-th step; the first and the final state are always kept.
        max_steps: give up after this many steps.
        progress: ``True`` for a progress bar, or a :class:`attnflow.progress.Progress`.
        params: extra parameters stored with the Trajectory.

    Returns:
        A :class:`Trajectory`, or a list of them for batched ``x0``.

    Raises:
        ValueError / TypeError: bad arguments, naming the argument.
        BlowUpError: the state became NaN or infinite.
        StepLimitError: ``t_end/dt`` exceeds ``max_steps``.
    """
    t_end = positive_number("t_end", t_end)
    dt = positive_number("dt", dt)
    kappa = _nonnegative("noise", noise)
    kappa_common = _nonnegative("common_noise", common_noise)
    seed = check_seed(seed)
    save_every = positive_int("save_every", save_every)
    max_steps = positive_int("max_steps", max_steps)
    sphere = getattr(field, "geometry", "euclidean") == "sphere"
    check = getattr(field, "check_state", None)
    if check is not None:
        check(x0, "x0")
    elif not isinstance(x0, torch.Tensor) or x0.ndim not in (2, 3):
        raise ValueError("x0 must be a tensor of shape (n, d) or (batch, n, d)")
    if sphere:
        on_sphere("x0", x0)
        x0 = x0 / x0.norm(dim=-1, keepdim=True)
    n_steps = max(1, math.ceil(t_end / dt - 1e-9))
    if n_steps > max_steps:
        raise StepLimitError(f"t_end/dt = {n_steps} steps", max_steps, f"to reach t_end={t_end:g}")

    generator = torch_generator(seed)
    common_shape = (*x0.shape[:-2], 1, x0.shape[-1])

    def gaussian(shape: tuple[int, ...]) -> torch.Tensor:
        return torch.randn(shape, generator=generator, dtype=x0.dtype).to(x0.device)

    x, t = x0.clone(), 0.0
    times, states = [0.0], [x.clone()]
    with torch.no_grad(), _progress.task(progress, "simulate", total=t_end, unit="t") as reporter:
        for i in range(1, n_steps + 1):
            h = dt if i < n_steps else t_end - (n_steps - 1) * dt
            # Both draws every step, so a seed's independent noise does not depend on common_noise.
            independent = math.sqrt(2 * kappa * h) * gaussian(tuple(x.shape))
            shared = math.sqrt(2 * kappa_common * h) * gaussian(common_shape)
            x = em_step(field, t, x, h, independent + shared, sphere)
            t = t_end if i == n_steps else i * dt
            if i % save_every == 0 or i == n_steps:
                if not bool(torch.isfinite(x).all()):
                    raise BlowUpError(t)
                times.append(t)
                states.append(x.clone())
                reporter.update(t)

    settings = dict(
        method="euler_maruyama",
        t_end=t_end,
        dt=dt,
        save_every=save_every,
        noise=kappa,
        common_noise=kappa_common,
        noise_seed=seed if isinstance(seed, int) else str(seed),
        seed_policy=SEED_POLICY,
    )
    return trajectories(field, x0, times, states, settings, params)


def em_step(
    field: Any, t: float, x: torch.Tensor, h: float, increment: torch.Tensor, sphere: bool
) -> torch.Tensor:
    """One step ``R(x + h f(t, x) + P_x increment)``; ``increment`` is the scaled Brownian increment.

    Exposed so that a caller (or a strong-order test) can drive the scheme with its own Brownian path.
    """
    drift = field(t, x)
    if not sphere:
        return x + h * drift + increment
    tangent = increment - (increment * x).sum(-1, keepdim=True) * x
    y = x + h * drift + tangent
    return y / y.norm(dim=-1, keepdim=True)


def _nonnegative(name: str, value: Any) -> float:
    out = finite_number(name, value)
    if out < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return out


__all__ = ["em_step", "integrate_sde"]
