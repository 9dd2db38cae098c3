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
    lifetime_betas = np.array([1.5, 2.5])
    growing = np.exp(1.3 * lifetime_betas) * np.array([[1.0], [1.2], [0.9]])
    values = {
        "betas": betas,
        "fastest_mode": predicted,
        "lifetime_betas": lifetime_betas,
        "lifetimes": growing,
    }
    own = np.repeat(predicted[:, None], 4, axis=1) + np.array([0, -1, 0, 0])
    assert _verdict("metastable-clusters", {**values, "plateau_counts": own}).status == "agrees"
    # Rival: the count follows √β (rounded), not ℓ*.
    rival = np.repeat(np.round(np.sqrt(betas))[:, None], 4, axis=1)
    assert _verdict("metastable-clusters", {**values, "plateau_counts": rival}).status == "disagrees"
    # Too few starts to separate the two laws: inconclusive, never a disagreement.
    between = np.array([[5.0, 5.0], [10.0, 9.0], [15.0, 14.0]])
    assert _verdict("metastable-clusters", {**values, "plateau_counts": between}).status == "inconclusive"


# single-cluster, causal-collapse, cone-collapse --------------------------------------------------------


def test_single_cluster_rejects_a_stationary_multi_cluster_state_and_waits_for_a_moving_one():
    joined = {"final_fraction": np.ones((1, 2)), "time_all_joined": np.array([[5.0, 9.0]])}
    assert _verdict("single-cluster", {**joined, "unjoined_final_speed": 0.0}).status == "agrees"
    # Rival: a field whose starts stop at two antipodal clusters (a stationary state).
    two = {"final_fraction": np.array([[1.0, 0.75]]), "time_all_joined": np.array([[5.0, np.inf]])}
    assert _verdict("single-cluster", {**two, "unjoined_final_speed": 1e-12}).status == "disagrees"
    assert _verdict("single-cluster", {**two, "unjoined_final_speed": 1e-2}).status == "inconclusive"


def test_causal_collapse_rejects_a_moving_first_token_and_a_limit_elsewhere():
    own = {"first_token_drift": 0.0, "final_max_distance": 1e-6, "final_speed": 1e-7}
    assert _verdict("causal-collapse", own).status == "agrees"
    # Rival: full (non-causal) attention, where x₁ follows the others.
    assert _verdict("causal-collapse", {**own, "first_token_drift": 0.3}).status == "disagrees"
    # Rival: tokens settle at a second point, away from x₁(0).
    elsewhere = {**own, "final_max_distance": 0.5, "final_speed": 0.0}
    assert _verdict("causal-collapse", elsewhere).status == "disagrees"
    assert _verdict("causal-collapse", {**elsewhere, "final_speed": 1e-3}).status == "inconclusive"


def test_cone_collapse_rejects_the_rival_usa_rate_1():
    beta = 4.0
    fitted = np.exp(beta) * np.array([1 + 2e-5, 1 - 3e-5])
    label = f"USA, β = {beta:g}"
    values = {f"rates.{label}.fitted": fitted, f"rates.{label}.predicted": np.exp(beta)}
    small = {"variants": ["USA"], "betas": [beta]}
    assert _verdict("cone-collapse", values, **small).status == "agrees"
    # Rival constant: the SA rate 1 for USA too (forgetting that each weight is e^β at consensus).
    rival = {**values, f"rates.{label}.predicted": 1.0}
    assert _verdict("cone-collapse", rival, **small).status == "disagrees"


def test_metastable_lifetime_rejects_a_lifetime_that_shrinks_with_beta():
    from attnflow.experiments.metastable import lifetime_verdict

    betas = np.array([1.5, 2.0, 2.5, 3.0])
    noise = np.array([[1.0], [1.3], [0.8], [1.1]])
    assert lifetime_verdict(betas, noise * np.exp(1.3 * betas), 1500.0)[0] == "agrees"
    # Rival scaling law: coarsening speeds up with β, T ∝ 1/β².
    assert lifetime_verdict(betas, noise * 40 / betas**2, 1500.0)[0] == "disagrees"
    # The same rival with a run cut off at t_end: the lower bound could bias the slope, so no verdict.
    cut = noise * 40 / betas**2
    cut[0, 0] = np.inf
    assert lifetime_verdict(betas, cut, 30.0)[0] == "inconclusive"


# equiangular-curve -------------------------------------------------------------------------------------


def test_equiangular_curve_rejects_a_wrong_beta_in_the_gamma_ode():
    from attnflow.experiments.equiangular import _curve_check
    from attnflow.theory.equiangular import gamma

    params = {"n": 4, "curve_betas": [2.0], "variant": "SA"}
    own, curves = _curve_check(params)
    t, simulated = curves["beta0"]["time"], curves["beta0"]["simulated"]
    rival = float(np.max(np.abs(simulated - gamma(t, 4, 2.4, "SA"))))
    theory = np.array([5.0, 6.0])
    phase = {"theory_time": theory, "phase_max_relative_gap": 0.01}
    sims = {f"simulated_time_d{d}": theory * 1.01 for d in (8, 1024)}
    size = {"dims": [8, 1024], "t_max": 30.0}
    assert _verdict("equiangular-curve", {"curve_max_error": own, **phase, **sims}, **size).status == "agrees"
    assert _verdict("equiangular-curve", {"curve_max_error": rival, **phase, **sims}, **size).status == (
        "disagrees"
    )
    # A phase gap beyond the tolerance decides only in high enough dimension.
    far = {"curve_max_error": own, **sims, "theory_time": theory, "phase_max_relative_gap": 0.5}
    assert _verdict("equiangular-curve", far, **size).status == "disagrees"
    low = {**far, "simulated_time_d512": theory}
    assert _verdict("equiangular-curve", low, dims=[8, 512], t_max=30.0).status == "inconclusive"
