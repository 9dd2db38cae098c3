"""The solver against theory: velocity, conservation, energy, stationarity, linear growth rates."""

import math

import numpy as np
import pytest
import torch
from scipy.special import iv

from attnflow.meanfield import angle_grid, solve, velocity
from attnflow.measure import energy, fourier_modes


def _bumpy(cells: int) -> np.ndarray:
    theta = angle_grid(cells).numpy()
    return 1 + 0.6 * np.cos(theta) + 0.4 * np.cos(3 * theta + 0.5)


def _direct_velocity(rho: np.ndarray, at: np.ndarray, beta: float, variant: str) -> np.ndarray:
    """The seed's field P_x(∫ e^{β⟨x,y⟩} y dμ / Z) in R², by quadrature, then its angular component."""
    cells = rho.size
    y = np.stack([np.cos(angle_grid(cells).numpy()), np.sin(angle_grid(cells).numpy())], axis=1)
    weights = rho * (2 * np.pi / cells)
    x = np.stack([np.cos(at), np.sin(at)], axis=1)
    kernel = np.exp(beta * x @ y.T) * weights
    mean = kernel @ y
    if variant == "SA":
        mean = mean / kernel.sum(axis=1, keepdims=True)
    tangent = mean - (mean * x).sum(axis=1, keepdims=True) * x
    unit_tangent = np.stack([-np.sin(at), np.cos(at)], axis=1)
    return (tangent * unit_tangent).sum(axis=1)


@pytest.mark.parametrize("variant", ["SA", "USA"])
@pytest.mark.parametrize("beta", [2.0, -1.5])
def test_velocity_matches_the_seed_field_by_direct_quadrature(variant, beta) -> None:
    cells = 512
    rho = _bumpy(cells)
    rho = rho / (rho.sum() * 2 * np.pi / cells)
    interfaces = (np.arange(cells) + 1.0) * 2 * np.pi / cells
    expected = _direct_velocity(rho, interfaces, beta, variant)
    got = velocity(rho, beta, variant).numpy()
    # Centred differences of the potential: second order in Δθ.
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4 * np.abs(expected).max())


@pytest.mark.parametrize(
    ("variant", "beta", "t_end"), [("SA", 6.0, 4.0), ("USA", 2.0, 1.0), ("SA", -2.0, 2.0)]
)
def test_mass_positivity_and_energy_monotonicity(variant, beta, t_end) -> None:
    dens = solve(_bumpy(256), beta, variant, t_end=t_end, n_saves=41)
    np.testing.assert_allclose(dens.mass().values, 1.0, rtol=0, atol=1e-12)
    assert float(dens.density.min()) >= 0
    e = energy(dens, beta).values
    assert np.all(np.diff(e) >= -1e-12 * np.abs(e).max())
    assert e[-1] > e[0]  # it moved


def test_energy_grows_and_clusters_form_for_sa_at_large_beta() -> None:
    dens = solve(_bumpy(256), 9.0, "SA", t_end=8.0, n_saves=17)
    e = energy(dens, 9.0).values
    assert np.all(np.diff(e) >= -1e-12 * e.max())
    # Concentrated: far above the uniform level 1/(2π), and still every cell ≥ 0.
    assert float(dens.final.max()) > 20 / (2 * np.pi) and float(dens.density.min()) >= 0


@pytest.mark.parametrize("variant", ["SA", "USA"])
def test_uniform_density_is_stationary(variant) -> None:
    beta = 3.0
    assert float(velocity(torch.full((128,), 1 / (2 * np.pi)), beta, variant).abs().max()) < 1e-13
    dens = solve(np.ones(128), beta, variant, t_end=2.0, n_saves=3)
    np.testing.assert_allclose(dens.density.numpy(), 1 / (2 * np.pi), rtol=1e-12, atol=0)


@pytest.mark.parametrize(("variant", "beta"), [("SA", 1.0), ("SA", 6.0), ("USA", 3.0), ("SA", -2.0)])
def test_modes_grow_at_the_linearised_rate(variant, beta) -> None:
    cells, modes, eps = 256, np.arange(1, 7), 1e-8
    theta = angle_grid(cells).numpy()
    phases = np.random.default_rng(3).uniform(0, 2 * np.pi, modes.size)
    rho0 = 1 / (2 * np.pi) + eps * np.cos(np.outer(theta, modes) + phases).sum(axis=1)
    # Independent reference: the linearisation derived in docs/meanfield.md, evaluated with scipy.
    expected = modes**2 * iv(modes, beta) / beta / (iv(0, beta) if variant == "SA" else 1.0)
    t_end = 4.0 / np.abs(expected).max()
    dens = solve(rho0, beta, variant, t_end=t_end, n_saves=21)
    amplitude = fourier_modes(dens, 6).values
    fitted = np.polyfit(dens.times.numpy(), np.log(amplitude), 1)[0]
    np.testing.assert_allclose(fitted, expected, rtol=0.01, atol=1e-3 * np.abs(expected).max())


def test_solver_is_deterministic_and_records_its_parameters() -> None:
    a = solve(_bumpy(64), 4.0, "SA", t_end=1.0, n_saves=5)
    b = solve(_bumpy(64), 4.0, "SA", t_end=1.0, n_saves=5)
    assert torch.equal(a.density, b.density)
    np.testing.assert_allclose(a.times.numpy(), np.linspace(0, 1, 5))
    assert a.params["beta"] == 4.0 and a.params["variant"] == "SA" and a.params["n_cells"] == 64


def test_refining_the_grid_converges() -> None:
    # Coarse solutions approach the cell averages of a fine one faster than first order.
    errors = []
    reference = solve(_bumpy(1024), 4.0, "SA", t_end=1.0, n_saves=2).final.numpy()
    for cells in (64, 128, 256):
        coarse = solve(_bumpy(cells), 4.0, "SA", t_end=1.0, n_saves=2).final.numpy()
        averaged = reference.reshape(cells, -1).mean(axis=1)
        errors.append(np.abs(coarse - averaged).sum() * 2 * math.pi / cells)
    assert errors[0] > 2.5 * errors[1] > 2.5**2 * errors[2]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"initial": np.ones(2)}, ValueError, "N ≥ 3"),
        ({"initial": np.ones((4, 8))}, ValueError, "shape"),
        ({"initial": -np.ones(8)}, ValueError, "≥ 0"),
        ({"initial": np.zeros(8)}, ValueError, "positive mass"),
        ({"initial": np.full(8, np.nan)}, ValueError, "NaN"),
        ({"beta": 0.0}, ValueError, "beta"),
        ({"variant": "sinkhorn"}, ValueError, "variant"),
        ({"t_end": -1.0}, ValueError, "t_end"),
        ({"n_saves": 1}, ValueError, "n_saves"),
        ({"cfl": 1.5}, ValueError, "cfl"),
        ({"max_dt": 0.0}, ValueError, "max_dt"),
    ],
)
def test_bad_input_is_named(kwargs, error, match) -> None:
    args = {"initial": np.ones(8), "beta": 1.0, "variant": "SA", "t_end": 1.0} | kwargs
    with pytest.raises(error, match=match):
        solve(**args)


def test_too_many_steps_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="max_steps"):
        solve(_bumpy(64), 4.0, "SA", t_end=1.0, max_steps=3)
