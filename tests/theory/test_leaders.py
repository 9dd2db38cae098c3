"""Leaders of hardmax attention: they are fixed points of the field, and every chain of maximisers ends on
one (against a direct evaluation of the field and a brute-force chain)."""

import numpy as np
import pytest
import torch

from attnflow.experiments.hardmax import _field
from attnflow.theory.leaders import leader_of_each_token, leaders, maximisers


def test_leaders_do_not_move_and_the_others_do():
    x0 = np.random.default_rng(3).standard_normal((30, 3))
    velocity = _field({"attention": "hardmax", "d": 3})(0.0, torch.from_numpy(x0)).numpy()
    chiefs = leaders(x0)
    assert len(chiefs) >= 1
    assert np.abs(velocity[chiefs]).max() == 0.0
    others = np.setdiff1d(np.arange(30), chiefs)
    assert np.linalg.norm(velocity[others], axis=1).min() > 0


def test_every_chain_ends_on_a_leader_found_by_brute_force():
    x0 = np.random.default_rng(7).standard_normal((40, 2))
    scores = x0 @ x0.T
    ends = leader_of_each_token(x0)
    for i in range(40):
        j = i
        while int(np.argmax(scores[j])) != j:
            j = int(np.argmax(scores[j]))
        assert ends[i] == j
    assert set(ends) <= set(leaders(x0))
    np.testing.assert_array_equal(maximisers(x0)[leaders(x0)], leaders(x0))


def test_bad_start_is_named():
    with pytest.raises(ValueError, match="x0"):
        maximisers(np.zeros(3))
