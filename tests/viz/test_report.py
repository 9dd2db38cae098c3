import json
from html.parser import HTMLParser
from pathlib import Path

import pytest

from attnflow.experiments.base import Experiment, Outcome
from attnflow.viz import plot_cloud
from attnflow.viz.report import RunRecord, write_report


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.cells: list[str] = []
        self.ids: list[str] = []
        self._in_cell = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs["src"])
        if "id" in attrs:
            self.ids.append(attrs["id"])
        if tag in ("td", "th"):
            self._in_cell = True

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self._in_cell = False

    def handle_data(self, data):
        if self._in_cell and data.strip():
            self.cells.append(data.strip())


def _records(tmp_path: Path, circle_traj) -> list[RunRecord]:
    def runner(params, out):
        plot_cloud(circle_traj, path=out / "cloud.png")
        return Outcome(
            "x → 0", f"x = {params['x']}", params["x"] < 1, "|x| < 1", {"x": params["x"]}, [out / "cloud.png"]
        )

    def make(name, source):
        return Experiment(name, f"title {name}", source, f"claim <{name}>", {"x": 0.5}, {}, runner)

    records = []
    for name, source, x in (("a", "seed 002", 0.5), ("b", "seed 001", 2.0), ("c", "seed 002", 0.1)):
        result = make(name, source).run(tmp_path / name, overrides={"x": x})
        records.append(RunRecord.from_result(result, quick=True))
    records.append(
        RunRecord(make("d", "seed 001"), {"x": 0.5}, False, 0.0, tmp_path / "d", error="Traceback: boom")
    )
    return records


def test_report_is_self_contained_with_a_claims_table_grouped_by_source(tmp_path, circle_traj):
    page = write_report(_records(tmp_path, circle_traj), tmp_path)
    parsed = _Collector()
    parsed.feed(page.read_text())
    # Figures are embedded as data URIs: the page needs no other file.
    assert len(parsed.images) == 3 and all(src.startswith("data:image/png;base64,") for src in parsed.images)
    assert {"claims", "a", "b", "c", "d"} <= set(parsed.ids)
    cells = parsed.cells
    # Sources group the table: both seed 002 rows follow their header, then seed 001's.
    assert (
        cells.index("seed 002")
        < cells.index("a")
        < cells.index("c")
        < cells.index("seed 001")
        < cells.index("b")
    )
    assert "claim <a>" in cells  # text is escaped, not parsed as a tag
    results = json.loads((tmp_path / "results.json").read_text())
    assert [r["verdict"] for r in results] == ["agrees", "disagrees", "agrees", "error"]
    assert results[0]["figures"] == ["a/cloud.png"] and results[3]["error"] == "Traceback: boom"


def test_report_needs_records(tmp_path):
    with pytest.raises(ValueError, match="records"):
        write_report([], tmp_path)


def test_values_are_formatted_and_made_json_friendly():
    import numpy as np

    from attnflow.io import jsonable
    from attnflow.viz.report import format_value

    assert (
        format_value({"a": [0.5, 2], "b": np.arange(20.0)}) == "{a: [0.5, 2], b: array (20,), min 0, max 19}"
    )
    assert format_value(1 / 3) == "0.333333" and format_value("SA") == "SA"
    assert jsonable({1.5: np.array([1.0, np.inf]), "n": np.int64(3)}, strict=True) == {
        "1.5": [1.0, "inf"],
        "n": 3,
    }
    assert jsonable([np.inf]) == [np.inf]
