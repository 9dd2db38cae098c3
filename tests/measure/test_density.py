"""Measurements of densities (attnflow.measure on a DensityTrajectory): closed forms, direct sums, POT."""

import math

import numpy as np
import ot
import pytest
import torch
from scipy.special import iv

from attnflow import DensityTrajectory, Trajectory
from attnflow.meanfield import angle_grid, points_on_circle, sample_angles
from attnflow.measure import (
    clusters,
    distance_to_particles,
    energy,
    fourier_modes,
    particle_angles,
    registry,
    wasserstein1_circle,
)

TWO_PI = 2 * math.pi


def _states(*rows: np.ndarray) -> DensityTrajectory:
    rho = np.stack([r / (r.sum() * TWO_PI / r.size) for r in rows])
    return DensityTrajectory(
        times=torch.arange(len(rows), dtype=torch.float64), density=torch.from_numpy(rho)
    )


def _von_mises(theta: np.ndarray, centre: float, kappa: float) -> np.ndarray:
    return np.exp(kappa * (np.cos(theta - centre) - 1)) / (TWO_PI * iv(0, kappa) * np.exp(-kappa))


@pytest.mark.parametrize("beta", [3.0, -2.0])
def test_energy_closed_form_and_direct_sum(beta) -> None:
    theta = angle_grid(64).numpy()
    a = 0.7
    dens = _states(np.ones(64), 1 + a * np.cos(theta))
    # ∫ρ(k*ρ) = I₀(β) + a² I₁(β)/2 for ρ = (1 + a cos θ)/(2π); the midpoint rule is spectrally exact here.
    closed = np.array([iv(0, beta), iv(0, beta) + a**2 * iv(1, beta) / 2]) / (2 * beta)
    np.testing.assert_allclose(energy(dens, beta).values, closed, rtol=1e-12)
    rho = dens.density[1].numpy() * TWO_PI / 64
    direct = (np.exp(beta * np.cos(theta[:, None] - theta[None, :])) * np.outer(rho, rho)).sum() / (2 * beta)
    assert energy(dens, beta).values[1] == pytest.approx(direct, rel=1e-12)


def test_energy_agrees_with_the_particle_energy_of_samples() -> None:
    beta, n = 2.0, 3000
    theta = angle_grid(256).numpy()
    dens = _states(1 + 0.8 * np.cos(theta))
    angles = sample_angles(dens.density[0], n, seed=0)
    particles = Trajectory(torch.zeros(1), points_on_circle(angles)[None])
    # E over the empirical law = E[ρ] + O(n^-1/2) (sampling) + O(e^β/n) (the diagonal).
    assert energy(particles, beta).values[0] == pytest.approx(energy(dens, beta).values[0], rel=0.02)


def test_fourier_modes_read_the_amplitude_of_each_mode() -> None:
    theta = angle_grid(128).numpy()
    rho = 1 / TWO_PI + 0.01 * np.cos(2 * theta + 1) + 0.003 * np.cos(5 * theta)
    dens = DensityTrajectory(times=torch.zeros(1), density=torch.from_numpy(rho[None]))
    np.testing.assert_allclose(fourier_modes(dens, 6).values[0], [0, 0.01, 0, 0, 0.003, 0], atol=1e-15)
    with pytest.raises(ValueError, match="max_mode"):
        fourier_modes(dens, 64)


def test_clusters_of_a_mixture_with_known_masses() -> None:
    theta = angle_grid(720).numpy()
    masses, centres = [0.5, 0.3, 0.2], [1.0, 3.0, 5.0]
    mixture = sum(m * _von_mises(theta, c, 60.0) for m, c in zip(masses, centres, strict=True))
    result = clusters(_states(np.ones(720), mixture, _von_mises(theta, 6.0, 20.0)))
    np.testing.assert_array_equal(result["count"].values, [0, 3, 1])
    np.testing.assert_allclose(result["mass"].values[1], masses, atol=1e-6)
    np.testing.assert_allclose(result["position"].values[1], centres, atol=TWO_PI / 720)
    # One bump across the cut at θ = 0 keeps all the mass.
    assert result["mass"].values[2, 0] == pytest.approx(1.0, abs=1e-12)
    assert np.isnan(result["mass"].values[2, 1:]).all()


def test_clusters_ignore_bumps_below_the_prominence() -> None:
    theta = angle_grid(360).numpy()
    dens = _states(1 + 0.2 * np.cos(3 * theta), 1 + 0.9 * np.cos(3 * theta))
    assert clusters(dens, prominence=0.5)["count"].values.tolist() == [0, 3]
    with pytest.raises(ValueError, match="prominence"):
        clusters(dens, prominence=0)


def test_w1_closed_forms() -> None:
    uniform = np.full(100, 1 / TWO_PI)
    # A point mass against the uniform law: the mean geodesic distance, π/2, wherever the point is.
    for point in (0.0, 1.234, 6.0):
        assert wasserstein1_circle(uniform, [point]) == pytest.approx(math.pi / 2, rel=1e-12)
    # Two antipodal half masses against the uniform law: π/4.
    assert wasserstein1_circle(uniform, [0.3, 0.3 + math.pi]) == pytest.approx(math.pi / 4, rel=1e-12)
    # A density concentrated in one cell against a point at its centre: the mean distance Δθ/4.
    one_cell = np.zeros(100)
    one_cell[7] = 100 / TWO_PI
    centre = angle_grid(100).numpy()[7]
    assert wasserstein1_circle(one_cell, [centre]) == pytest.approx(TWO_PI / 100 / 4, rel=1e-9)


def test_w1_matches_pot_on_a_refined_discretisation() -> None:
    gen = np.random.default_rng(0)
    theta = angle_grid(50).numpy()
    rho = 1 + 0.9 * np.cos(theta - 1) + 0.3 * gen.random(50)
    rho = rho / (rho.sum() * TWO_PI / 50)
    angles, weights = gen.uniform(0, TWO_PI, 37), gen.random(37)
    weights /= weights.sum()
    refine = 400
    sub = (np.arange(50 * refine) + 0.5) * TWO_PI / (50 * refine)
    sub_weights = np.repeat(rho * TWO_PI / 50 / refine, refine)
    reference = TWO_PI * ot.wasserstein_circle(sub / TWO_PI, angles / TWO_PI, sub_weights, weights, p=1)[0]
    got = wasserstein1_circle(rho, angles, weights)
    # Refinement moves each sub-mass at most a quarter of its width on average.
    assert got == pytest.approx(reference, abs=TWO_PI / (50 * refine) / 4 + 1e-12)


def test_w1_bad_input() -> None:
    with pytest.raises(ValueError, match="Σ ρ_j Δθ = 1"):
        wasserstein1_circle(np.ones(10), [0.0])
    with pytest.raises(ValueError, match="weights"):
        wasserstein1_circle(np.full(10, 1 / TWO_PI), [0.0, 1.0], [0.2, 0.2])
    with pytest.raises(ValueError, match="finite"):
        wasserstein1_circle(np.full(10, 1 / TWO_PI), [np.nan])


def test_particle_angles_round_trip_and_distance_to_particles() -> None:
    angles = torch.tensor([[0.1, 3.0, 6.2], [1.0, 2.0, 4.0]], dtype=torch.float64)
    traj = Trajectory(torch.tensor([0.0, 1.0]), points_on_circle(angles))
    np.testing.assert_allclose(particle_angles(traj).numpy(), angles.numpy(), rtol=0, atol=1e-14)
    dens = _states(np.ones(60), np.ones(60), np.ones(60))
    w1 = distance_to_particles(dens, traj)
    assert w1.dims == ("time",) and w1.values[0] == pytest.approx(
        wasserstein1_circle(dens.density[0], angles[0]), rel=1e-14
    )
    with pytest.raises(ValueError, match="no state at"):
        distance_to_particles(dens, Trajectory(torch.tensor([0.5]), points_on_circle(angles[:1])))
    with pytest.raises(ValueError, match="d = 2"):
        particle_angles(Trajectory(torch.zeros(1), torch.eye(3)[None]))


def test_energy_and_clusters_dispatch_on_the_container_and_are_registered_for_both() -> None:
    dens = _states(np.ones(60), 1 + 0.9 * np.cos(3 * angle_grid(60).numpy()))
    with pytest.raises(TypeError, match="tol links tokens"):
        clusters(dens, tol=0.1)
    particles = Trajectory(torch.zeros(1), points_on_circle(torch.tensor([[0.0, 0.01, 3.0]])))
    with pytest.raises(TypeError, match="prominence applies to densities"):
        clusters(particles, prominence=0.5)
    assert clusters(particles)["count"].values.tolist() == [2]
    with pytest.raises(TypeError, match=r"data must be an attnflow\.Trajectory"):
        energy(np.ones((2, 3)), 1.0)
    assert {"energy", "clusters", "fourier_modes"} <= set(registry.available("density"))
    assert "fourier_modes" not in registry.available("trajectory")
    assert registry.get("energy")(dens, run={"beta": 2.0}).equals(energy(dens, 2.0))
