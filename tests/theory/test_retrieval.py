"""The first-order retrieval closure: its rates against the field's own velocities (exact at β = 0), its
sign pattern under the claim and its two rivals, and its arguments."""

import math

import numpy as np
import pytest
import torch

from attnflow import SelfAttention
from attnflow.theory.retrieval import attention_rates, retrieval_margins, retrieval_profile


def test_rates_at_beta_zero_equal_the_velocity_moments_of_the_field():
    # At β = 0 the weights are positional only, so d/dt E[z_i z̄_j] at t = 0 is exactly K_ij.
    n, clouds, alibi = 6, 40_000, 0.4
    angles = (
        torch.rand(clouds, n, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 2 * math.pi
    )
    x = torch.stack([angles.cos(), angles.sin()], -1)
    velocity = SelfAttention(0.0, causal=True, alibi=alibi)(0.0, x)
    z = torch.complex(x[..., 0], x[..., 1])
    z_dot = torch.complex(velocity[..., 0], velocity[..., 1])
    moments = (z_dot[:, :, None] * z[:, None, :].conj()).real.numpy()  # (clouds, i, j)
    mean, error = moments.mean(0), moments.std(0) / math.sqrt(clouds)
    rates = attention_rates(n, 0.0, alibi)
    assert np.all(np.abs(mean - rates) < 5 * error + 1e-12)


def test_rates_are_causal_and_vanish_on_the_diagonal():
    rates = attention_rates(7, 1.5, 0.2)
    assert np.all(np.triu(rates) == 0) and np.all(rates[np.tril_indices(7, -1)] > 0)
    both = attention_rates(7, 1.5, 0.2, causal=False)
    assert np.all(np.diag(both) == 0) and np.all(both[np.triu_indices(7, 1)] > 0)
    assert np.all(retrieval_profile(7, 1.5, 0.2, 0.0) == 0)


def test_the_claim_is_u_shaped_and_each_rival_loses_one_side():
    primacy, recency = retrieval_margins(retrieval_profile(32, 0.0, 0.1, 4.0))
    assert primacy > 0 and recency > 0
    assert retrieval_margins(retrieval_profile(32, 0.0, 0.0, 4.0))[1] < 0  # no ALiBi: no recency
    assert retrieval_margins(retrieval_profile(32, 0.0, 0.1, 4.0, causal=False))[0] < 0  # no mask


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="alibi"):
        attention_rates(4, 1.0, -0.1)
    with pytest.raises(ValueError, match="beta"):
        attention_rates(4, -1.0, 0.1)
    with pytest.raises(ValueError, match="t must"):
        retrieval_profile(4, 1.0, 0.1, -1.0)
    with pytest.raises(ValueError, match="3 source positions"):
        retrieval_margins(np.zeros(2))
