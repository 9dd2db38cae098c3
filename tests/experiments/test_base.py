"""The experiment contract: parameter resolution, value checks, the registry."""

import numpy as np
import pytest

from attnflow.experiments import Experiment, Outcome, get, register, unregister


def _runner(params, out):
    return Outcome(
        "p", "m", params["x"] > 0, "t", values={"x": params["x"], "nested": {"a": 1.0, "b": [1, 2]}}
    )


@pytest.fixture
def toy():
    experiment = register(
        Experiment("base-toy", "toy", "tests", "claim", {"x": 1.0, "k": 3, "on": True}, {"k": 1}, _runner)
    )
    yield experiment
    unregister("base-toy")


def test_params_resolve_defaults_quick_and_overrides(toy):
    assert toy.params() == {"x": 1.0, "k": 3, "on": True}
    assert toy.params(quick=True)["k"] == 1
    assert toy.params(overrides={"x": 2}) == {"x": 2.0, "k": 3, "on": True}


@pytest.mark.parametrize(
    ("overrides", "error", "message"),
    [
        ({"y": 1}, ValueError, "no parameter 'y'"),
        ({"k": 1.5}, TypeError, "'k'"),
        ({"on": 1}, TypeError, "'on'"),
        ({"x": float("nan")}, TypeError, "'x'"),
    ],
)
def test_bad_overrides(toy, overrides, error, message):
    with pytest.raises(error, match=message):
        toy.params(overrides=overrides)


def test_run_flattens_nested_values(toy, tmp_path):
    result = get("base-toy").run(tmp_path, overrides={"x": -1.0})
    assert result.outcome.verdict == "disagrees"
    assert result.outcome.values["nested.a"] == 1.0
    np.testing.assert_array_equal(result.outcome.values["nested.b"], [1, 2])


def test_non_numeric_values_are_refused():
    with pytest.raises(TypeError, match=r"values\['label'\]"):
        Outcome("p", "m", True, "t", values={"label": "text"})


def test_registry_rejects_duplicates_and_unknown_names(toy):
    with pytest.raises(ValueError, match="already registered"):
        register(toy)
    with pytest.raises(KeyError, match="unknown experiment"):
        get("no-such-experiment")
    with pytest.raises(ValueError, match="unknown parameters"):
        Experiment("bad", "t", "s", "c", {"x": 1}, {"y": 2}, _runner)
