"""Particle measures and the dynamics fit of real hidden states, read from a trace or a recording."""

from __future__ import annotations

import numpy as np
import pytest

from attnflow.lm import fit_dynamics, particle_measures, record, to_sphere, trace
from attnflow.measure import clusters, effective_rank


def test_particle_measures_of_a_traced_model(tiny_models, ids):
    traj = trace(tiny_models["gpt2"], ids)
    measures = particle_measures(traj, beta=2.0, bins=20)
    z = to_sphere(traj).x
    for layer in range(traj.n_states):
        gram = (z[layer] @ z[layer].T).numpy()
        n = len(ids)
        off = gram[~np.eye(n, dtype=bool)]
        assert float(measures.mean_cosine[layer]) == pytest.approx(off.mean(), rel=1e-9)
        energy = np.exp(2.0 * gram).sum() / (2 * 2.0 * n * n)
        assert float(measures.energy[layer]) == pytest.approx(energy, rel=1e-9)
    np.testing.assert_allclose(measures.pair_fraction.sum("cosine").values, 1.0)
    # clusters and effective rank are those of the unit-sphere states, at the given tol
    sphere = to_sphere(traj)
    np.testing.assert_array_equal(measures.clusters.values, clusters(sphere, 0.05)["count"].values)
    np.testing.assert_allclose(measures.effective_rank.values, effective_rank(sphere).values, rtol=1e-12)
    assert (measures.clusters.values >= 1).all() and (measures.effective_rank.values >= 1).all()


@pytest.mark.parametrize("family", ["gpt2", "bert"])
def test_measures_read_a_recording_as_its_layer_trajectory(tiny_models, ids, family, forward_passes):
    rec = record(tiny_models[family], ids)
    traj = trace(tiny_models[family], ids)
    with forward_passes() as counted:
        measures, fit = particle_measures(rec, beta=2.0), fit_dynamics(rec, grid=7)
    assert counted["passes"] == 0
    assert measures.identical(particle_measures(traj, beta=2.0))
    assert fit.identical(fit_dynamics(traj, grid=7)) and fit.attrs["causal"] is (family == "gpt2")
