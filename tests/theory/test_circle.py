"""Linear growth rates and the stability constant against direct scipy / NumPy evaluations."""

import numpy as np
import pytest
from scipy.special import iv

from attnflow.theory import dobrushin_rate, fastest_mode, growth_rate


@pytest.mark.parametrize("beta", [0.5, 4.0, 30.0, -3.0])
def test_growth_rates_are_the_bessel_formulas(beta) -> None:
    ell = np.arange(1, 12)
    usa = ell**2 * iv(ell, beta) / beta
    np.testing.assert_allclose(growth_rate(ell, beta, "USA"), usa, rtol=1e-12)
    np.testing.assert_allclose(growth_rate(ell, beta, "SA"), usa / iv(0, beta), rtol=1e-12)


def test_repulsive_regime_grows_odd_modes_only() -> None:
    rates = growth_rate(np.arange(1, 7), -2.0, "SA")
    assert np.all(rates[0::2] > 0) and np.all(rates[1::2] < 0)


def test_sa_rates_do_not_overflow_for_large_beta() -> None:
    rate = growth_rate(np.array([20]), 2000.0, "SA")
    assert np.isfinite(rate).all() and rate[0] > 0


def test_fastest_mode_is_the_brute_force_argmax() -> None:
    for beta in (1.0, 9.0, 25.0, 100.0):
        ell = np.arange(1, 200)
        assert fastest_mode(beta) == ell[np.argmax(ell**2 * iv(ell, beta))]
    # Large β: ℓ* ≈ √(2β) (the seed-002 metastability heuristic).
    assert abs(fastest_mode(400.0) - np.sqrt(800.0)) <= 1.5


@pytest.mark.parametrize("variant", ["SA", "USA"])
def test_dobrushin_rate_bounds_the_lipschitz_constant_of_the_velocity(variant) -> None:
    # Finite differences of the velocity of a point mass bound L_θ from below: C ≥ 2·L_θ for USA.
    beta = 3.0
    u = np.linspace(-np.pi, np.pi, 20001)
    kernel = np.exp(beta * np.cos(u))
    lipschitz = np.max(np.abs(np.diff(-np.sin(u) * kernel) / np.diff(u)))
    assert dobrushin_rate(beta, variant) >= 2 * lipschitz * (1 - 1e-6)
    if variant == "USA":
        assert dobrushin_rate(beta, variant) == pytest.approx(2 * lipschitz, rel=1e-4)
    else:
        # SA: 2e^{|β|}(max|g'| + max|k'|), with max|k'| from finite differences of the kernel too.
        kernel_lipschitz = np.max(np.abs(np.diff(kernel) / np.diff(u)))
        expected = 2 * np.exp(beta) * (lipschitz + kernel_lipschitz)
        assert dobrushin_rate(beta, variant) == pytest.approx(expected, rel=1e-4)


def test_bad_input_is_named() -> None:
    with pytest.raises(ValueError, match="beta"):
        growth_rate(1, 0.0)
    with pytest.raises(ValueError, match="variant"):
        growth_rate(1, 1.0, "sinkhorn")
    with pytest.raises(ValueError, match="ell"):
        growth_rate(np.array([0, 1]), 1.0)
    with pytest.raises(ValueError, match="ell"):
        growth_rate(np.array([1.5]), 1.0)
    with pytest.raises(TypeError, match="beta"):
        dobrushin_rate("x")
