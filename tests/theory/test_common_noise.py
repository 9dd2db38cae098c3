"""The log-gap rate of common noise against the SDE's generator, computed directly in float64."""

import numpy as np
import pytest

from attnflow.theory.common_noise import log_gap_rate


def _flow(point: np.ndarray, direction: np.ndarray, s: float, substeps: int = 40) -> np.ndarray:
    """The flow of the vector field ``x ↦ P_x e`` for time ``s`` (RK4), one token."""

    def field(x: np.ndarray) -> np.ndarray:
        return direction - (direction @ x) * x

    x, h = point.copy(), s / substeps
    for _ in range(substeps):
        k1 = field(x)
        k2 = field(x + h / 2 * k1)
        k3 = field(x + h / 2 * k2)
        k4 = field(x + h * k3)
        x = x + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return x


@pytest.mark.parametrize("d", [2, 3, 6])
def test_generator_of_the_log_gap_is_the_constant_rate(d):
    # dX = √(2κ₀) Σ_k V_k ∘ dB^k has generator κ₀ Σ_k V_k V_k, with V_k(x, y) = (P_x e_k, P_y e_k) acting
    # on both tokens at once; V_k V_k f is the second derivative of f along the flow of V_k.
    rng = np.random.default_rng(d)
    kappa = 0.7
    for _ in range(3):
        x, y = rng.standard_normal((2, d))
        x, y = x / np.linalg.norm(x), y / np.linalg.norm(y)

        def log_gap(a: np.ndarray, b: np.ndarray) -> float:
            return float(np.log(1 - a @ b))

        s = 1e-3
        generator = 0.0
        for e in np.eye(d):
            forward = log_gap(_flow(x, e, s), _flow(y, e, s))
            backward = log_gap(_flow(x, e, -s), _flow(y, e, -s))
            generator += kappa * (forward + backward - 2 * log_gap(x, y)) / s**2
        assert generator == pytest.approx(log_gap_rate(kappa, d), rel=1e-4, abs=1e-5)


def test_log_gap_rate_rejects_bad_arguments():
    with pytest.raises(ValueError, match="common_noise"):
        log_gap_rate(-0.1, 3)
    with pytest.raises(ValueError, match="d"):
        log_gap_rate(0.5, 1)
