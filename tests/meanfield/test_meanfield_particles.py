"""Particles → PDE: tokens moved by attnflow.simulate follow the mean-field density as n grows."""

import math

import numpy as np
import pytest
import torch
from scipy.stats import kstest

import attnflow as af
from attnflow.meanfield import angle_grid, points_on_circle, sample_angles, solve
from attnflow.measure import particle_angles, wasserstein1_circle
from attnflow.random import spawn
from attnflow.theory import dobrushin_rate

TWO_PI = 2 * math.pi


@pytest.mark.parametrize(
    ("variant", "beta", "t_end", "sizes", "top_seeds"),
    [("SA", 4.0, 2.0, [32, 64, 128, 256, 512], 8), ("USA", 2.0, 0.8, [32, 64, 128, 256], 12)],
)
def test_w1_to_the_pde_decays_like_inverse_square_root_of_n(variant, beta, t_end, sizes, top_seeds) -> None:
    theta = angle_grid(256).numpy()
    pde = solve(
        1 + 0.6 * np.cos(theta) + 0.4 * np.cos(3 * theta + 0.5), beta, variant, t_end=t_end, n_saves=2
    )
    field = af.SelfAttention(beta, variant=variant, geometry="sphere")
    start, end = [], []
    for n, size_seed in zip(sizes, spawn(11, len(sizes)), strict=True):
        # More runs for small n (cheap), so that every point of the fit is well averaged.
        seeds = top_seeds * sizes[-1] // n
        angles = torch.stack([sample_angles(pde.density[0], n, child) for child in spawn(size_seed, seeds)])
        x0 = points_on_circle(angles, dtype=torch.float32)
        runs = af.simulate(field, x0, t_end=t_end, dt=t_end / 8, method="rk4")
        final = [particle_angles(run).numpy()[-1] for run in runs]
        start.append(np.mean([wasserstein1_circle(pde.density[0], a) for a in angles.numpy()]))
        end.append(np.mean([wasserstein1_circle(pde.final, a) for a in final]))
    log_n = np.log(sizes)
    slope_start = np.polyfit(log_n, np.log(start), 1)[0]
    slope_end = np.polyfit(log_n, np.log(end), 1)[0]
    ratio = np.array(end) / np.array(start)
    assert abs(slope_start + 0.5) < 0.15  # i.i.d. samples: W₁ ~ n^{-1/2}
    assert abs(slope_end + 0.5) < 0.15  # ... and still so after the flow
    # Uniform in n: W₁(t) ≤ e^{Ct}·W₁(0) with one C; the ratio does not grow with n ...
    assert abs(np.polyfit(log_n, np.log(ratio), 1)[0]) < 0.15
    # ... and it is within the Dobrushin stability bound.
    assert np.log(ratio.max()) <= dobrushin_rate(beta, variant) * t_end
    # The law moved far (W₁(ρ_0, ρ_t), with ρ_0 as point masses at the cell centres, to ±Δθ/4) and the
    # largest cloud is much closer to ρ_t than that: the particles followed the flow.
    travelled = wasserstein1_circle(pde.final, theta, pde.density[0].numpy() * (2 * np.pi / theta.size))
    assert end[-1] < 0.6 * travelled


def test_sampling_follows_the_piecewise_constant_law_and_is_reproducible() -> None:
    theta = angle_grid(32).numpy()
    rho = 1 + 0.9 * np.cos(theta)
    cdf_edges = np.concatenate([[0], np.cumsum(rho)]) / rho.sum()
    edges = np.linspace(0, TWO_PI, 33)
    draws = sample_angles(rho, 5000, seed=5)
    assert kstest(draws.numpy(), lambda x: np.interp(x, edges, cdf_edges)).pvalue > 1e-3
    again = sample_angles(rho, 5000, seed=5)
    assert torch.equal(draws, again) and draws.dtype == torch.float64
    with pytest.raises(ValueError, match="density"):
        sample_angles(-rho, 3)
