"""Input checks shared by the public API: each error names the argument and what is allowed."""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from typing import Any

import torch

from attnflow.trajectory import Trajectory


def finite_number(name: str, value: Any) -> float:
    """Return ``value`` as a float, or raise if it is not a finite real number."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a finite real number, got {value!r}") from None
    if not math.isfinite(out):
        raise ValueError(f"{name} must be a finite real number, got {value!r}")
    return out


def positive_number(name: str, value: Any) -> float:
    """Return ``value`` as a float, or raise if it is not finite and > 0."""
    out = finite_number(name, value)
    if out <= 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return out


def positive_int(name: str, value: Any, minimum: int = 1) -> int:
    """Return ``value`` as an int, or raise if it is not an integer >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= {minimum}, got {value!r}")
    out = int(value)
    if out < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return out


def flag(name: str, value: Any) -> bool:
    """Return ``value`` if it is ``True`` or ``False``, else raise (``1`` or ``"yes"`` are not flags)."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return value


def one_of(name: str, value: Any, allowed: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``allowed`` strings, else raise listing them."""
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}; got {value!r}")
    return value


def finite_tensor(name: str, value: torch.Tensor) -> torch.Tensor:
    """Raise if ``value`` holds NaN or infinite entries."""
    if not torch.is_floating_point(value):
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {value.dtype}")
    if not bool(torch.isfinite(value).all()):
        raise ValueError(f"{name} contains NaN or infinite values")
    return value


def sphere_tolerance(dtype: torch.dtype) -> float:
    """How far from 1 the norm of a unit vector stored in ``dtype`` may be.

    Rounding each coordinate of an exact unit vector to ``dtype`` moves its norm by at most the unit
    roundoff ``u = eps/2``; normalising in ``dtype`` itself adds a few more roundings. ``8u`` covers both
    for the 16-bit types (u = 2^-9 for bfloat16, 2^-11 for float16); float32 and float64 keep the
    looser 1e-4 and 1e-6 that earlier releases used (far above their own ``8u``).
    """
    if dtype == torch.float64:
        return 1e-6
    if dtype == torch.float32:
        return 1e-4
    return 4 * torch.finfo(dtype).eps


def on_sphere(name: str, x: torch.Tensor, atol: float | None = None) -> None:
    """Raise if the rows of ``x`` are not unit vectors (to ``atol``, by default :func:`sphere_tolerance`).

    The norms are computed in float64, so a low-precision cloud is judged by its stored values, not by
    a norm rounded in its own precision.
    """
    if atol is None:
        atol = sphere_tolerance(x.dtype)
    norms = torch.linalg.vector_norm(x, dim=-1, dtype=torch.float64)
    err = (norms - 1).abs().max().item() if x.numel() else 0.0
    if err > atol:
        raise ValueError(
            f"{name} must lie on the unit sphere (every row of norm 1, to {atol:g}); the largest "
            f"deviation is {err:.3g}. Normalise it first, e.g. x / x.norm(dim=-1, keepdim=True)."
        )


def check_trajectory(traj: Any, name: str = "traj") -> Trajectory:
    """Raise a clear error unless ``traj`` is a non-empty :class:`Trajectory`."""
    if not isinstance(traj, Trajectory):
        raise TypeError(f"{name} must be an attnflow.Trajectory, got {type(traj).__name__}")
    if traj.n_states == 0 or traj.n_tokens == 0:
        raise ValueError(f"{name} must hold at least one state and one token, got {traj!r}")
    return traj


def check_pairs(traj: Trajectory, name: str = "traj") -> Trajectory:
    """Like :func:`check_trajectory`, and at least two tokens (pairwise statistics need a pair)."""
    check_trajectory(traj, name)
    if traj.n_tokens < 2:
        raise ValueError(f"{name} must hold at least 2 tokens for a pairwise statistic, got {traj.n_tokens}")
    return traj


#: Floating-point precisions by name: the one string → dtype map.
DTYPES = {"float32": torch.float32, "float64": torch.float64}


def dtype_of(name: Any) -> torch.dtype:
    """The torch dtype called ``name`` (a key of :data:`DTYPES`), or raise naming the choices."""
    return DTYPES[one_of("dtype", name, DTYPES)]


def device_of(name: Any) -> str:
    """Resolve a device name: ``"auto"`` picks CUDA when present; CUDA names need a GPU.

    Raises:
        ValueError: an unknown device, or CUDA on a machine without it.
    """
    if not isinstance(name, str):
        raise TypeError(f"device must be a string such as 'cpu' or 'cuda', got {name!r}")
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise ValueError(f"device must be 'cpu', 'cuda', 'cuda:N' or 'auto', got {name!r}") from None
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu', 'cuda', 'cuda:N' or 'auto', got {name!r}")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} needs CUDA, which is not available on this machine")
    return name
