"""Initial token clouds: uniform on the sphere, orthogonal, in caps, an antipodal pair, from data.

Every sampler takes a ``seed`` and draws from its own ``torch.Generator`` on the CPU (then moves the
result to ``device``), so the same seed gives the same cloud on every device.
"""

from __future__ import annotations

import math
import os
import pickle
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from attnflow._validate import finite_number, finite_tensor, positive_int
from attnflow.trajectory import Trajectory


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed))


def _finish(x: torch.Tensor, dtype: Any, device: torch.device | str | None) -> torch.Tensor:
    """The float64 draw in the requested precision: only floating dtypes (an integer one would round
    every coordinate of a unit vector to 0 or ±1)."""
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating-point torch dtype such as torch.float32, got {dtype!r}")
    return x.to(dtype=dtype, device=device)


def uniform_sphere(
    n: int,
    d: int,
    seed: int = 0,
    batch: int | None = None,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """``n`` tokens drawn uniformly on the unit sphere S^{d-1} ⊂ R^d.

    Args:
        n: number of tokens (>= 1).
        d: ambient dimension (>= 2).
        seed: random seed.
        batch: if given, draw ``batch`` independent clouds, shape ``(batch, n, d)``.
        dtype, device: of the result.
    """
    n = positive_int("n", n)
    d = positive_int("d", d, minimum=2)
    shape = (n, d) if batch is None else (positive_int("batch", batch), n, d)
    x = torch.randn(shape, generator=_generator(seed), dtype=torch.float64)
    return _finish(x / x.norm(dim=-1, keepdim=True), dtype, device)


def orthogonal(
    n: int,
    d: int,
    seed: int | None = None,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """``n`` mutually orthogonal unit tokens (all pairwise inner products 0), which needs ``d >= n``.

    The equiangular start of the theory: under Q = K = V = I every pairwise inner product then
    follows the same curve γ(t).

    Args:
        n: number of tokens.
        d: ambient dimension, at least ``n``.
        seed: ``None`` gives the first ``n`` standard basis vectors; a seed gives a random
            orthonormal frame.
    """
    n = positive_int("n", n)
    d = positive_int("d", d, minimum=2)
    if d < n:
        raise ValueError(f"orthogonal needs d >= n to fit n orthogonal tokens; got n={n}, d={d}")
    if seed is None:
        return _finish(torch.eye(d, dtype=torch.float64)[:n], dtype, device)
    gaussian = torch.randn(d, n, generator=_generator(seed), dtype=torch.float64)
    frame, _ = torch.linalg.qr(gaussian)
    return _finish(frame.T, dtype, device)


def caps(
    centers: torch.Tensor | Sequence[Sequence[float]],
    radius: float,
    counts: int | Sequence[int],
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Tokens uniform in spherical caps: for each center c, points x with angle(x, c) <= ``radius``.

    Args:
        centers: cap centers, shape ``(k, d)`` (normalised here).
        radius: angular radius of every cap, in radians, in (0, π].
        counts: tokens per cap (one int for all caps, or one per cap).
        seed: random seed.

    Returns:
        Shape ``(sum(counts), d)``, the tokens of cap 0 first.
    """
    c = torch.as_tensor(centers, dtype=torch.float64)
    if c.ndim != 2 or c.shape[1] < 2 or c.shape[0] < 1:
        raise ValueError(f"centers must have shape (k, d) with k >= 1, d >= 2; got {tuple(c.shape)}")
    finite_tensor("centers", c)
    if bool((c.norm(dim=-1) == 0).any()):
        raise ValueError("centers must be non-zero vectors")
    radius = finite_number("radius", radius)
    if not 0 < radius <= math.pi:
        raise ValueError(f"radius must be an angle in (0, pi], got {radius}")
    k, d = c.shape
    per_cap = [counts] * k if isinstance(counts, int) else list(counts)
    if len(per_cap) != k:
        raise ValueError(f"counts has {len(per_cap)} entries but there are {k} centers")
    per_cap = [positive_int("counts", m) for m in per_cap]
    gen = _generator(seed)
    c = c / c.norm(dim=-1, keepdim=True)
    out = []
    for center, m in zip(c, per_cap, strict=True):
        theta = _cap_angles(m, d, radius, gen)
        direction = torch.randn(m, d, generator=gen, dtype=torch.float64)
        direction = direction - (direction @ center).unsqueeze(-1) * center
        direction = direction / direction.norm(dim=-1, keepdim=True)
        out.append(torch.cos(theta).unsqueeze(-1) * center + torch.sin(theta).unsqueeze(-1) * direction)
    return _finish(torch.cat(out), dtype, device)


def _cap_angles(m: int, d: int, radius: float, gen: torch.Generator) -> torch.Tensor:
    """Polar angles of uniform points in a cap: density ∝ sin^{d-2}θ on [0, radius], by rejection."""
    bound = math.sin(min(radius, math.pi / 2))
    accepted: list[torch.Tensor] = []
    total = 0
    while total < m:
        theta = torch.rand(2 * m, generator=gen, dtype=torch.float64) * radius
        u = torch.rand(2 * m, generator=gen, dtype=torch.float64)
        keep = theta[u <= (torch.sin(theta) / bound) ** (d - 2)]
        accepted.append(keep)
        total += keep.numel()
    return torch.cat(accepted)[:m]


def antipodal_pair(
    d: int,
    angle_offset: float = 0.0,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Two tokens at angle ``π − angle_offset``: ``e_1``, and ``−e_1`` turned toward ``e_2``.

    With ``angle_offset = 0`` the pair is an (unstable) equilibrium of the sphere dynamics.
    """
    d = positive_int("d", d, minimum=2)
    angle_offset = finite_number("angle_offset", angle_offset)
    x = torch.zeros(2, d, dtype=torch.float64)
    x[0, 0] = 1.0
    x[1, 0] = -math.cos(angle_offset)
    x[1, 1] = math.sin(angle_offset)
    return _finish(x, dtype, device)


def from_tensor(
    x: torch.Tensor | np.ndarray,
    normalize: bool = False,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Validate a given cloud of shape ``(n, d)`` or ``(batch, n, d)``; optionally project onto the sphere."""
    t = torch.as_tensor(x)
    if t.ndim not in (2, 3):
        raise ValueError(f"x must have shape (n, d) or (batch, n, d), got {tuple(t.shape)}")
    if not torch.is_floating_point(t):
        t = t.to(torch.get_default_dtype())
    finite_tensor("x", t)
    if normalize:
        norms = t.norm(dim=-1, keepdim=True)
        if bool((norms == 0).any()):
            raise ValueError("x has a zero row, which cannot be normalised onto the sphere")
        t = t / norms
    return t.to(dtype=dtype or t.dtype, device=device)


def from_file(
    path: str | os.PathLike[str],
    normalize: bool = False,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Load a cloud from ``.npy``, ``.pt`` (a tensor) or a Trajectory Zarr store (its final state)."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"path does not exist: {p}")
    if p.suffix not in (".npy", ".pt") and not p.is_dir():
        raise ValueError(f"path must be a .npy file, a .pt file or a Trajectory store; got {p}")
    try:
        if p.suffix == ".npy":
            data: Any = np.load(p)  # allow_pickle=False: a pickled array is refused, never run
        elif p.suffix == ".pt":
            data = torch.load(p, map_location="cpu", weights_only=True)
        else:
            data = Trajectory.load(p).final
    # What a truncated or foreign file raises depends on where the parser stops (struct.error: a
    # header cut short inside a pickle); each is a file that does not hold a cloud.
    except (OSError, ValueError, RuntimeError, EOFError, pickle.UnpicklingError, struct.error) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(f"cannot read a token cloud from {p}: {reason}") from None
    if not isinstance(data, torch.Tensor | np.ndarray):
        raise ValueError(f"{p} must hold one array of shape (n, d), got a {type(data).__name__}")
    if isinstance(data, np.ndarray) and data.dtype.kind not in "biuf":
        raise ValueError(f"{p} must hold a real-valued array, got dtype {data.dtype}")
    return from_tensor(data, normalize=normalize, dtype=dtype, device=device)


__all__ = ["antipodal_pair", "caps", "from_file", "from_tensor", "orthogonal", "uniform_sphere"]
