"""The report as a reader sees it: typeset formulas, captioned figures in three formats, legends off the
data, tables that fit a narrow window; the browser test renders it in headless Chromium."""

import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from attnflow.viz.claims import plot_in_context_losses, plot_mixers_across_worlds, plot_mixers_compared
from attnflow.viz.figure import caption_of, finish, legend_overlaps, new_figure
from attnflow.viz.report import RunRecord, math_html, tex_of, write_report

CLAIM = "With Q = K = V = I, the energy E_β = (1/2βn²) Σ_ij e^{β⟨x_i,x_j⟩} grows on S^{d−1}."


def test_formula_words_become_tex_spans_and_identifiers_stay_text():
    html = math_html(CLAIM + " See key_dim and n^-2/5.")
    assert '<span class="math">E_{\\beta }</span>' in html
    assert '<span class="math">e^{\\beta \\langle x_{i},x_{j}\\rangle }</span>' in html
    assert '<span class="math">S^{d-1}</span>.' in html  # the full stop stays outside the formula
    assert "key_dim" in html and '<span class="math">n^{-2/5}</span>.' in html
    # With explicit $…$ spans only those are formulas.
    assert math_html("key_dim and $n^{-2/5}$") == 'key_dim and <span class="math">n^{-2/5}</span>'
    assert "key_dim" in math_html("key_dim") and "math" not in math_html("key_dim and ratio_range")
    assert tex_of("n^-2/5") == "n^{-2/5}" and tex_of("dE_β/dt") == "dE_{\\beta }/dt"
    assert math_html("claim <a>") == "claim &lt;a&gt;"


def test_a_png_comes_with_svg_pdf_and_its_caption(tmp_path):
    fig = new_figure(4, 3)
    ax = fig.add_subplot()
    ax.plot([0, 1], [1, 0])
    ax.set(xlabel="time t", ylabel="energy E_β", title="staircase")
    finish(fig, tmp_path / "f.png")
    assert {p.suffix for p in tmp_path.iterdir()} == {".png", ".svg", ".pdf"}
    assert caption_of(tmp_path / "f.png") == "staircase: energy E_β against time t."
    assert "staircase: energy E_β against time t." in (tmp_path / "f.svg").read_text()
    finish(fig, tmp_path / "g.png", caption="What is plotted.")
    assert caption_of(tmp_path / "g.png") == "What is plotted."


def test_legends_are_moved_off_the_data():
    fig = new_figure(4, 3)
    ax = fig.add_subplot()
    # Data everywhere inside the axes: no place inside is free, so the legend must go outside.
    x = np.linspace(0, 1, 50)
    for level in np.linspace(0, 1, 12):
        ax.plot(x, np.full_like(x, level), label=f"{level:.1f}" if level == 0 else None)
    ax.legend(loc="center")
    assert legend_overlaps(fig) == ["axes 0"]  # the check sees a legend on data
    finish(fig, None)
    from attnflow.viz.figure import keep_legends_off_data

    keep_legends_off_data(fig)
    assert legend_overlaps(fig) == []
    # The figures named in the issue: mixers-compared (bars) and in-context (points).
    mixers = plot_mixers_compared(
        ["attention", "linear", "ssm", "conv"],
        np.array([0.01, 0.2, 0.3, 0.25]),
        0.05,
        np.array([0.6, 0.5, 0.4, 0.7]),
        [True, False, False, False],
        "mixers",
    )
    positions = np.arange(12)
    in_context = plot_in_context_losses(
        np.full(12, 1.5),
        np.full(12, 1.2),
        1.2 - 0.5 * positions / 12,
        1.1 - 0.5 * positions / 12,
        "attention",
    )
    worlds = plot_mixers_across_worlds(
        ["markov", "in-context"],
        ["attention", "linear", "ssm", "conv"],
        np.array([[0.004, 0.005, 0.004, 0.004], [0.03, 0.04, 0.18, 0.19]]),
        [0.2, 0.3],
        [0.45, 0.65],
        [True, True, False, False],
    )
    for fig in (mixers, in_context, worlds):
        keep_legends_off_data(fig)
        assert legend_overlaps(fig) == []
    # The bar colours of mixers-compared mean something, and the legend says what.
    labels = [t.get_text() for t in mixers.axes[0].get_legend().get_texts()]
    assert "data-dependent weights (attention)" in labels and "fixed weights" in labels
    # Across worlds: KLs a hundredfold apart share one log axis; every mixer, the bound and the rival named.
    (ax,) = worlds.axes
    assert ax.get_yscale() == "log"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "ssm (fixed filters)" in labels and "attention (data-dependent)" in labels
    assert "best context-free law" in labels


def _report(tmp_path):
    fig = new_figure(5, 3.5)
    ax = fig.add_subplot()
    x = np.linspace(0, 1, 40)
    for level in np.linspace(0, 1, 9):
        ax.plot(x, np.full_like(x, level), label=f"E_β level {level:.2f}")
    ax.legend(loc="center")  # deliberately on the data: finish must move it
    ax.set(xlabel="time t", ylabel="normalised energy E_β(t)/E_β(∞)", title="staircase")
    finish(fig, tmp_path / "run" / "staircase.png")
    record = RunRecord(
        name="energy-monotone",
        title="The interaction energy E_β increases",
        paper="Geshkovski et al. (2023). A mathematical perspective on Transformers.",
        citation="Geshkovski et al. (2023); Proposition 3.4.",
        claim=CLAIM,
        params={"n": 32, "betas": [1.0, 4.0]},
        quick=True,
        seconds=1.0,
        status="agrees",
        prediction="dE_β/dt ≥ 0",
        measured="min over steps of ΔE_β = 0.0013",
        tolerance="ΔE_β > −1e-9 (float64 rounding)",
        values={"min_increment": 0.0013},
        figures=[tmp_path / "run" / "staircase.png"],
    )
    return write_report([record], tmp_path)


_PROBE = """<script>window.addEventListener('load', () => { setTimeout(() => {
  const text = document.body.innerText;
  const raw = ['\\\\beta', '^{', '_{', '\\\\langle'].filter(s => text.includes(s));
  const wide = document.documentElement.scrollWidth > window.innerWidth + 1;
  document.title = 'katex=' + document.querySelectorAll('.math .katex').length
    + ' of=' + document.querySelectorAll('.math').length + ' raw=' + raw.join('|')
    + ' errors=' + document.querySelectorAll('.katex-error').length + ' wide=' + wide + ' end';
}, 200); });</script></body>"""


@pytest.mark.browser
def test_report_in_headless_chromium_shows_typeset_math_and_fits_a_narrow_window(tmp_path):
    browser = shutil.which("chromium")
    if browser is None:
        pytest.skip("chromium is not installed (apt-get install chromium; .ci/run installs it)")
    page = _report(tmp_path)
    assert caption_of(tmp_path / "run" / "staircase.png")
    probe = tmp_path / "probe.html"
    probe.write_text(page.read_text().replace("</body>", _PROBE))
    base = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=10000"]
    for width in (1200, 420):  # a desktop window, then a phone-width one
        dom = subprocess.run(
            [*base, f"--window-size={width},900", "--dump-dom", probe.as_uri()],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout
        state = dom.split("<title>")[1].split("</title>")[0]
        counts = dict(item.split("=", 1) for item in state.split()[:-1])
        assert int(counts["katex"]) == int(counts["of"]) > 5, state
        assert counts["raw"] == "" and counts["errors"] == "0", state
        assert counts["wide"] == "false", f"the page overflows a {width}px window: {state}"
    shot = tmp_path / "report.png"
    subprocess.run(
        [*base, "--window-size=1200,1600", f"--screenshot={shot}", page.as_uri()],
        capture_output=True,
        timeout=120,
        check=True,
    )
    with Image.open(shot) as image:
        pixels = np.asarray(image.convert("L"))
    # Rendered text and a figure: the screenshot is far from one flat colour.
    assert pixels.std() > 20
