"""Between particles and densities on the circle: draw particles from a density, place angles on the circle.

The mean-field solver (:func:`attnflow.meanfield.solve`) evolves a density; these helpers start particle
runs from the same law so that the two can be compared (with
:func:`attnflow.measure.distance_to_particles`).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from attnflow._validate import finite_tensor, positive_int
from attnflow.meanfield.solver import float64_tensor
from attnflow.random import Seed, torch_generator

_TWO_PI = 2 * math.pi


def points_on_circle(angles: torch.Tensor | np.ndarray, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Unit vectors ``(cos θ, sin θ)`` for angles of shape ``(..., n)``: shape ``(..., n, 2)``."""
    theta = float64_tensor(angles)
    return torch.stack([torch.cos(theta), torch.sin(theta)], dim=-1).to(dtype)


def sample_angles(density: torch.Tensor | np.ndarray, n: int, seed: Seed = 0) -> torch.Tensor:
    """Draw ``n`` independent angles from a piecewise-constant density on the uniform grid.

    A cell is chosen with probability ``ρ_j Δθ``, then a point uniformly inside it: exactly the law the
    solver's cell averages describe, so the sampling error is the only distance between the two.

    Args:
        density: shape ``(N,)``, ≥ 0, positive mass (normalised here).
        n: number of samples.
        seed: the seed of the draw (an int or a child from :func:`attnflow.random.spawn`).

    Returns:
        float64 angles in ``[0, 2π)``, shape ``(n,)``.
    """
    rho = finite_tensor("density", float64_tensor(density).reshape(-1))
    if bool((rho < 0).any()) or float(rho.sum()) <= 0:
        raise ValueError("density must be ≥ 0 with positive mass")
    n = positive_int("n", n)
    generator = torch_generator(seed)
    cells = torch.multinomial(rho / rho.sum(), n, replacement=True, generator=generator)
    offsets = torch.rand(n, dtype=torch.float64, generator=generator)
    return (cells.to(torch.float64) + offsets) * (_TWO_PI / rho.numel())
