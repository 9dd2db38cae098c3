"""Fits and reductions shared by every analysis: slopes with confidence intervals, crossing times,
entropies of laws and extreme points of a point set. One copy of each, used by experiments and producers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True, eq=False)
class SlopeFit:
    """A fitted slope with its confidence interval over seeds.

    Attributes:
        slope: the mean over seeds of each seed's least-squares slope.
        ci_low: lower end of the confidence interval (Student t over seeds).
        ci_high: upper end.
        intercept: the mean intercept (in the fitted coordinates).
        level: the confidence level.
        per_seed: each seed's slope.
    """

    slope: float
    ci_low: float
    ci_high: float
    intercept: float
    level: float
    per_seed: np.ndarray

    def contains(self, value: float) -> bool:
        """Whether ``value`` lies in the confidence interval."""
        return self.ci_low <= value <= self.ci_high


def fit_slope(x: np.ndarray, y: np.ndarray, level: float = 0.95) -> SlopeFit:
    """Fit ``y ≈ a + b x`` for each seed (row of ``y``) and give ``b`` with a t interval over seeds.

    Args:
        x: shape ``(N,)``, at least two distinct values.
        y: shape ``(S, N)`` with ``S >= 2`` seeds.
        level: confidence level in (0, 1).

    Returns:
        The slope, its interval and the per-seed slopes.

    Raises:
        ValueError: fewer than two seeds or two distinct ``x``, mismatched shapes, non-finite values.
    """
    x = np.asarray(x, dtype=float)
    y = np.atleast_2d(np.asarray(y, dtype=float))
    if y.shape[1] != x.shape[0] or x.ndim != 1:
        raise ValueError(f"y must have shape (seeds, {x.shape[0]}) to match x, got {y.shape}")
    if y.shape[0] < 2:
        raise ValueError(f"a confidence interval over seeds needs at least 2 seeds, got {y.shape[0]}")
    if np.unique(x).size < 2:
        raise ValueError("x must hold at least two distinct values")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("x and y must be finite")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    slopes, intercepts = np.polynomial.polynomial.polyfit(x, y.T, 1)[::-1]
    n_seeds = y.shape[0]
    half = stats.t.ppf(0.5 + level / 2, n_seeds - 1) * slopes.std(ddof=1) / np.sqrt(n_seeds)
    mean = float(slopes.mean())
    return SlopeFit(mean, mean - half, mean + half, float(intercepts.mean()), level, slopes)


def fit_loglog_slope(ns: np.ndarray, errors: np.ndarray, level: float = 0.95) -> SlopeFit:
    """Fit ``log error ≈ a + b log n`` per seed: ``b`` is the measured rate (``error ∝ n^b``).

    Raises:
        ValueError: non-positive ``ns`` or ``errors`` (their logarithm is undefined).
    """
    ns = np.asarray(ns, dtype=float)
    errors = np.asarray(errors, dtype=float)
    if (ns <= 0).any() or (errors <= 0).any():
        raise ValueError("ns and errors must be positive for a log-log fit")
    return fit_slope(np.log(ns), np.log(errors), level)


def line_fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Least-squares line ``y ≈ a + b x`` of one series: ``(slope b, intercept a, R²)``."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    slope, intercept = np.polyfit(x, y, 1)
    residual = y - (slope * x + intercept)
    total = np.sum((y - y.mean()) ** 2)
    return float(slope), float(intercept), float(1 - np.sum(residual**2) / total) if total > 0 else 1.0


def log_slope(times: np.ndarray, values: np.ndarray) -> tuple[float, float]:
    """Least-squares slope of ``log(values)`` against ``times`` (an exponential rate) and the fit's R²."""
    slope, _, r2 = line_fit(times, np.log(values))
    return slope, r2


def loglog_slope(x: np.ndarray, y: np.ndarray) -> float:
    """Least-squares exponent ``b`` of a power law ``y ∝ x^b`` of one series."""
    return line_fit(np.log(x), np.log(y))[0]


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


def entropy(law: np.ndarray, axis: int = -1) -> np.ndarray:
    """Shannon entropy in nats of probability vectors along ``axis`` (``0 log 0 = 0``)."""
    law = np.asarray(law, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.where(law > 0, law * np.log(law), 0.0).sum(axis=axis)


def entropy_from_log(log_law: np.ndarray | object, axis: int = -1):
    """Entropy in nats from log-probabilities (NumPy arrays or torch tensors), ``−Σ p log p``."""
    import torch

    if isinstance(log_law, torch.Tensor):
        p = log_law.exp()
        return -(torch.where(p > 0, p * log_law, torch.zeros_like(p))).sum(axis)
    log_law = np.asarray(log_law, dtype=np.float64)
    p = np.exp(log_law)
    with np.errstate(invalid="ignore"):  # 0 · (−∞) where p = 0: those terms are dropped
        return -np.where(p > 0, p * log_law, 0.0).sum(axis=axis)


def kl_from_log(log_p: np.ndarray | object, log_q: np.ndarray | object, axis: int = -1):
    """``KL(p ‖ q) = Σ p (log p − log q)`` in nats from log-probabilities (NumPy or torch); ``0 log 0 = 0``.

    Rounding can make a KL of two nearly equal laws slightly negative; it is clamped at 0.
    """
    import torch

    if isinstance(log_p, torch.Tensor):
        p = log_p.exp()
        terms = torch.where(p > 0, p * (log_p - log_q), torch.zeros_like(p))
        return terms.sum(axis).clamp_min(0.0)
    log_p = np.asarray(log_p, dtype=np.float64)
    p = np.exp(log_p)
    with np.errstate(invalid="ignore"):
        terms = np.where(p > 0, p * (log_p - np.asarray(log_q, dtype=np.float64)), 0.0)
    return np.maximum(terms.sum(axis=axis), 0.0)


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


__all__ = [
    "SlopeFit",
    "crossing_time",
    "entropy",
    "entropy_from_log",
    "fit_loglog_slope",
    "fit_slope",
    "is_extreme_point",
    "kl_from_log",
    "line_fit",
    "log_slope",
    "loglog_slope",
]
