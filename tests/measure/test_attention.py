import math

import numpy as np
import pytest
import torch

from attnflow import Trajectory
from attnflow.measure.attention import attention_entropy


def test_uniform_attention_has_entropy_log_n_and_causal_log_i_plus_one():
    x = torch.randn(1, 5, 3, generator=torch.Generator().manual_seed(0))
    traj = Trajectory(times=[0.0], x=x)
    np.testing.assert_allclose(attention_entropy(traj, 0.0).values[0], math.log(5), rtol=1e-12)
    np.testing.assert_allclose(
        attention_entropy(traj, 0.0, causal=True).values[0], np.log(np.arange(1, 6)), rtol=1e-12, atol=1e-15
    )


@pytest.mark.parametrize("beta", [1.0, 5.0, -2.0])
def test_two_orthogonal_tokens_match_the_binary_entropy(beta):
    traj = Trajectory(times=[0.0], x=torch.eye(2).unsqueeze(0))
    p = math.exp(beta) / (math.exp(beta) + 1)  # weight on itself: ⟨x,x⟩ = 1 vs ⟨x,y⟩ = 0
    expected = -(p * math.log(p) + (1 - p) * math.log(1 - p))
    out = attention_entropy(traj, beta)
    assert out.dims == ("time", "token")
    np.testing.assert_allclose(out.values[0], [expected, expected], rtol=1e-12)
    causal = attention_entropy(traj, beta, causal=True).values[0]
    assert causal[0] == 0.0
    assert causal[1] == pytest.approx(expected, rel=1e-12)
