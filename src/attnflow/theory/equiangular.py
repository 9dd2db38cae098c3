"""The equiangular reduction: ``n`` tokens whose pairwise inner products all equal ``γ(t)``.

Under Q = K = V = I on the sphere an equiangular start stays equiangular, and the whole flow reduces to
one ODE for ``γ``. Everything here is computed from that ODE (scipy, float64), sharing nothing with the
particle simulator, so it can serve as the independent prediction for simulations.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from attnflow._validate import finite_number, one_of, positive_int

VARIANTS = ("SA", "USA")


def rate(gamma: float | np.ndarray, n: int, beta: float, variant: str = "SA") -> np.ndarray:
    """``dγ/dt`` for ``n`` tokens whose pairwise inner products all equal ``γ`` (Q = K = V = I, sphere).

    SA: ``2 e^{βγ}(1−γ)((n−1)γ+1) / (e^β + (n−1)e^{βγ})``; USA: ``(2/n) e^{βγ}(1−γ)((n−1)γ+1)``.
    The SA form is evaluated as ``2(1−γ)((n−1)γ+1) / (e^{β(1−γ)} + n − 1)`` so that large β cannot overflow.
    """
    g = np.asarray(gamma, dtype=np.float64)
    spread = (1 - g) * ((n - 1) * g + 1)
    if one_of("variant", variant, VARIANTS) == "SA":
        return 2 * spread / (np.exp(beta * (1 - g)) + n - 1)
    return (2 / n) * np.exp(beta * g) * spread


def gamma(
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
        lambda _, g: rate(g, n, beta, variant),
        (0.0, float(t[-1])),
        [gamma0],
        t_eval=t,
        method="DOP853",
        rtol=1e-11,
        atol=1e-13,
    )
    return solution.y[0]


def hitting_time(n: int, beta: float, level: float, variant: str = "SA", gamma0: float = 0.0) -> float:
    """The time at which ``γ(t)`` reaches ``level`` from ``gamma0``: ``∫ dγ / γ'(γ)`` by quadrature.

    γ increases monotonically (its rate is positive on ``(−1/(n−1), 1)``), so the time is the integral of
    the reciprocal rate; it is exact up to the quadrature's tolerance.
    """
    from scipy.integrate import quad

    value, _ = quad(lambda g: 1.0 / float(rate(g, n, beta, variant)), gamma0, level, limit=200)
    return value


def phase_curve(n: int, betas: np.ndarray, delta: float, variant: str = "SA") -> np.ndarray:
    """For each β, the time ``t`` with ``γ_β(t) = 1 − δ`` from an orthogonal start: the phase boundary."""
    return np.array([hitting_time(n, float(b), 1 - delta, variant) for b in betas])


__all__ = ["gamma", "hitting_time", "phase_curve", "rate"]
