"""The ``mean-field-limit`` experiment in its quick size: verdict, values and figure."""

import numpy as np
import pytest

from attnflow.experiments import get


def test_mean_field_limit_quick_does_not_disagree(tmp_path) -> None:
    experiment = get("mean-field-limit")
    result = experiment.run(tmp_path, quick=True)
    # At the quick size the exponent's interval may cross its band's edge (inconclusive), never miss it.
    assert result.verdict.status != "disagrees", result.verdict.notes
    values = result.values
    low, high = values["w1_exponent_ci"]
    assert low <= -0.5 <= high
    np.testing.assert_allclose(values["rate_fitted"], values["rate_theory"], rtol=0.02)
    assert values["mass_error"] <= 1e-12 and values["min_density"] >= 0
    assert [p.name for p in result.figures] == ["mean_field_limit.png"]
    assert result.figures[0].stat().st_size > 10_000


def test_mean_field_limit_parameters_are_validated() -> None:
    experiment = get("mean-field-limit")
    assert experiment.params(quick=True)["n_cells"] == 256
    with pytest.raises(TypeError, match="beta"):
        experiment.params(overrides={"beta": "large"})
