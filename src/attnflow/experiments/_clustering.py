"""Theory and plumbing shared by the seed-002 clustering experiments (a private helper module)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from attnflow import init
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
