"""The reduced point-mass model of the slow phase and the energy jump, against direct computations."""

import numpy as np
import torch

from attnflow import SelfAttention
from attnflow.dynamics.weighted import weighted_velocity
from attnflow.theory.merges import closest_pair, energy_jump, merge_sequence, reduced_velocity


def _staircase_energy(angles: np.ndarray, masses: np.ndarray, beta: float) -> float:
    """n⁻² Σ_ij e^{β(⟨x_i,x_j⟩−1)} summed over every token (members repeated), float64."""
    theta = np.repeat(angles, masses.astype(int))
    return float(np.exp(beta * (np.cos(theta[:, None] - theta[None]) - 1)).sum() / theta.size**2)


def test_energy_jump_is_the_direct_difference_when_clusters_are_far_apart():
    angles, masses, beta = np.array([0.0, 2.0, 4.0]), np.array([3.0, 5.0, 2.0]), 400.0
    n = int(masses.sum())
    before = _staircase_energy(angles, masses, beta)
    after = _staircase_energy(np.array([0.0, 4.0]), np.array([8.0, 2.0]), beta)  # 3 and 5 merged
    assert abs((after - before) - energy_jump(3, 5, n)) < 1e-14
    assert abs((after - before) - energy_jump(3, 5, n) / 2) > 0.05  # the rival constant is far off


def test_reduced_velocity_is_the_tangential_weighted_field():
    angles = np.array([0.3, 1.4, 2.0, -2.5])
    masses = np.array([2.0, 1.0, 4.0, 3.0])
    y = torch.tensor(np.stack([np.cos(angles), np.sin(angles)], axis=1))
    v = weighted_velocity(SelfAttention(5.0), 0.0, y, torch.tensor(masses)).numpy()
    tangent = np.stack([-np.sin(angles), np.cos(angles)], axis=1)
    np.testing.assert_allclose(reduced_velocity(angles, masses, 5.0), (v * tangent).sum(1), atol=1e-14)


def test_closest_pair_merges_first_and_the_clades_nest():
    angles, masses = np.array([0.0, 0.6, 2.5, 4.2]), np.ones(4)
    merges = merge_sequence(angles, masses, beta=6.0, t_end=1e9)
    assert closest_pair(angles) == (0, 1)
    assert merges[0].clade == {0, 1}
    assert [m.time for m in merges] == sorted(m.time for m in merges)
    assert merges[-1].clade == {0, 1, 2, 3}
