"""Theory and plumbing shared by the seed-002 clustering experiments (a private helper module)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from attnflow import init
from attnflow._validate import finite_number, one_of, positive_int
from attnflow.dynamics import SelfAttention
from attnflow.integrate import simulate
from attnflow.trajectory import Trajectory

SOURCE = "seed 002: tokens as particles"


def uniform_runs(
    params: Mapping[str, Any],
    d: int,
    beta: float,
    *,
    variant: str = "SA",
    causal: bool = False,
    method: str = "rk4",
    dtype: torch.dtype = torch.float32,
    t_end: float | None = None,
) -> list[Trajectory]:
    """``params["seeds"]`` uniform starts of ``params["n"]`` tokens on S^{d−1}, integrated in one batch.

    The field is self-attention with Q = K = V = I; the starts come from ``params["seed"]``, the step from
    ``params["dt"]``, the saving from ``params["save_every"]`` (1 if absent) and the horizon from ``t_end``
    (default ``params["t_end"]``).
    """
    x0 = init.uniform_sphere(params["n"], d, seed=params["seed"], batch=params["seeds"], dtype=dtype)
    return simulate(
        SelfAttention(beta=beta, variant=variant, causal=causal),
        x0,
        t_end=params["t_end"] if t_end is None else t_end,
        dt=params["dt"],
        method=method,
        save_every=params.get("save_every", 1),
    )


def equiangular_rate(gamma: float | np.ndarray, n: int, beta: float, variant: str = "SA") -> np.ndarray:
    """``dγ/dt`` for ``n`` tokens whose pairwise inner products all equal ``γ`` (Q = K = V = I, sphere).

    SA: ``2 e^{βγ}(1−γ)((n−1)γ+1) / (e^β + (n−1)e^{βγ})``; USA: ``(2/n) e^{βγ}(1−γ)((n−1)γ+1)``.
    The SA form is evaluated as ``2(1−γ)((n−1)γ+1) / (e^{β(1−γ)} + n − 1)`` so that large β cannot overflow.
    """
    g = np.asarray(gamma, dtype=np.float64)
    spread = (1 - g) * ((n - 1) * g + 1)
    if one_of("variant", variant, ("SA", "USA")) == "SA":
        return 2 * spread / (np.exp(beta * (1 - g)) + n - 1)
    return (2 / n) * np.exp(beta * g) * spread


def equiangular_gamma(
    times: Sequence[float] | np.ndarray, n: int, beta: float, variant: str = "SA", gamma0: float = 0.0
) -> np.ndarray:
    """The common inner product ``γ(t)`` of an equiangular start, from scipy's ``solve_ivp`` (rtol 1e-11).

    Args:
        times: increasing times ≥ 0 to report.
        n: the number of tokens, ≥ 2.
        beta: the inverse temperature.
        variant: ``"SA"`` or ``"USA"``.
        gamma0: ``γ(0)`` (0 for an orthogonal start).

    Returns:
        ``γ`` at ``times``.
    """
    from scipy.integrate import solve_ivp

    n = positive_int("n", n, minimum=2)
    beta = finite_number("beta", beta)
    t = np.asarray(times, dtype=np.float64)
    solution = solve_ivp(
        lambda _, g: equiangular_rate(g, n, beta, variant),
        (0.0, float(t[-1])),
        [gamma0],
        t_eval=t,
        method="DOP853",
        rtol=1e-11,
        atol=1e-13,
    )
    return solution.y[0]


def equiangular_hitting_time(
    n: int, beta: float, level: float, variant: str = "SA", gamma0: float = 0.0
) -> float:
    """The time at which ``γ(t)`` reaches ``level`` from ``gamma0``: ``∫ dγ / γ'(γ)`` by quadrature.

    γ increases monotonically (its rate is positive on ``(−1/(n−1), 1)``), so the time is the integral of
    the reciprocal rate; it is exact up to the quadrature's tolerance.
    """
    from scipy.integrate import quad

    value, _ = quad(lambda g: 1.0 / float(equiangular_rate(g, n, beta, variant)), gamma0, level, limit=200)
    return value


def phase_curve(n: int, betas: np.ndarray, delta: float, variant: str = "SA") -> np.ndarray:
    """For each β, the time ``t`` with ``γ_β(t) = 1 − δ`` from an orthogonal start: the phase boundary."""
    return np.array([equiangular_hitting_time(n, float(b), 1 - delta, variant) for b in betas])


def fastest_mode(beta: float, max_mode: int | None = None) -> int:
    """The most unstable Fourier mode ``ℓ*`` of the uniform distribution on the circle (d = 2), for β > 0.

    :func:`attnflow.meanfield.theory.fastest_mode` (the maximiser of the linear growth rate ``ℓ² I_ℓ(β)/β``)
    searched up to ``4√β + 10`` by default; ``ℓ* ≈ √(2β)`` for large β.
    """
    from attnflow.meanfield.theory import fastest_mode as meanfield_fastest_mode

    beta = finite_number("beta", beta)
    if beta <= 0:
        raise ValueError(f"beta must be > 0 for an unstable mode to exist, got {beta}")
    return meanfield_fastest_mode(beta, max_mode or int(4 * math.sqrt(beta)) + 10)


def is_extreme_point(points: np.ndarray, index: int, atol: float = 1e-9) -> bool:
    """Whether ``points[index]`` is an extreme point of the convex hull of ``points`` (a linear programme).

    It is not extreme exactly when it is a convex combination of the other points: find ``λ ≥ 0``,
    ``Σ λ = 1``, ``Σ λ_k p_k = p`` with scipy's HiGHS. Points closer than ``atol`` to ``p`` count as ``p``.
    """
    from scipy.optimize import linprog

    p = points[index]
    others = np.delete(points, index, axis=0)
    others = others[np.linalg.norm(others - p, axis=1) > atol]
    if others.shape[0] == 0:
        return True
    a_eq = np.vstack([others.T, np.ones(others.shape[0])])
    b_eq = np.concatenate([p, [1.0]])
    result = linprog(np.zeros(others.shape[0]), A_eq=a_eq, b_eq=b_eq, bounds=(0, None), method="highs")
    return result.status == 2  # infeasible: not a convex combination of the others


def crossing_time(times: np.ndarray, values: np.ndarray, level: float) -> float:
    """The first time a sampled increasing curve reaches ``level`` (linear interpolation); NaN if never."""
    above = np.flatnonzero(values >= level)
    if above.size == 0:
        return math.nan
    k = int(above[0])
    if k == 0:
        return float(times[0])
    t0, t1, v0, v1 = times[k - 1], times[k], values[k - 1], values[k]
    return float(t0 + (level - v0) * (t1 - t0) / (v1 - v0))


def log_slope(times: np.ndarray, values: np.ndarray) -> tuple[float, float]:
    """Least-squares slope of ``log(values)`` against ``times`` and the fit's R²."""
    y = np.log(values)
    slope, intercept = np.polyfit(times, y, 1)
    residual = y - (slope * times + intercept)
    total = np.sum((y - y.mean()) ** 2)
    return float(slope), float(1 - np.sum(residual**2) / total) if total > 0 else 1.0
