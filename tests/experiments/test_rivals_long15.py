"""Issue 15 (long context and long time): each verdict, run on a named rival, must disagree while the
claim's own values agree (see ``test_rivals.py`` for the convention)."""

import numpy as np
import pytest
import torch

from attnflow.experiments import get


def _verdict(name, values, quick=False, **overrides):
    experiment = get(name)
    return experiment.verdict(experiment.params(quick=quick, overrides=overrides), values)


# metastable-clusters -----------------------------------------------------------------------------------


def test_fastest_mode_is_a_direct_argmax_of_l2_il():
    from scipy.special import ive

    from attnflow.theory import fastest_mode

    # The prediction, by a direct float64 maximisation (ℓ² I_ℓ(β) ∝ ℓ² ive(ℓ, β)): 3 clusters at β = 5.
    for beta in (5.0, 16.0, 64.0, 144.0, 256.0):
        modes = np.arange(1, 80)
        assert fastest_mode(beta) == modes[np.argmax(modes**2 * ive(modes, beta))]
    assert fastest_mode(5.0) == 3


def test_perturbed_grid_starts_every_mode_at_the_same_amplitude():
    from attnflow.experiments.metastable import mode_amplitudes, perturbed_grid
    from attnflow.trajectory import Trajectory

    phases = np.random.default_rng(0).uniform(0, 2 * np.pi, 30)
    start = perturbed_grid(4000, 1e-3, phases)
    amplitudes = mode_amplitudes(Trajectory(torch.zeros(1), start[None]), 40)[0]
    # Modes 1..30 at ε (up to the O(ε²) of the first-order inversion), the modes above at O(ε²) only.
    np.testing.assert_allclose(amplitudes[:30], 1e-3, rtol=0.05)
    assert amplitudes[30:].max() < 1e-4


@pytest.fixture(scope="module")
def small_circle_run():
    """Formation at β = 64 from 1000 tokens, two starts (a few seconds; the lifetime part kept tiny)."""
    experiment = get("metastable-clusters")
    overrides = {"betas": [64.0], "lifetime_n": 8, "lifetime_seeds": 2, "lifetime_t_end": 20.0}
    params = experiment.params(quick=True, overrides=overrides)
    return params, experiment.compute(params)


def test_metastable_mode_agrees_with_l_star_and_rejects_the_rival_sqrt_beta(small_circle_run):
    from attnflow.experiments.metastable import mode_verdict, predicted_modes, sa_rates
    from attnflow.theory import growth_rate

    _, values = small_circle_run
    args = [values[k] for k in ("betas", "formation_modes", "formation_times", "formation_amplitudes")]
    assert mode_verdict(*args)[0] == "agrees"
    assert np.all(values["formation_modes"] == 11)  # ℓ* at β = 64; √β = 8

    # Rival law √β: the same rates at β/2, whose fastest mode is 8 = √64.
    def rival(modes, beta):
        return growth_rate(modes, beta / 2, "SA")

    assert 8 in predicted_modes(64.0, 10.0, 0.1, rival) and 11 not in predicted_modes(64.0, 10.0, 0.1, rival)
    assert mode_verdict(*args, rates=rival)[0] == "disagrees"
    assert 11 in predicted_modes(64.0, 10.0, 0.1, sa_rates)


def test_metastable_mode_verdict_is_inconclusive_with_a_minority_outside():
    from attnflow.experiments.metastable import mode_verdict

    betas = np.array([64.0])
    times, amplitudes = np.full((1, 3), 10.0), np.full((1, 3), 0.1)
    assert mode_verdict(betas, np.array([[11.0, 11.0, 12.0]]), times, amplitudes)[0] == "agrees"
    assert mode_verdict(betas, np.array([[11.0, 11.0, 8.0]]), times, amplitudes)[0] == "inconclusive"
    assert mode_verdict(betas, np.array([[8.0, 8.0, 11.0]]), times, amplitudes)[0] == "disagrees"
    # A run that never formed counts as outside.
    assert mode_verdict(betas, np.array([[np.nan, np.nan, 11.0]]), times, amplitudes)[0] == "disagrees"


# causal-renyi-centres ----------------------------------------------------------------------------------


def _on_circle(angles):
    return np.stack([np.cos(angles), np.sin(angles)], axis=-1)


def test_renyi_centres_by_hand_and_by_their_definition():
    from attnflow.theory.renyi import renyi_centres, separation

    assert separation(64.0) == 0.5
    # 0.4 rad apart is a chord of 0.397 < δ = 0.5, 0.8 rad one of 0.779 ≥ δ: token 2 is far from the only
    # earlier centre (token 0) but near token 1, so it is a Rényi centre and not a strong one.
    x = _on_circle(np.array([0.0, 0.4, 0.8]))
    assert renyi_centres(x, 0.5).tolist() == [0, 2]
    assert renyi_centres(x, 0.5, strong=True).tolist() == [0]
    cloud = _on_circle(np.random.default_rng(1).uniform(0, 2 * np.pi, 60))
    strong, plain = renyi_centres(cloud, 0.5, strong=True), renyi_centres(cloud, 0.5)
    gaps = np.linalg.norm(cloud[:, None] - cloud[None], axis=-1)
    for k in range(1, 60):
        assert (k in strong) == (gaps[k, :k].min() >= 0.5)
        earlier = plain[plain < k]
        assert (k in plain) == (gaps[k, earlier].min() >= 0.5)
    assert set(strong) <= set(plain)
    with pytest.raises(ValueError, match="delta"):
        renyi_centres(cloud, 0.0)


@pytest.fixture(scope="module")
def causal_runs():
    """Quick size: 3 causal runs of 100 tokens at β = 64 (about 3 s)."""
    experiment = get("causal-renyi-centres")
    params = experiment.params(quick=True)
    return params, experiment.compute(params)


def test_strong_centres_stay_still_and_random_tokens_as_centres_disagree(causal_runs):
    from attnflow.experiments.renyi import still_verdict

    params, values = causal_runs
    assert get("causal-renyi-centres").verdict(params, values).status == "agrees"
    # Rival: as many tokens drawn at random (among the others) as there are strong centres.
    strong = values["strong"]
    rng = np.random.default_rng(0)
    chosen = np.zeros_like(strong)
    for run in range(strong.shape[0]):
        others = np.flatnonzero(~strong[run])
        chosen[run, rng.choice(others, strong[run].sum(), replace=False)] = True
    assert still_verdict(values["displacement"], chosen, values["delta"])[0] == "disagrees"


def test_full_attention_moves_the_strong_centres():
    # Rival field: full (non-causal) attention from the same starts; the centres are no longer still.
    experiment = get("causal-renyi-centres")
    params = experiment.params(quick=True, overrides={"causal": False})
    values = experiment.compute(params)
    assert experiment.verdict(params, values).status != "agrees"


# metastability-time-scales: T₁ ~ β ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("formation", "status"),
    [
        (lambda b: 2 * b, "agrees"),
        # Rival laws: a formation time that does not grow with β, and one that grows like β².
        (lambda b: 30 + 0 * b, "disagrees"),
        (lambda b: b**2, "disagrees"),
    ],
)
def test_formation_time_linear_in_beta_and_its_rivals(formation, status):
    from attnflow.experiments.timescales import judge

    betas = np.array([4.0, 6.0, 8.0, 10.0, 12.0])
    scatter = np.random.default_rng(2).uniform(0.9, 1.1, size=(5, betas.size))
    values = {
        "betas": betas,
        "formation": formation(betas) * scatter,
        "persistence": np.exp(1.5 * betas) * scatter[::-1],
    }
    assert judge({"n": 16, "t_end": 1e14, "merge_tol": 1e-7}, values).status == status
