"""decay_law against the closed forms of the reduced ODE's linearisation at ρ = 1."""

from __future__ import annotations

import math

import pytest

from attnflow.theory.normalization import decay_law


@pytest.mark.parametrize("scale", [1.0, 0.25])
def test_sa_laws(scale):
    # SA at consensus: uniform attention, u̇ = −2 s u; pre/peri divide by r ≈ s t.
    assert decay_law("post", 16, 4.0, scale) == ("exponential", pytest.approx(2 * scale, rel=1e-6))
    assert decay_law("ngpt", 16, 4.0, scale) == ("exponential", pytest.approx(2 * scale, rel=1e-6))
    assert decay_law("pre", 16, 4.0, scale) == ("power", pytest.approx(2.0, rel=1e-6))
    assert decay_law("peri", 16, 4.0, scale) == ("power", pytest.approx(2.0, rel=1e-6))


def test_usa_post_rate_carries_the_self_weight():
    # USA: Z = n and every weight → e^β, so u̇ = −2 e^β u.
    assert decay_law("post", 8, 0.5, variant="USA") == (
        "exponential",
        pytest.approx(2 * math.exp(0.5), rel=1e-6),
    )
