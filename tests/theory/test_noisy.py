"""Noisy USA theory: the tricritical β, the critical noise against its closed forms and limits."""

import math

import pytest
from scipy.special import gamma, iv

from attnflow.theory import noisy


@pytest.mark.parametrize(("d", "quoted"), [(2, 2.447), (3, 1.816), (4, 1.575)])
def test_tricritical_beta_solves_the_bessel_equation(d, quoted):
    beta = noisy.tricritical_beta(d)
    assert iv(d / 2 + 1, beta) / iv(d / 2, beta) == pytest.approx(1 / d, abs=1e-12)
    assert beta == pytest.approx(quoted, abs=5e-4)  # the three decimals


@pytest.mark.parametrize("d", [2, 3, 5])
@pytest.mark.parametrize("beta", [0.3, 1.0, 4.0])
def test_critical_noise_is_half_the_inverse_of_the_papers_coupling(d, beta):
    coupling = beta ** (d / 2) / (2 ** (d / 2) * gamma(d / 2) * iv(d / 2, beta))  # K_# of arXiv 2606.05140
    assert noisy.critical_noise(beta, d) == pytest.approx(1 / (2 * coupling), rel=1e-12)


@pytest.mark.parametrize("d", [2, 3, 6])
def test_kuramoto_limit_and_growth_rate(d):
    # β → 0: ẋ = P_x(mean), whose first mode grows at (d − 1)(1/d − κ) (direct linearisation).
    assert noisy.critical_noise(1e-6, d) == pytest.approx(1 / d, rel=1e-5)
    assert noisy.growth_rate(1, 1e-6, 0.1, d) == pytest.approx((d - 1) * (1 / d - 0.1), rel=1e-5)
    assert noisy.growth_rate(2, 1.0, 0.0, d) > 0 > noisy.growth_rate(2, 1.0, 1.0, d)
    assert math.isfinite(noisy.critical_noise(500.0, d))
