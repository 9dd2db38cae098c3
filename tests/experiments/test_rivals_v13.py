"""Power, for the verdicts derived in issue 13: each verdict, run on a named rival (a wrong constant, a
rival scaling law, a perturbed field or estimator), must disagree, while the claim's own values agree.

Values that are cheap to make are made here by a tiny computation; those that come from a long simulation
or training are written down directly (what the rival would measure), so the suite stays fast.
"""

import numpy as np
import pytest

from attnflow.experiments import get


def _verdict(name, values, quick=False, **overrides):
    experiment = get(name)
    return experiment.verdict(experiment.params(quick=quick, overrides=overrides), values)


# energy-monotone ---------------------------------------------------------------------------------------


def _dissipation_excess(variant, beta, **rival):
    from attnflow.experiments.clustering import dissipation_check, uniform_runs

    params = {"n": 6, "seeds": 2, "seed": 3, "t_end": 1.0, "dt": 0.05}
    runs = uniform_runs(params, 3, beta, variant=variant, dtype="float64")
    excess = [dissipation_check(run.x.numpy(), beta, variant, **rival) for run in runs]
    return max(e["worst_error_over_bound"] for e in excess)


def _energy_values(excess):
    return {
        "runs": 2,
        "largest_relative_decrease": -1e-3,
        "relative_decrease": np.full((1, 1, 1), -1e-3),
        "dissipation_error_over_bound": np.full((1, 1, 1), excess),
    }


@pytest.mark.parametrize("variant", ["SA", "USA"])
def test_energy_monotone_rejects_a_wrong_beta_and_usa_without_its_1_over_n(variant):
    from attnflow.dynamics import SelfAttention

    own = _dissipation_excess(variant, 2.0)
    assert _verdict("energy-monotone", _energy_values(own)).status == "agrees"
    wrong_beta = _dissipation_excess(variant, 2.0, energy_beta=2.2)
    assert _verdict("energy-monotone", _energy_values(wrong_beta)).status == "disagrees"
    if variant == "USA":
        # The field without its 1/n moves n = 6 times faster than the one the identity describes.
        usa = SelfAttention(beta=2.0, variant="USA")
        missing = _dissipation_excess(variant, 2.0, field=lambda t, x: 6 * usa(t, x))
        assert _verdict("energy-monotone", _energy_values(missing)).status == "disagrees"


def test_the_dissipation_bound_is_tight_enough_to_see_a_relative_error_of_1e_9():
    """A field off by one part in 10⁹ (far below any modelling error) already exceeds the rounding bound."""
    from attnflow.dynamics import SelfAttention

    sa = SelfAttention(beta=2.0, variant="SA")
    perturbed = _dissipation_excess("SA", 2.0, field=lambda t, x: (1 + 1e-9) * sa(t, x))
    assert perturbed > 1
