"""Power: each experiment's verdict logic, run on a named rival (a wrong constant, a rival scaling law, a
perturbed field or estimator), must disagree, while the claim's own values agree.

Where the verdict judges values that are cheap to make, they are made here by a tiny computation; where
they come from a long simulation or training, the rival's values are written down directly (what the
rival would measure), so the suite stays fast.
"""

import numpy as np
import pytest

from attnflow.experiments import get


def _verdict(name, values, quick=False, **overrides):
    experiment = get(name)
    return experiment.verdict(experiment.params(quick=quick, overrides=overrides), values)


# energy-monotone ---------------------------------------------------------------------------------------


def _dissipation_excess(variant, beta, measured_beta=None, predict=None):
    from attnflow.experiments.clustering import _cone_rate, dissipation_check, uniform_runs
    from attnflow.measure import energy

    h = 0.02 / _cone_rate(variant, beta)
    params = {"n": 6, "seeds": 2, "seed": 3, "t_end": 60 * h, "dt": h}
    runs = uniform_runs(params, 3, beta, variant=variant, dtype="float64")
    energies = np.array([energy(run, measured_beta or beta).values for run in runs])
    states = np.stack([run.x.numpy() for run in runs])
    return dissipation_check(runs[0].times.numpy(), energies, states, beta, variant, predict)[
        "worst_error_over_bound"
    ]


def _energy_values(excess):
    return {
        "runs": 2,
        "largest_relative_decrease": -1e-3,
        "relative_decrease": np.full((1, 1, 1), -1e-3),
        "dissipation_error_over_bound": np.full((1, 1, 1), excess),
    }


@pytest.mark.parametrize("variant", ["SA", "USA"])
def test_energy_monotone_rejects_a_wrong_beta_and_usa_without_its_1_over_n(variant):
    from attnflow.theory import energy_rate

    own = _dissipation_excess(variant, 2.0)
    assert _verdict("energy-monotone", _energy_values(own)).status == "agrees"
    wrong_beta = _dissipation_excess(variant, 2.0, measured_beta=2.2)
    assert _verdict("energy-monotone", _energy_values(wrong_beta)).status == "disagrees"
    if variant == "USA":
        # The field without its 1/n moves n = 6 times faster: its identity is n times the claim's.
        missing = _dissipation_excess(variant, 2.0, predict=lambda x, b, v: 6 * energy_rate(x, b, v))
        assert _verdict("energy-monotone", _energy_values(missing)).status == "disagrees"


# euclidean-polytope ------------------------------------------------------------------------------------


def _polytope_values(limits, qk_min=1.0, speed=0.0):
    from attnflow.experiments.polytope import limit_places

    places = limit_places(np.asarray(limits, dtype=float), 1e-3)
    values = {f"limits.{p}": places.count(p) for p in ("vertex", "face", "origin", "interior")}
    return {**values, "final_speed": speed, "qk_min_eigenvalue": qk_min}


SQUARE = [[1.0, 1.0], [3.0, 1.0], [3.0, 3.0], [1.0, 3.0]]


def test_euclidean_polytope_accepts_faces_and_the_origin_but_rejects_an_interior_limit():
    # The theorem allows a limit on a face and at 0 (here 0 is a vertex of K = conv S); the old
    # vertex-only reading would have rejected both.
    on_face = _polytope_values([*SQUARE, [2.0, 1.0]])
    assert on_face["limits.face"] == 1
    assert _verdict("euclidean-polytope", on_face).status == "agrees"
    origin = _polytope_values([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0]])
    assert origin["limits.origin"] == 1 and _verdict("euclidean-polytope", origin).status == "agrees"
    # Rival: limits anywhere in K (a point inside the square, away from 0).
    inside = _polytope_values([*SQUARE, [2.0, 2.2]])
    assert inside["limits.interior"] == 1
    assert _verdict("euclidean-polytope", inside).status == "disagrees"


def test_euclidean_polytope_is_inconclusive_outside_the_hypothesis_or_before_convergence():
    inside = _polytope_values([*SQUARE, [2.0, 2.2]])
    assert _verdict("euclidean-polytope", {**inside, "qk_min_eigenvalue": -1.0}).status == "inconclusive"
    assert _verdict("euclidean-polytope", {**inside, "final_speed": 1.0}).status == "inconclusive"


# metastable-clusters -----------------------------------------------------------------------------------


def test_metastable_count_is_argmax_of_l2_il_and_the_rival_sqrt_beta_disagrees():
    from scipy.special import ive

    from attnflow.theory import fastest_mode

    # The prediction, by a direct float64 maximisation (ℓ² I_ℓ(β) ∝ ℓ² ive(ℓ, β)): 3 clusters at β = 5.
    for beta in (5.0, 16.0, 64.0, 144.0):
        modes = np.arange(1, 60)
        assert fastest_mode(beta) == modes[np.argmax(modes**2 * ive(modes, beta))]
    assert fastest_mode(5.0) == 3
    betas = np.array([16.0, 64.0, 144.0])
    predicted = np.array([fastest_mode(b) for b in betas])
    values = {"betas": betas, "fastest_mode": predicted}
    own = np.repeat(predicted[:, None], 4, axis=1) + np.array([0, -1, 0, 0])
    assert _verdict("metastable-clusters", {**values, "plateau_counts": own}).status == "agrees"
    # Rival: the count follows √β (rounded), not ℓ*.
    rival = np.repeat(np.round(np.sqrt(betas))[:, None], 4, axis=1)
    assert _verdict("metastable-clusters", {**values, "plateau_counts": rival}).status == "disagrees"
    # Too few starts to separate the two laws: inconclusive, never a disagreement.
    between = np.array([[5.0, 5.0], [10.0, 9.0], [15.0, 14.0]])
    assert _verdict("metastable-clusters", {**values, "plateau_counts": between}).status == "inconclusive"
