"""The mean-field limit on the circle: the continuity equation of self-attention, particles from a density.

``solve`` evolves a density ``ρ_t(θ)`` under ``∂_t ρ + ∂_θ(ρ v[ρ]) = 0`` (SA or USA, float64, finite volumes,
FFT convolutions) and returns a :class:`~attnflow.DensityTrajectory`; ``sample_angles`` and
``points_on_circle`` start particle runs from a density. Its measurements are those of
:mod:`attnflow.measure` (``energy`` and ``clusters`` take a density too; ``fourier_modes``,
``distance_to_particles``, ``wasserstein1_circle`` in :mod:`attnflow.measure.density`), its figures are in
:mod:`attnflow.viz.density`, its linear growth rates in :mod:`attnflow.theory.circle`.
"""

from attnflow.meanfield.particles import points_on_circle, sample_angles
from attnflow.meanfield.solver import solve, velocity
from attnflow.trajectory import DensityTrajectory, angle_grid

__all__ = [
    "DensityTrajectory",
    "angle_grid",
    "points_on_circle",
    "sample_angles",
    "solve",
    "velocity",
]
