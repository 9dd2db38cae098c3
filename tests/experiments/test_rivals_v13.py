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


# mean-field-limit --------------------------------------------------------------------------------------


def _mean_field_values(exponents, ratio_exponents, rate_error=1e-3):
    """Values of mean-field-limit whose seed groups have the given log-log slopes (W₁ and the ratio)."""
    from attnflow.measure.fits import fit_loglog_slope

    sizes = np.array([64, 128, 256, 512, 1024])
    w1_end = np.array([0.6 * sizes**b for b in exponents])
    w1_start = w1_end / np.array([1.2 * sizes**b for b in ratio_exponents])
    exponent = fit_loglog_slope(sizes, w1_end)
    ratio = fit_loglog_slope(sizes, w1_end / w1_start)
    return {
        "n_particles": sizes.tolist(),
        "w1_start": w1_start.mean(axis=0),
        "w1_end": w1_end.mean(axis=0),
        "w1_exponent": exponent.slope,
        "w1_exponent_ci": np.array([exponent.ci_low, exponent.ci_high]),
        "ratio_exponent": ratio.slope,
        "ratio_exponent_ci": np.array([ratio.ci_low, ratio.ci_high]),
        "stability_rate_bound": 10.0,
        "stability_rate_measured": 0.1,
        "rate_max_relative_error": rate_error,
        "mass_error": 0.0,
        "energy_max_relative_drop": 0.0,
        "min_density": 0.01,
    }


def test_mean_field_limit_rejects_the_rival_rate_n_to_the_minus_quarter():
    spread = [-0.02, -0.01, 0.0, 0.01, 0.02, 0.0, -0.01, 0.01]
    own = _mean_field_values([-0.5 + e for e in spread], [0.0 + e for e in spread])
    assert _verdict("mean-field-limit", own).status == "agrees"
    # Rival: a flow only Hölder-½ stable in W₁, so W₁(t) ∝ n^-1/4 and W₁(t)/W₁(0) ∝ n^+1/4.
    rival = _mean_field_values([-0.25 + e for e in spread], [0.25 + e for e in spread])
    assert _verdict("mean-field-limit", rival).status == "disagrees"
    # Seeds too scattered to decide: an interval across the band's edge.
    wide = [-0.3, 0.3, -0.2, 0.2, 0.0, 0.1, -0.1, 0.0]
    assert _verdict("mean-field-limit", _mean_field_values([-0.5 + e for e in wide], spread)).status == (
        "inconclusive"
    )


def test_mean_field_limit_rejects_the_usa_rate_formula_for_sa():
    from scipy.special import iv

    from attnflow.theory import growth_rate

    beta, modes = 4.0, np.arange(1, 7)
    fitted = growth_rate(modes, beta, "SA") * (1 + 1e-3)
    # Rival constant: ℓ² I_ℓ(β)/β, the USA rate, without the softmax's 1/I₀(β).
    error = float(np.max(np.abs(fitted / (modes**2 * iv(modes, beta) / beta) - 1)))
    spread = [-0.02, -0.01, 0.0, 0.01, 0.02]
    values = _mean_field_values([-0.5 + e for e in spread], spread, rate_error=error)
    assert _verdict("mean-field-limit", values).status == "disagrees"


# paths-learned, context-narrows ------------------------------------------------------------------------


def _learned_values(fall_ci, beyond_ci):
    steps = np.arange(0, 200, 50)
    return {
        "steps": steps,
        "kl_next": np.array([0.5, 0.2, 0.08, 0.05]),
        "kl_path": np.array([8.0, 3.2, 1.3, 0.8]),
        "kl_path_stderr": np.full(4, 0.1),
        "reverse_kl_path": np.full(4, 0.8),
        "kl_initial": 0.5,
        "kl_final": 0.05,
        "kl_context_free": 0.3,
        "kl_fall_ci": np.array(fall_ci),
        "beyond_context_free_ci": np.array(beyond_ci),
        "world_entropy": 1.0,
        "final_loss": 1.1,
    }


def test_paths_learned_rejects_a_model_that_does_not_learn():
    assert _verdict("paths-learned", _learned_values([0.43, 0.47], [0.23, 0.27])).status == "agrees"
    # Rival estimator: learning rate 0; the model stays at its initial law, the same on every path.
    assert _verdict("paths-learned", _learned_values([0.0, 0.0], [-0.25, -0.25])).status == "disagrees"
    # A fall lost in the noise of the held-out paths cannot decide.
    assert _verdict("paths-learned", _learned_values([-0.01, 0.01], [0.1, 0.2])).status == "inconclusive"
    # A rival that got worse with training disagrees even more plainly.
    assert _verdict("paths-learned", _learned_values([-0.2, -0.1], [-0.4, -0.3])).status == "disagrees"
    # A model that learned the marginal law only: the fall is real, the context-dependence is not (yet).
    assert _verdict("paths-learned", _learned_values([0.2, 0.25], [-0.02, 0.01])).status == "inconclusive"


def _narrows_values(model_drop, difference_ci, model_drop_ci, beyond_ci=(0.1, 0.2)):
    return {
        "world_entropy": np.array([1.8, 1.5, 1.4, 1.35]),
        "model_entropy": np.array([1.8, 1.5, 1.4, 1.35]) + 0.45 - model_drop,
        "unigram_entropy": 2.0,
        "world_drop": 0.45,
        "model_drop": model_drop,
        "world_drop_ci": np.array([0.4, 0.5]),
        "model_drop_ci": np.array(model_drop_ci),
        "drop_difference_ci": np.array(difference_ci),
        "beyond_context_free_ci": np.array(beyond_ci),
    }


def test_context_narrows_rejects_a_model_whose_entropy_does_not_fall():
    own = _narrows_values(0.44, [-0.05, 0.03], [0.40, 0.48])
    assert _verdict("context-narrows", own).status == "agrees"
    # Rival: context changes the model's prediction (it beats every context-free law) without narrowing it.
    flat = _narrows_values(0.0, [-0.5, -0.4], [-0.03, 0.03])
    assert _verdict("context-narrows", flat).status == "disagrees"
    # A model that never learned how the law depends on the context cannot show narrowing either way.
    untrained = _narrows_values(0.0, [-0.5, -0.4], [-0.03, 0.03], beyond_ci=(-0.05, -0.01))
    assert _verdict("context-narrows", untrained).status == "inconclusive"


# context-narrows-paths ---------------------------------------------------------------------------------


def test_context_narrows_paths_rejects_a_context_free_model():
    narrowing = {"windows": [1, 4, 16, 32], "entropy": np.array([4.0, 3.2, 2.6, 2.4]), "nll": np.ones(4)}
    own = {**narrowing, "spearman": -1.0, "drop": 1.6, "drop_ci": np.array([1.2, 2.0])}
    assert _verdict("context-narrows-paths", own, quick=True).status == "agrees"
    # Rival: a unigram model, whose next-token law does not depend on the context: every drop is 0.
    flat = {**narrowing, "entropy": np.full(4, 4.0), "spearman": 0.0, "drop": 0.0, "drop_ci": np.zeros(2)}
    assert _verdict("context-narrows-paths", flat, quick=True).status == "disagrees"
    noisy = {**own, "drop": 0.1, "drop_ci": np.array([-0.3, 0.5])}
    assert _verdict("context-narrows-paths", noisy, quick=True).status == "inconclusive"
