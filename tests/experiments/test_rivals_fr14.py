"""Power of the fr14 experiments: each verdict, run on a named rival, disagrees, while the claim's own
values agree, and too little data is inconclusive, never a disagreement.

The values are written down directly (what a run would count), so the suite stays fast; the simulations
themselves are checked in the experiments' own tests."""

import numpy as np

from attnflow.experiments import get
from attnflow.theory.random_values import antipodal_probability


def _verdict(name, values, quick=False, **overrides):
    experiment = get(name)
    return experiment.verdict(experiment.params(quick=quick, overrides=overrides), values)


# random-values-antipodal ------------------------------------------------------------------------------


def _counts_at(probabilities, runs, undecided=0):
    """Counts a run would give at these probabilities: antipodal, collapsed, undecided."""
    anti = np.round(np.asarray(probabilities) * (runs - undecided))
    return np.stack([anti, runs - undecided - anti, np.full_like(anti, undecided)], axis=1)


def _random_values(undecided=0):
    params = get("random-values-antipodal").params()
    grid = [(beta, d) for d in params["dims"] for beta in params["betas"]]
    truth = [antipodal_probability(params["c0"], beta, d) for beta, d in grid]
    return {
        "betas": np.array([b for b, _ in grid]),
        "dims": np.array([d for _, d in grid], dtype=float),
        "counts_h": _counts_at(truth, params["runs"], undecided),
        "counts_half_h": _counts_at(truth, params["runs"], undecided),
    }


def test_random_values_agrees_with_its_diffusion_and_rejects_deterministic_values():
    values = _random_values()
    assert _verdict("random-values-antipodal", values).status == "agrees"
    # V = I without noise: the antipodal pair always repels, so it predicts probability 0 everywhere.
    assert _verdict("random-values-antipodal", values, value="identity").status == "disagrees"


def test_random_values_with_undecided_runs_is_inconclusive_not_a_disagreement():
    values = _random_values(undecided=800)
    assert _verdict("random-values-antipodal", values, value="identity").status == "inconclusive"


# lost-in-the-middle ------------------------------------------------------------------------------------

# What 8000 prompts measured at the experiment's parameters (n = 32, β = 0, m = 0.1, t = 4).
_MEASURED_U = {"primacy": 0.0345, "primacy_error": 0.0082, "recency": 0.0278, "recency_error": 0.0081}


def test_lost_in_the_middle_agrees_with_a_u_shape_and_rejects_both_rivals():
    assert _verdict("lost-in-the-middle", _MEASURED_U).status == "agrees"
    # Without ALiBi the closure predicts a falling profile (no recency); without the mask, no primacy.
    assert _verdict("lost-in-the-middle", _MEASURED_U, prediction="no-alibi").status == "disagrees"
    assert _verdict("lost-in-the-middle", _MEASURED_U, prediction="non-causal").status == "disagrees"


def test_lost_in_the_middle_at_low_power_is_inconclusive_not_a_disagreement():
    noisy = {**_MEASURED_U, "primacy_error": 0.03, "recency_error": 0.03}
    for prediction in ("closure", "no-alibi", "non-causal"):
        assert _verdict("lost-in-the-middle", noisy, prediction=prediction).status == "inconclusive"


# leaders-decide-clusters -------------------------------------------------------------------------------


def _leader_values(rule):
    """Starts in general position and finals placed exactly where ``rule`` sends each token."""
    from attnflow.theory.leaders import leader_of_each_token, maximisers

    starts = np.random.default_rng(11).standard_normal((4, 24, 2))
    pick = {"chain": leader_of_each_token, "first-maximiser": maximisers}[rule]
    return {"x0": starts, "final": np.stack([x0[pick(x0)] for x0 in starts])}


def test_leaders_agree_with_the_chain_rule_and_reject_one_hop_and_nearest_leader():
    values = _leader_values("chain")
    assert _verdict("leaders-decide-clusters", values).status == "agrees"
    assert _verdict("leaders-decide-clusters", values, prediction="first-maximiser").status == "disagrees"
    assert _verdict("leaders-decide-clusters", values, prediction="nearest-leader").status == "disagrees"


def test_leaders_with_tokens_not_yet_settled_is_inconclusive():
    values = _leader_values("chain")
    values["final"] = values["final"] + 0.5 * (values["x0"] - values["final"])  # half-way there
    assert _verdict("leaders-decide-clusters", values).status == "inconclusive"
