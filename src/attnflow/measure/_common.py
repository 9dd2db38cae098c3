"""Shared plumbing for measurements: labelled outputs and pairwise reductions without an n×n matrix."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
import xarray as xr

from attnflow.trajectory import Trajectory

# Rows of the Gram matrix handled at once: keeps a block under ~32 MB of float64 for any n.
_BLOCK_ENTRIES = 1 << 22


def states(traj: Trajectory) -> Iterator[torch.Tensor]:
    """Each saved state as a float64 CPU tensor ``(n, d)``; analysis runs in float64."""
    for k in range(traj.n_states):
        yield traj.x[k].detach().to(device="cpu", dtype=torch.float64)


def gram_blocks(x: torch.Tensor) -> Iterator[tuple[int, torch.Tensor]]:
    """Yield ``(start, x[start:stop] @ x.T)`` row blocks of the Gram matrix of ``x`` ``(n, d)``."""
    n = x.shape[0]
    block = max(1, _BLOCK_ENTRIES // max(n, 1))
    for start in range(0, n, block):
        yield start, x[start : start + block] @ x.T


def offdiagonal_mask(start: int, rows: int, n: int) -> torch.Tensor:
    """Boolean mask of the entries ``j > i`` (each unordered pair once) in rows ``start..start+rows``."""
    i = torch.arange(start, start + rows).unsqueeze(1)
    j = torch.arange(n).unsqueeze(0)
    return j > i


def unit_rows(x: torch.Tensor) -> torch.Tensor:
    """Rows scaled to unit norm (zero rows stay zero), for cosine statistics of unnormalised clouds."""
    norms = x.norm(dim=-1, keepdim=True)
    return x / torch.where(norms > 0, norms, torch.ones_like(norms))


def per_state(
    traj: Trajectory,
    fn: Callable[[torch.Tensor], float],
    name: str,
    attrs: dict[str, Any] | None = None,
) -> xr.DataArray:
    """Apply ``fn`` to every state and label the results over the trajectory's axis."""
    values = np.array([fn(x) for x in states(traj)], dtype=np.float64)
    return series(traj, values, name, attrs)


def series(
    traj: Trajectory, values: np.ndarray, name: str, attrs: dict[str, Any] | None = None
) -> xr.DataArray:
    """A 1-D ``DataArray`` over ``traj``'s axis (``time`` or ``layer``) with its coordinates."""
    return xr.DataArray(
        values,
        dims=(traj.axis,),
        coords={traj.axis: traj.times.numpy()},
        name=name,
        attrs=dict(attrs or {}),
    )
