"""Metastability time scales: reading T₁ and T₂ off merge times, the verdict, and the polynomial rival."""

from __future__ import annotations

import numpy as np

from attnflow.experiments import get
from attnflow.experiments.timescales import EXPONENTIAL, POLYNOMIAL, judge, time_scales


def test_time_scales_from_merge_times():
    # Fast merges at 2, 3, 4; a plateau to 500 (factor 125), then the last merge at 5e4.
    assert time_scales([3.0, 2.0, 4.0, 500.0, 5e4], t_end=1e6, clusters_left=1) == (4.0, 5e4)
    # Not collapsed by t_end: T₂ is unknown; the plateau after the last merge still counts for T₁.
    formation, persistence = time_scales([2.0, 3.0], t_end=1e6, clusters_left=3)
    assert formation == 3.0 and persistence == np.inf


def synthetic(law, runs=5):
    """Time scales that follow ``law(beta)`` up to a 10% scatter per run."""
    betas = np.array([4.0, 6.0, 8.0, 10.0, 12.0])
    scatter = np.random.default_rng(1).uniform(0.9, 1.1, size=(runs, betas.size))
    return {
        "betas": betas,
        "formation": np.outer(np.ones(runs), 2 * betas),
        "persistence": law(betas) * scatter,
    }


PARAMS = {"n": 16, "t_end": 1e14, "merge_tol": 1e-7}


def test_exponential_lifetimes_agree_and_the_polynomial_rival_disagrees():
    values = synthetic(lambda b: np.exp(1.5 * b))
    assert judge(PARAMS, values, EXPONENTIAL).status == "agrees"
    assert judge(PARAMS, values, POLYNOMIAL).status == "disagrees"


def test_polynomial_lifetimes_are_not_taken_for_exponential():
    # The local power does not change, so its interval straddles 0: neither law can be confirmed (the
    # rival's single accepted value can only ever be rejected), and the exponential law is not.
    values = synthetic(lambda b: b**6)
    assert judge(PARAMS, values, EXPONENTIAL).status == "inconclusive"
    assert judge(PARAMS, values, POLYNOMIAL).status == "inconclusive"


def test_uncollapsed_runs_are_inconclusive():
    values = synthetic(lambda b: np.exp(1.5 * b))
    values["persistence"][0, -1] = np.inf
    assert judge(PARAMS, values).status == "inconclusive"


def test_a_small_simulated_run_agrees_and_rejects_the_polynomial_rival():
    experiment = get("metastability-time-scales")
    params = {**experiment.defaults, **experiment.quick, "n": 10, "seeds": 3}
    values = experiment.compute(params)
    # T₂ only: the formation law is judged in test_rivals_long15.py.
    anything = (-np.inf, np.inf)
    assert judge(params, values, EXPONENTIAL, anything).status == "agrees"
    assert judge(params, values, POLYNOMIAL, anything).status == "disagrees"
