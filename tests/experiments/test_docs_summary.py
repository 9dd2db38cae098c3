"""The verdicts-at-a-glance table of docs/reproduce.md is read back from the generated sections."""

from attnflow.experiments.reproduction import write_docs_summary


def _section(name: str, title: str, verdict: str, size: str = "full") -> str:
    shown = f"*{verdict}*" if verdict == "inconclusive" else f"**{verdict}**"
    return (
        f"<!-- BEGIN reproduce:{name} -->\n## `{name}`: {title}\n\n*Source:* A (2024). T. arXiv:2401.00001; "
        f"Thm 1 · *size:* {size} · *run time:* 1.0 s (1 torch thread(s), 2 CPUs) · *verdict:* {shown}\n\n"
        f"**Claim.** c\n<!-- END reproduce:{name} -->\n"
    )


def test_summary_counts_every_section_and_follows_a_rerun(tmp_path):
    page = tmp_path / "reproduce.md"
    retired = "<!-- BEGIN retired:old -->\n## `old` (retired)\n<!-- END retired:old -->\n"
    page.write_text(
        "# Reproducing\n\nintro\n\n"
        + _section("alpha", "A | B", "agrees")
        + _section("beta", "Beta", "inconclusive")
        + _section("gamma", "Gamma", "disagrees")
        + retired
    )
    write_docs_summary(page)
    text = page.read_text()
    assert (
        text.index("intro") < text.index("<!-- BEGIN reproduce-summary -->") < text.index("reproduce:alpha")
    )
    assert "3 experiments (full size): 1 agree, 1 disagree, 1 inconclusive" in text
    assert "| `alpha` | A \\| B | full | **agrees** |" in text
    assert "| `beta` | Beta | full | *inconclusive* |" in text
    assert "Retired (their sections below say why): `old`." in text
    # A rerun rewrites one section; the summary follows it and is not duplicated.
    page.write_text(
        text.replace(_section("gamma", "Gamma", "disagrees"), _section("gamma", "Gamma", "agrees"))
    )
    write_docs_summary(page)
    text = page.read_text()
    assert text.count("<!-- BEGIN reproduce-summary -->") == 1
    assert "2 agree, 0 disagree, 1 inconclusive" in text and "| `gamma` | Gamma | full | **agrees** |" in text


def test_a_failed_run_is_counted(tmp_path):
    page = tmp_path / "reproduce.md"
    page.write_text(_section("alpha", "A", "agrees") + _section("beta", "B", "error"))
    write_docs_summary(page)
    assert "2 experiments (full size): 1 agree, 0 disagree, 0 inconclusive, 1 failed" in page.read_text()


def test_a_page_without_sections_is_left_alone(tmp_path):
    page = tmp_path / "reproduce.md"
    page.write_text("# Reproducing\n")
    write_docs_summary(page)
    assert page.read_text() == "# Reproducing\n"
