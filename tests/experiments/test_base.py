"""The experiment contract: citations, parameter resolution, compute → verdict → figures, the registry."""

import numpy as np
import pytest

from attnflow.experiments import Citation, Experiment, Verdict, get, register, status_of, unregister
from attnflow.experiments.base import flatten_values, key_values

PAPER = Citation(("Ada Lovelace", "Charles Babbage"), "Notes on the engine", 1843, arxiv="1843.00001")


def _compute(params):
    return {"x": params["x"], "nested": {"a": 1.0, "b": [1, 2]}, "figure": {"curve": [0.0, 1.0, 4.0]}}


def _verdict(params, values):
    return Verdict(status_of(values["x"] > 0), "p", "m", "t")


def _figures(params, values, out):
    path = out / "figure.txt"
    path.write_text(str(values["x"]))
    return [path]


@pytest.fixture
def toy():
    experiment = register(
        Experiment(
            "base-toy",
            "toy",
            PAPER.at("Note G"),
            "claim",
            {"x": 1.0, "k": 3, "on": True},
            {"k": 1},
            _compute,
            _verdict,
            _figures,
        )
    )
    yield experiment
    unregister("base-toy")


def test_citation_renders_the_paper_and_the_place():
    cited = PAPER.at("Note G", note="the first program")
    assert cited.paper == "Lovelace & Babbage (1843). Notes on the engine. arXiv:1843.00001"
    assert str(cited) == cited.paper + "; Note G (the first program)"
    assert cited.to_dict()["where"] == "Note G" and PAPER.where == ""
    with pytest.raises(ValueError, match="author"):
        Citation((), "untitled", 2000)


def test_verdict_has_three_statuses():
    assert Verdict("agrees", "p", "m", "t").agrees
    assert not Verdict("inconclusive", "p", "m", "t").agrees
    with pytest.raises(ValueError, match="status"):
        Verdict("maybe", "p", "m", "t")


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


def test_evaluate_flattens_values_and_draws_no_figures(toy, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    evaluation = get("base-toy").evaluate(overrides={"x": -1.0})
    assert evaluation.verdict.status == "disagrees"
    assert evaluation.values["nested.a"] == 1.0
    np.testing.assert_array_equal(evaluation.values["nested.b"], [1, 2])
    assert not list(tmp_path.iterdir())


def test_run_adds_the_figures(toy, tmp_path):
    result = toy.run(tmp_path / "out")
    assert result.verdict.agrees and result.figures == [tmp_path / "out" / "figure.txt"]
    assert result.figures[0].read_text() == "1.0"


def test_non_numeric_values_and_non_verdicts_are_refused(toy):
    with pytest.raises(TypeError, match=r"values\['label'\]"):
        flatten_values({"label": "text"})
    broken = Experiment("t", "t", PAPER, "c", {"x": 1.0}, {}, _compute, lambda params, values: True)
    with pytest.raises(TypeError, match="Verdict"):
        broken.evaluate()


def test_registry_rejects_duplicates_and_unknown_names(toy):
    with pytest.raises(ValueError, match="already registered"):
        register(toy)
    with pytest.raises(KeyError, match="unknown experiment"):
        get("no-such-experiment")
    with pytest.raises(ValueError, match="unknown parameters"):
        Experiment("bad", "t", PAPER, "c", {"x": 1}, {"y": 2}, _compute, _verdict)
    with pytest.raises(TypeError, match="Citation"):
        Experiment("bad", "t", "free text", "c", {"x": 1}, {}, _compute, _verdict)


def test_every_registered_experiment_cites_a_paper():
    from attnflow import experiments

    for name in experiments.available():
        citation = get(name).citation
        assert citation.arxiv and citation.where, name


def test_key_values_leave_out_the_figure_data(toy):
    values = toy.evaluate().values
    assert values["figure.curve"] == [0.0, 1.0, 4.0]
    assert set(key_values(values)) == {"x", "nested.a", "nested.b"}


def test_a_sweep_evaluates_without_figures_and_stores_the_verdict(toy):
    from attnflow.sweep.targets import ExperimentTarget

    def no_figures_in_sweeps(params, values, out):
        raise AssertionError("a sweep drew figures")

    experiment = Experiment(
        "sweep-only", "t", PAPER, "c", toy.defaults, toy.quick, _compute, _verdict, no_figures_in_sweeps
    )
    ds = ExperimentTarget(experiment, quick=True).run({"x": -2.0}, [])
    assert set(ds.data_vars) == {"x", "nested.a", "nested.b", "verdict", "agrees"}
    assert ds["verdict"].item() == "disagrees" and not ds["agrees"].item()
    kept = ExperimentTarget(experiment, quick=True).run(
        {}, [{"name": "figure.curve", "as": "curve", "kwargs": {}}]
    )
    assert list(kept["curve"].values) == [0.0, 1.0, 4.0]


def test_interval_status_is_three_valued():
    from attnflow.experiments import combine, interval_status

    assert interval_status(0.1, 0.2, 0.0, 1.0) == "agrees"
    assert interval_status(1.1, 1.3, 0.0, 1.0) == "disagrees"
    assert interval_status(0.9, 1.3, 0.0, 1.0) == "inconclusive"
    assert interval_status(float("nan"), 1.0, 0.0, 1.0) == "inconclusive"
    assert combine("agrees", "inconclusive") == "inconclusive"
    assert combine("inconclusive", "disagrees", "agrees") == "disagrees"
    assert combine("agrees", "agrees") == "agrees"


def _exact_samples(mean, sd, m):
    """``m`` samples whose mean and sample standard deviation are exactly ``mean`` and ``sd``."""
    z = np.linspace(-1.0, 1.0, m)
    return mean + sd * (z - z.mean()) / z.std(ddof=1)


@pytest.mark.parametrize(("mean", "sd", "edges"), [(-0.106, 0.75, (0.5, 1.5)), (0.3, 0.46, (0.25, 0.35))])
def test_samples_to_decide_is_the_first_size_whose_interval_clears_the_edge(mean, sd, edges):
    from attnflow.experiments.base import mean_interval, samples_to_decide

    m = samples_to_decide(mean, sd, edges, have=6)
    assert m > 6

    def clears(size):
        _, low, high = mean_interval(_exact_samples(mean, sd, size))
        return all(not low <= edge <= high for edge in edges)

    assert clears(m) and not clears(m - 1)
    # On an edge no size decides.
    assert samples_to_decide(0.5, 0.75, (0.5, 1.5)) is None


def test_sign_test_pairs_to_decide_keeps_the_observed_share():
    from scipy import stats

    from attnflow.experiments.base import sign_test, sign_test_pairs_to_decide

    falls = np.array([0.1] * 3 + [-0.1] * 9)  # 9 of 12 fall: p = 0.073, not significant at 0.05
    assert sign_test(falls, 0.05)[0] == "inconclusive"
    m = sign_test_pairs_to_decide(falls, 0.05)
    assert m == 13
    for size, significant in ((m, True), (m - 1, False)):
        k = int(np.ceil(0.75 * size))
        assert (stats.binomtest(k, size, 0.5, alternative="greater").pvalue < 0.05) == significant
    assert sign_test_pairs_to_decide(np.array([1.0, -1.0]), 0.05) is None


@pytest.mark.parametrize(("status", "exit_code"), [("agrees", 0), ("inconclusive", 0), ("disagrees", 1)])
def test_reproduce_exits_1_only_on_a_disagreement_and_records_provenance(
    tmp_path, monkeypatch, status, exit_code
):
    import json

    from typer.testing import CliRunner

    from attnflow.cli import app
    from attnflow.experiments import base

    def judged(params, values):
        return Verdict(status, "p", "m", "t")

    experiment = Experiment("exit-toy", "toy", PAPER.at("Note G"), "claim", {"x": 1.0}, {}, _compute, judged)
    monkeypatch.setitem(base._REGISTRY, "exit-toy", experiment)
    doc = tmp_path / "doc.md"
    args = ["reproduce", "exit-toy", "--out", str(tmp_path), "--docs", str(doc)]
    # The CLI records its own command line, sys.argv, which CliRunner does not set.
    monkeypatch.setattr("sys.argv", ["/usr/bin/attnflow", *args])
    result = CliRunner().invoke(app, args)
    assert result.exit_code == exit_code, result.output
    made = json.loads((tmp_path / "results.json").read_text())[0]["provenance"]
    assert made["command"].startswith("attnflow reproduce exit-toy --out")
    assert "torch" in made["versions"] and "numpy" in made["versions"]
    assert made["commit"]
    text = doc.read_text()
    assert "Provenance: commit" in text and made["command"] in text
    assert (f"*{status}*" in text) if status == "inconclusive" else (f"**{status}**" in text)
