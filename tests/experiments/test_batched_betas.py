"""Experiments that batch their runs over β give the numbers of a loop of separate runs."""

import numpy as np

from attnflow.experiments.equiangular import EQUIANGULAR_CURVE, _phase_diagram
from attnflow.measure import fraction_close_pairs
from attnflow.simulation import Simulation


def test_the_equiangular_phase_diagram_equals_one_run_per_beta():
    params = {
        **EQUIANGULAR_CURVE.defaults,
        **{"n": 8, "dims": [4, 16], "beta_range": [0.5, 6.0], "n_betas": 3, "seeds": 2},
        **{"t_max": 6.0, "dt": 0.2, "save_every": 3},
    }
    batched = _phase_diagram(params)["figure"]["phase_fraction"]
    for i, d in enumerate(params["dims"]):
        for k, beta in enumerate(np.linspace(*params["beta_range"], params["n_betas"])):
            spec = Simulation.from_flat(
                {
                    "n": params["n"],
                    "d": d,
                    "beta": float(beta),
                    "t_end": params["t_max"],
                    "dt": params["dt"],
                    "save_every": params["save_every"],
                    "seed": params["seed"],
                }
            )
            trajs = spec.run(replicates=params["seeds"])
            alone = np.mean([fraction_close_pairs(t, params["delta"]).values for t in trajs], axis=0)
            np.testing.assert_array_equal(batched[i, k], alone)
    # Not a constant: the runs reach the threshold at some β and time, and not at others.
    assert batched.min() == 0 and batched.max() == 1
