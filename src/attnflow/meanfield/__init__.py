"""The mean-field limit on the circle: the continuity equation of self-attention and its particles.

``solve`` evolves a density ``ρ_t(θ)`` under ``∂_t ρ + ∂_θ(ρ v[ρ]) = 0`` (SA or USA, float64, finite volumes,
FFT convolutions) and returns a :class:`DensityTrajectory`; the measurements that apply to a density
(energy, clusters as peaks, Fourier modes) and the Wasserstein-1 distance to particles are in
:mod:`attnflow.meanfield.measure`; the linear growth rates in :mod:`attnflow.theory.circle`.
"""

from attnflow.meanfield.measure import (
    clusters,
    distance_to_particles,
    energy,
    fourier_modes,
    particle_angles,
    points_on_circle,
    sample_angles,
    wasserstein1_circle,
)
from attnflow.meanfield.plot import draw_density, plot_density
from attnflow.meanfield.solver import solve, velocity
from attnflow.trajectory import DensityTrajectory, angle_grid

__all__ = [
    "DensityTrajectory",
    "angle_grid",
    "clusters",
    "distance_to_particles",
    "draw_density",
    "energy",
    "fourier_modes",
    "particle_angles",
    "plot_density",
    "points_on_circle",
    "sample_angles",
    "solve",
    "velocity",
    "wasserstein1_circle",
]
