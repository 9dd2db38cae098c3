"""The weighted-particle field equals the plain field on a cloud that repeats its tokens."""

import pytest
import torch

from attnflow import SelfAttention, init
from attnflow.dynamics.weighted import weighted_velocity


def _repeated(y: torch.Tensor, masses: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The cloud repeating y_j masses_j times, and the row of each y_j's first copy."""
    counts = masses.long()
    return y.repeat_interleave(counts, dim=0), torch.cumsum(counts, 0) - counts


@pytest.mark.parametrize(
    "weights",
    [
        {},
        {"Q": "matrix", "K": "matrix", "V": "matrix"},
        {"Q": "heads", "K": "heads", "V": "heads"},
    ],
)
def test_weighted_field_equals_plain_field_on_duplicated_tokens(weights):
    gen = torch.Generator().manual_seed(0)
    d, heads = 3, 2
    shapes = {"matrix": (d, d), "heads": (heads, d, d)}
    mats = {
        name: torch.randn(*shapes[kind], generator=gen, dtype=torch.float64) / d
        for name, kind in weights.items()
    }
    field = SelfAttention(3.0, **mats)
    y = init.uniform_sphere(6, d, seed=1, dtype=torch.float64)
    masses = torch.tensor([1, 4, 2, 1, 3, 5], dtype=torch.float64)
    x, first = _repeated(y, masses)
    plain = field(0.0, x)
    torch.testing.assert_close(weighted_velocity(field, 0.0, y, masses), plain[first], rtol=0, atol=1e-14)


def test_masses_matter():
    field = SelfAttention(2.0)
    y = init.uniform_sphere(4, 2, seed=2, dtype=torch.float64)
    ones = torch.ones(4, dtype=torch.float64)
    heavy = torch.tensor([1.0, 1.0, 1.0, 10.0], dtype=torch.float64)
    assert (
        weighted_velocity(field, 0.0, y, ones) - weighted_velocity(field, 0.0, y, heavy)
    ).abs().max() > 1e-2


def test_bad_arguments_are_named():
    y = init.uniform_sphere(4, 2, seed=0, dtype=torch.float64)
    ones = torch.ones(4, dtype=torch.float64)
    with pytest.raises(ValueError, match="field"):
        weighted_velocity(SelfAttention(1.0, causal=True), 0.0, y, ones)
    with pytest.raises(ValueError, match="field"):
        weighted_velocity(SelfAttention(1.0, "USA"), 0.0, y, ones)
    with pytest.raises(ValueError, match="field"):
        weighted_velocity(SelfAttention(1.0, alibi=0.5), 0.0, y, ones)
    # The merged representatives carry no sink column: a sink would be dropped silently.
    with pytest.raises(ValueError, match="sink"):
        weighted_velocity(SelfAttention(1.0, sink=3.0), 0.0, y, ones)
    with pytest.raises(ValueError, match="masses"):
        weighted_velocity(SelfAttention(1.0), 0.0, y, -ones)
    with pytest.raises(ValueError, match="masses"):
        weighted_velocity(SelfAttention(1.0), 0.0, y, ones[:3])
