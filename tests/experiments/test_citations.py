"""Every experiment cites a paper structurally, says what was checked, and the references page lists each
paper once."""

import re
from pathlib import Path

import pytest

from attnflow.experiments import EXPERIMENTS
from attnflow.experiments.papers import PAPERS

REFERENCES = Path(__file__).resolve().parents[2] / "docs" / "references.md"


@pytest.mark.parametrize("experiment", EXPERIMENTS, ids=lambda e: e.name)
def test_citation_is_structured_and_says_what_was_checked(experiment):
    citation = experiment.citation
    assert citation.authors and citation.title and citation.year >= 2022
    assert re.fullmatch(r"\d{4}\.\d{5}", citation.arxiv or "")
    assert citation.where, "the theorem, section or figure that states the claim"
    assert citation.checked, "what of the claim was compared with the paper's text"
    assert any(citation.arxiv == paper.arxiv and citation.title == paper.title for paper in PAPERS)


@pytest.mark.parametrize("experiment", EXPERIMENTS, ids=lambda e: e.name)
def test_no_seed_numbers_in_what_reports_show(experiment):
    shown = " ".join(
        [experiment.title, experiment.claim, str(experiment.citation), experiment.citation.checked]
    )
    assert not re.search(r"seed[ -]?00\d", shown, re.IGNORECASE)


def test_references_page_lists_each_paper_once_in_order():
    text = REFERENCES.read_text()
    positions = []
    for paper in PAPERS:
        rows = [line for line in text.splitlines() if line.startswith("|") and paper.arxiv in line]
        assert len(rows) == 1, f"{paper.arxiv} must have exactly one row"
        assert paper.title in rows[0]
        positions.append(text.index(rows[0]))
    assert positions == sorted(positions)
    cited = {e.citation.arxiv for e in EXPERIMENTS}
    assert cited <= {p.arxiv for p in PAPERS}
