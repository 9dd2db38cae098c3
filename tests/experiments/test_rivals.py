"""Power: each experiment's verdict logic, run on a named rival (a wrong constant, a rival scaling law, a
perturbed field or estimator), must disagree, while the claim's own values agree.

Where the verdict judges values that are cheap to make, they are made here by a tiny computation; where
they come from a long simulation or training, the rival's values are written down directly (what the
rival would measure), so the suite stays fast.
"""

import numpy as np

from attnflow.experiments import get


def _verdict(name, values, quick=False, **overrides):
    experiment = get(name)
    return experiment.verdict(experiment.params(quick=quick, overrides=overrides), values)


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


# attention-conditional-mean, erm-generalisation --------------------------------------------------------

_RIGHT, _WRONG, _REGRESSION, _BAYES = (
    "attention, right parameters",
    "attention, β × 4",
    "regression world, β ∝ n^(2/5)",
    "Bayes E[v | k = q, X]",
)


def _conditional_mean_values(gaussian_ci, regression_ci):
    rmse = np.array([[0.1, 0.07], [0.1, 0.07]])
    values = {"ns": np.array([512, 4096]), f"rmse[{_RIGHT}]": rmse, f"rmse[{_WRONG}]": 10 * rmse}
    for name, ci in ((_RIGHT, gaussian_ci), (_REGRESSION, regression_ci)):
        values[f"slope[{name}]"] = float(np.mean(ci))
        values[f"slope_ci[{name}]"] = np.array(ci)
    return values


def test_attention_conditional_mean_tells_the_two_rates_apart():
    own = _conditional_mean_values([-0.52, -0.46], [-0.43, -0.39])
    assert _verdict("attention-conditional-mean", own).status == "agrees"
    # Rival law: the Gaussian world at the kernel-smoothing rate −2/5 (and the regression world at −1/2).
    swapped = _conditional_mean_values([-0.42, -0.38], [-0.52, -0.48])
    assert _verdict("attention-conditional-mean", swapped).status == "disagrees"
    # Too few seeds: a CI across the band's edge decides nothing.
    wide = _conditional_mean_values([-0.7, -0.3], [-0.43, -0.39])
    assert _verdict("attention-conditional-mean", wide).status == "inconclusive"


def _erm_values(per_doubling_ci):
    gaps = np.full((3, 3), 0.3)
    values = {"ns": np.array([4, 16, 64]), "set_counts": np.array([16, 64])}
    for objective in ("supervised", "self-supervised"):
        values[f"gap_vs_n[{objective}]"] = gaps
        values[f"parameter_distance[{objective}]"] = np.full((3, 3), 0.1)
        values[f"slope_per_doubling_n[{objective}]"] = float(np.mean(per_doubling_ci))
        values[f"slope_ci_per_doubling_n[{objective}]"] = np.array(per_doubling_ci)
    values["gap_vs_sets[supervised]"] = np.full((3, 2), 0.3)
    values["slope_per_doubling_sets"] = -0.3
    values["slope_ci_per_doubling_sets"] = np.array([-0.4, -0.2])
    return values


def test_erm_generalisation_bounds_the_growth_of_the_gap():
    assert _verdict("erm-generalisation", _erm_values([-0.01, 0.02])).status == "agrees"
    # Across the bound 0.1 × 0.3 = 0.03: undecided, and the verdict says how many seeds would decide.
    undecided = _verdict("erm-generalisation", _erm_values([-0.01, 0.05]))
    assert undecided.status == "inconclusive" and "seeds would decide" in undecided.measured
    # Rival law: a gap growing like n adds its whole size (0.3) per doubling of n.
    assert _verdict("erm-generalisation", _erm_values([0.25, 0.35])).status == "disagrees"
    # A CI that includes 0 but also large growth is no evidence of "does not grow".
    assert _verdict("erm-generalisation", _erm_values([-0.1, 0.3])).status == "inconclusive"


# mixers-compared ---------------------------------------------------------------------------------------


def _mixer_world_values(world, per_path, context_free):
    """The values mixers-compared judges on ``world``, from per-path KLs through its own interval code."""
    from attnflow.experiments.base import flatten_values
    from attnflow.experiments.paths import judged_mixer_values
    from attnflow.paths import MIXERS

    rows = {m: {"kl_next": float(np.mean(per_path[m])), "mixer_share": 0.3} for m in MIXERS}
    return flatten_values({world: {**rows, **judged_mixer_values(per_path, context_free, alpha=0.05)}})


def test_mixers_compared_rejects_fixed_filters_that_use_nothing_of_the_context():
    rng = np.random.default_rng(0)
    paths = 256
    context_free = 0.30 + 0.05 * rng.standard_normal(paths)
    attention = 0.02 + 0.01 * rng.standard_normal(paths)

    def near(level):
        return level + 0.01 * rng.standard_normal(paths)

    # The claim's world: the fixed filters fit as well as attention (excess 0, margin G/2 ≈ 0.14).
    redundant = {
        "attention": attention,
        "linear-attention": near(0.02),
        "ssm": near(0.025),
        "conv": near(0.02),
    }
    worlds = ["markov", "in-context"]
    own = {**_mixer_world_values("markov", redundant, context_free)}
    own.update(_mixer_world_values("in-context", redundant, context_free))
    assert _verdict("mixers-compared", own, worlds=worlds).status == "agrees"
    # Rival: on the in-context world the fixed filters use nothing of the context (their KL is the best
    # context-free law's), so only attention's data-dependent aggregation fits: the claim is rejected.
    blind = {**redundant, "ssm": context_free + near(0.0), "conv": context_free + near(0.01)}
    rival = {**_mixer_world_values("markov", redundant, context_free)}
    rival.update(_mixer_world_values("in-context", blind, context_free))
    outcome = _verdict("mixers-compared", rival, worlds=worlds)
    assert outcome.status == "disagrees" and "in-context world (disagrees" in outcome.measured
    # One fixed filter at the margin G/2 and the other blind: the data cannot decide.
    halfway = {**blind, "ssm": attention + (context_free - attention) / 2 + near(0.0)}
    undecided = {**_mixer_world_values("markov", redundant, context_free)}
    undecided.update(_mixer_world_values("in-context", halfway, context_free))
    assert _verdict("mixers-compared", undecided, worlds=worlds).status == "inconclusive"
    # Attention that learned nothing from the context: nothing to be redundant, so inconclusive.
    unlearned = {**blind, "attention": context_free + near(0.0)}
    nothing = {**_mixer_world_values("markov", redundant, context_free)}
    nothing.update(_mixer_world_values("in-context", unlearned, context_free))
    assert _verdict("mixers-compared", nothing, worlds=worlds).status == "inconclusive"


# in-context --------------------------------------------------------------------------------------------


def test_in_context_rejects_a_model_that_follows_the_shifted_prior():
    rng = np.random.default_rng(0)
    near, far = 0.05 + 0.01 * rng.random(64), 0.4 + 0.05 * rng.random(64)
    common = {"bayes_separation": 0.4, "gain": 0.1, "gain_stderr": 0.01, "captured": 0.5}
    narrowing = {**common, "kl_to_training_bayes": near, "kl_to_shifted_bayes": far}
    assert _verdict("in-context", narrowing).status == "agrees"
    # Rival: a model that learns the prior from its context follows the shifted prior's Bayes predictor.
    learning = {**common, "kl_to_training_bayes": far, "kl_to_shifted_bayes": near}
    assert _verdict("in-context", learning).status == "disagrees"
    # An untrained model, far from both predictors, tells nothing.
    untrained = {**common, "kl_to_training_bayes": far + 1, "kl_to_shifted_bayes": far + 2}
    assert _verdict("in-context", untrained).status == "inconclusive"
