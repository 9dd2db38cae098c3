"""The seven clustering experiments at their --quick size, the report and the reproduce CLI."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from attnflow._docs import update_section
from attnflow.cli import app
from attnflow.cli.reproduce import parse_overrides
from attnflow.experiments import reproduce

CLUSTERING = [
    "energy-monotone",
    "single-cluster",
    "equiangular-curve",
    "metastable-clusters",
    "causal-collapse",
    "euclidean-polytope",
    "cone-collapse",
]

pytestmark = pytest.mark.xdist_group("clustering-reproduce")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("reproduce")
    progress = _Progress()
    records = reproduce(
        CLUSTERING, out=out, quick=True, progress=progress, docs=out / "docs" / "reproduce.md"
    )
    return out, {r.name: r for r in records}, progress


class _Progress:
    """Records what reproduce reports."""

    def __init__(self):
        self.events = []

    def start(self, description, total, unit=""):
        self.events.append(("start", description, total))

    def update(self, completed, **fields):
        self.events.append(("update", completed, fields))

    def finish(self):
        self.events.append(("finish",))


@pytest.mark.parametrize("name", CLUSTERING)
def test_quick_verdict_never_disagrees(run, name):
    _, records, _ = run
    record = records[name]
    assert record.error is None, record.error
    # The quick size may lack the power to decide (metastable-clusters at small β), never disagree.
    assert record.status in ("agrees", "inconclusive"), f"{name}: {record.measured} ({record.tolerance})"
    assert record.figures
    for figure in record.figures:
        with Image.open(figure) as image:
            assert image.format in ("PNG", "GIF") and image.size[0] > 200


def test_results_json_and_docs_sections(run):
    out, records, _ = run
    results = json.loads((out / "results.json").read_text())
    assert [r["name"] for r in results] == CLUSTERING
    assert {r["size"] for r in results} == {"quick"}
    assert {r["paper"] for r in results} == {
        "Geshkovski, Letrouit, Polyanskiy & Rigollet (2023). A mathematical perspective on Transformers. "
        "arXiv:2312.10794",
        "Geshkovski, Letrouit, Polyanskiy & Rigollet (2023). The emergence of clusters in self-attention "
        "dynamics. arXiv:2305.05465",
        "Karagodin, Polyanskiy & Rigollet (2024). Clustering in Causal Attention Masking. arXiv:2411.04990",
        "Bruno, Pasqualotto & Agazzi (2024). Emergence of meta-stable clustering in mean-field transformer "
        "models. arXiv:2410.23228",
    }
    doc = (out / "docs" / "reproduce.md").read_text()
    for name in CLUSTERING:
        assert doc.count(f"<!-- BEGIN reproduce:{name} -->") == 1
        assert (out / "docs" / "figures" / "reproduce" / f"{name}.png").exists()
    assert doc.startswith("# Reproducing the claims")
    assert "*Source:* Karagodin, Polyanskiy & Rigollet (2024)" in doc
    # The verdicts at a glance, read back from the sections, sit before the first of them.
    summary = doc[doc.index("<!-- BEGIN reproduce-summary -->") : doc.index("<!-- END reproduce-summary -->")]
    assert doc.index("<!-- END reproduce-summary -->") < doc.index("<!-- BEGIN reproduce:")
    assert f"{len(CLUSTERING)} experiments (quick size)" in summary
    for name, record in records.items():
        assert f"| `{name}` | {record.title} | quick |" in summary
        verdict = record.status if record.status == "inconclusive" else f"*{record.status}*"
        assert summary.split(f"| `{name}` |")[1].splitlines()[0].endswith(f"| *{verdict}* |")


def test_progress_reports_each_experiment(run):
    _, _, progress = run
    assert progress.events[0] == ("start", "reproduce", len(CLUSTERING))
    finished = [e for e in progress.events if e[0] == "update" and "verdict" in e[2]]
    assert [e[2]["experiment"] for e in finished] == CLUSTERING
    assert [e[1] for e in finished] == list(range(1, len(CLUSTERING) + 1))
    assert progress.events[-1] == ("finish",)


@pytest.mark.browser
def test_report_renders_in_headless_chromium(run):
    browser = shutil.which("chromium")
    if browser is None:
        pytest.skip("chromium is not installed (apt-get install chromium; .ci/run installs it)")
    out, records, _ = run
    figures = sum(len(r.figures) for r in records.values())
    page = (out / "report.html").read_text()
    # A probe copy reports, after load, how many images the browser decoded and how many rows it laid out.
    probe = out / "probe.html"
    probe.write_text(
        page.replace(
            "</body>",
            "<script>window.addEventListener('load', () => { const imgs = [...document.images];"
            "document.title = 'decoded=' + imgs.filter(i => i.complete && i.naturalWidth > 0).length"
            " + ' of ' + imgs.length + ' rows=' + document.querySelectorAll('#claims tbody tr').length"
            " + ' height=' + document.body.scrollHeight; });</script></body>",
        )
    )
    command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=10000"]
    dom = subprocess.run(
        [*command, "--dump-dom", probe.as_uri()], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    papers = len({r.paper for r in records.values()})
    assert f"decoded={figures} of {figures} rows={len(CLUSTERING) + papers}" in dom  # a header row per paper
    assert int(dom.split("height=")[1].split("<")[0]) > 3000


def test_update_section_rewrites_only_its_own_section(tmp_path):
    doc = tmp_path / "page.md"
    update_section("one", "first", doc, header="# Page\n")
    update_section("two", "second", doc)
    update_section("one", "first, again", doc)
    text = doc.read_text()
    assert text.startswith("# Page\n")
    assert "first, again" in text and "second" in text and text.count("BEGIN one") == 1
    assert text.index("BEGIN one") < text.index("BEGIN two")


def test_overrides_are_parsed_as_yaml_and_checked():
    assert parse_overrides(["a.n=3", "b.betas=[1, 2.5]"], ["a", "b"]) == {
        "a": {"n": 3},
        "b": {"betas": [1, 2.5]},
    }
    assert parse_overrides(["seeds=2", "tol=1e-6", "v=[SA, 1e-3]"], ["a"]) == {
        "a": {"seeds": 2, "tol": 1e-6, "v": ["SA", 1e-3]}
    }
    import typer

    with pytest.raises(typer.BadParameter, match="NAME"):
        parse_overrides(["seeds=2"], ["a", "b"])
    with pytest.raises(typer.BadParameter, match="not being run"):
        parse_overrides(["c.n=2"], ["a"])


def test_cli_exit_status_follows_the_verdict(tmp_path):
    runner = CliRunner()
    listing = runner.invoke(app, ["experiments"])
    assert listing.exit_code == 0 and "cone-collapse" in listing.output
    unknown = runner.invoke(app, ["reproduce", "no-such-claim", "--out", str(tmp_path)])
    assert unknown.exit_code == 2 and "no-such-claim" in unknown.output
    small = ["--set", "variants=[SA]", "--set", "n=6", "--set", "seeds=1", "--set", "horizon=20.0"]
    fine = runner.invoke(
        app, ["reproduce", "cone-collapse", "--quick", "--out", str(tmp_path / "ok"), *small]
    )
    assert fine.exit_code == 0, fine.output
    # An impossible tolerance turns the verdict and the exit status.
    strict = [*small, "--set", "tolerance=1e-15"]
    bad = runner.invoke(
        app, ["reproduce", "cone-collapse", "--quick", "--out", str(tmp_path / "bad"), *strict]
    )
    assert bad.exit_code == 1
    assert json.loads((tmp_path / "bad" / "results.json").read_text())[0]["verdict"] == "disagrees"
    wrong_type = runner.invoke(
        app, ["reproduce", "cone-collapse", "--quick", "--out", str(tmp_path), "--set", "n=many"]
    )
    assert wrong_type.exit_code == 2 and "n" in wrong_type.output
    assert not Path(tmp_path / "report.html").exists()


def test_a_failing_experiment_is_reported_and_the_others_still_run(tmp_path, monkeypatch):
    from attnflow.experiments import base

    def broken(params):
        raise RuntimeError("boom")

    def fine(params):
        return {"x": params["x"]}

    def inconclusive(params, values):
        return base.Verdict("inconclusive", "p", "m", "t")

    paper = base.Citation(("A. Tester",), "Tests", 2024)
    for name, compute in (("test-broken", broken), ("test-fine", fine)):
        experiment = base.Experiment(name, name, paper, "a claim", {"x": 1}, {}, compute, inconclusive)
        monkeypatch.setitem(base._REGISTRY, name, experiment)
    records = reproduce(["test-broken", "test-fine"], out=tmp_path, docs=tmp_path / "doc.md")
    assert [r.status for r in records] == ["error", "inconclusive"]
    assert '<span class="verdict inconclusive">inconclusive</span>' in (tmp_path / "report.html").read_text()
    assert "RuntimeError: boom" in records[0].error
    assert "RuntimeError: boom" in (tmp_path / "report.html").read_text()
    assert "The run failed" in (tmp_path / "doc.md").read_text()
