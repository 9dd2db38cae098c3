"""The theory behind the clustering experiments, against closed forms and brute force."""

import math

import numpy as np
import pytest
from scipy.special import iv

from attnflow.measure.fits import crossing_time, is_extreme_point, log_slope
from attnflow.theory import fastest_mode
from attnflow.theory.equiangular import gamma as equiangular_gamma
from attnflow.theory.equiangular import hitting_time as equiangular_hitting_time
from attnflow.theory.equiangular import rate as equiangular_rate


def test_gamma_of_two_tokens_at_beta_zero_is_tanh():
    t = np.linspace(0, 3, 7)
    np.testing.assert_allclose(equiangular_gamma(t, 2, 0.0, "USA"), np.tanh(t), atol=1e-10)


def test_sa_rate_matches_the_textbook_form_and_usa_scales_with_n():
    n, beta, g = 7, 3.0, 0.4
    textbook = (
        2 * math.exp(beta * g) * (1 - g) * ((n - 1) * g + 1) / (math.exp(beta) + (n - 1) * math.exp(beta * g))
    )
    assert float(equiangular_rate(g, n, beta, "SA")) == pytest.approx(textbook, rel=1e-13)
    assert float(equiangular_rate(g, n, beta, "USA")) == pytest.approx(
        (2 / n) * math.exp(beta * g) * (1 - g) * ((n - 1) * g + 1), rel=1e-13
    )


def test_hitting_time_inverts_gamma():
    t_hit = equiangular_hitting_time(8, 2.0, 0.9)
    assert equiangular_gamma([0.0, t_hit], 8, 2.0)[-1] == pytest.approx(0.9, abs=1e-8)
    # n = 2, beta = 0, USA: gamma = tanh t, so the time to reach 0.9 is artanh(0.9).
    assert equiangular_hitting_time(2, 0.0, 0.9, "USA") == pytest.approx(math.atanh(0.9), rel=1e-9)


def test_fastest_mode_maximises_l_squared_bessel_and_approaches_sqrt_2beta():
    for beta in (9.0, 25.0, 100.0):
        modes = np.arange(1, 60)
        assert fastest_mode(beta) == modes[np.argmax(modes**2 * iv(modes, beta))]
    assert abs(fastest_mode(400.0) - math.sqrt(800.0)) <= 1
    with pytest.raises(ValueError, match="beta"):
        fastest_mode(0.0)


def test_extreme_points_of_a_square_with_its_centre_and_an_edge_midpoint():
    points = np.array([[0, 0], [1, 0], [1, 1], [0, 1], [0.5, 0.5], [0.5, 0.0]], dtype=float)
    assert [is_extreme_point(points, i) for i in range(6)] == [True, True, True, True, False, False]
    assert is_extreme_point(points[:1], 0)


def test_crossing_time_and_log_slope():
    t = np.array([0.0, 1.0, 2.0, 3.0])
    assert crossing_time(t, np.array([0.0, 0.2, 0.6, 1.0]), 0.5) == pytest.approx(1.75)
    assert math.isnan(crossing_time(t, np.zeros(4), 0.5))
    slope, r2 = log_slope(t, 3 * np.exp(-2.5 * t))
    assert slope == pytest.approx(-2.5) and r2 == pytest.approx(1.0)
