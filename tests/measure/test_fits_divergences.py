"""The shared entropy and KL helpers against direct float64 sums (scipy's entr / rel_entr)."""

import numpy as np
import torch
from scipy.special import entr, rel_entr

from attnflow.measure.fits import entropy, entropy_from_log, kl_from_log


def test_entropy_and_kl_match_scipy_with_zero_probabilities() -> None:
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(6), size=4)
    p[0, 2] = 0.0
    p[0] /= p[0].sum()
    q = rng.dirichlet(np.ones(6), size=4)
    np.testing.assert_allclose(entropy(p), entr(p).sum(-1), rtol=1e-12)
    with np.errstate(divide="ignore"):
        log_p = np.log(p)
    np.testing.assert_allclose(entropy_from_log(log_p), entr(p).sum(-1), rtol=1e-12)
    np.testing.assert_allclose(kl_from_log(log_p, np.log(q)), rel_entr(p, q).sum(-1), rtol=1e-12)
    torch_kl = kl_from_log(torch.from_numpy(log_p), torch.from_numpy(np.log(q)))
    np.testing.assert_allclose(torch_kl.numpy(), rel_entr(p, q).sum(-1), rtol=1e-12)
    assert float(kl_from_log(np.log(q[1]), np.log(q[1]))) == 0.0
