"""The dissipation identity against autograd: dE/dt = ⟨∇E, velocity of the simulator's field⟩."""

import numpy as np
import pytest
import torch

from attnflow.dynamics import SelfAttention
from attnflow.theory import energy_rate


@pytest.mark.parametrize("variant", ["SA", "USA"])
@pytest.mark.parametrize("beta", [0.5, 3.0])
def test_energy_rate_equals_gradient_dot_velocity(variant, beta):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 6, 4))
    x /= np.linalg.norm(x, axis=-1, keepdims=True)
    states = torch.tensor(x, requires_grad=True)
    n = x.shape[1]
    energy = torch.exp(beta * states @ states.transpose(-1, -2)).sum() / (2 * beta * n**2)
    (gradient,) = torch.autograd.grad(energy, states)
    velocity = SelfAttention(beta=beta, variant=variant)(0.0, states.detach())
    expected = (gradient * velocity).sum(dim=(-1, -2)).numpy()
    np.testing.assert_allclose(energy_rate(x, beta, variant), expected, rtol=1e-12)
    # Without its 1/n the USA field would raise the energy n times faster: the identity tells them apart.
    if variant == "USA":
        assert not np.allclose(energy_rate(x, beta, variant) * n, expected, rtol=1e-3)


def test_energy_rate_rejects_bad_input():
    with pytest.raises(ValueError, match="variant"):
        energy_rate(np.ones((2, 3)), 1.0, "sinkhorn")
    with pytest.raises(ValueError, match="x must"):
        energy_rate(np.ones(3), 1.0)
