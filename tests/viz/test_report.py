import json
from html.parser import HTMLParser
from pathlib import Path

import pytest

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
    def record(name, paper, x, status):
        plot_cloud(circle_traj, path=tmp_path / name / "cloud.png")
        return RunRecord(
            name=name,
            title=f"title {name}",
            paper=paper,
            citation=f"{paper} Theorem 1.",
            claim=f"claim <{name}>",
            params={"x": x},
            quick=True,
            seconds=1.0,
            status=status,
            prediction="x → 0",
            measured=f"x = {x}",
            tolerance="|x| < 1",
            values={"x": x},
            figures=[tmp_path / name / "cloud.png"],
        )

    return [
        record("a", "paper 002", 0.5, "agrees"),
        record("b", "paper 001", 2.0, "disagrees"),
        record("c", "paper 002", 0.1, "inconclusive"),
        RunRecord(
            "d",
            "title d",
            "paper 001",
            "paper 001.",
            "claim <d>",
            {"x": 0.5},
            False,
            0.0,
            "error",
            error="Traceback: boom",
        ),
    ]


def test_report_is_self_contained_with_a_claims_table_grouped_by_paper(tmp_path, circle_traj):
    page = write_report(_records(tmp_path, circle_traj), tmp_path)
    text = page.read_text()
    parsed = _Collector()
    parsed.feed(text)
    # Figures are embedded as data URIs: the page needs no other file.
    assert len(parsed.images) == 3 and all(src.startswith("data:image/png;base64,") for src in parsed.images)
    assert {"claims", "a", "b", "c", "d"} <= set(parsed.ids)
    cells = parsed.cells[parsed.cells.index("experiment") :]  # the claims table, after the summary
    # Papers group the table: both paper 002 rows follow their header, then paper 001's.
    assert (
        cells.index("paper 002")
        < cells.index("a")
        < cells.index("c")
        < cells.index("paper 001")
        < cells.index("b")
    )
    assert "claim <a>" in cells  # text is escaped, not parsed as a tag
    assert "paper 002 Theorem 1." in text  # the full citation in the section
    # The three verdicts and the error each have their own badge.
    for status in ("agrees", "disagrees", "inconclusive", "error"):
        assert f'<span class="verdict {status}">{status}</span>' in text
    results = json.loads((tmp_path / "results.json").read_text())
    assert [r["verdict"] for r in results] == ["agrees", "disagrees", "inconclusive", "error"]
    assert results[0]["figures"] == ["a/cloud.png"] and results[3]["error"] == "Traceback: boom"
    assert results[0]["citation"] == "paper 002 Theorem 1."


def test_records_check_their_status():
    with pytest.raises(ValueError, match="status"):
        RunRecord("a", "t", "p", "c", "claim", {}, True, 0.0, "maybe")
    with pytest.raises(ValueError, match="error"):
        RunRecord("a", "t", "p", "c", "claim", {}, True, 0.0, "error")


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
