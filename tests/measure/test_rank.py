import math

import numpy as np
import pytest
import torch

from attnflow import Trajectory
from attnflow.measure.rank import collapse_residual, effective_rank


def single(x: torch.Tensor) -> Trajectory:
    return Trajectory(times=[0.0], x=x.unsqueeze(0))


def test_effective_rank_of_known_spectra():
    assert effective_rank(single(torch.eye(3, dtype=torch.float64))).item() == pytest.approx(3.0)
    v = torch.tensor([0.6, 0.8], dtype=torch.float64)
    assert effective_rank(single(torch.stack([v, -2 * v, 0.5 * v]))).item() == pytest.approx(1.0)
    # Singular values (2, 1, 1): p = (1/2, 1/4, 1/4), entropy 1.5 log 2, effective rank 2^1.5.
    q, _ = torch.linalg.qr(torch.randn(3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1)))
    x = q @ torch.diag(torch.tensor([2.0, 1.0, 1.0], dtype=torch.float64))
    assert effective_rank(single(x)).item() == pytest.approx(2**1.5, rel=1e-10)


def test_collapse_residual_absolute_and_relative():
    x = torch.tensor([[1.0, 0.0], [-1.0, 0.0]], dtype=torch.float64)
    assert collapse_residual(single(x)).item() == pytest.approx(math.sqrt(2))
    assert collapse_residual(single(x), relative=True).item() == pytest.approx(1.0)
    same = torch.tensor([[0.3, 0.4]] * 4)
    out = collapse_residual(Trajectory(times=[0.0, 1.0], x=torch.stack([x.float().repeat(2, 1), same])))
    assert out.dims == ("time",)
    np.testing.assert_allclose(out.values, [2.0, 0.0], atol=1e-7)
