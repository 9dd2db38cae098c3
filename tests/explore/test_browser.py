"""The explore page in a real browser: frames arrive, β moves the clustering, the canvas is drawn."""

from __future__ import annotations

import base64
import io

import pytest
from matplotlib import image

pytestmark = pytest.mark.browser


def test_the_page_streams_clusters_and_draws_them(live_server: str, browser) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    page.set_default_timeout(90_000)  # a loaded CI machine renders slowly in software WebGL
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.goto(live_server)
    page.wait_for_function("window.attnflowExplore && window.attnflowExplore.received > 0", timeout=30_000)
    assert page.locator("#equation .katex").count() == 1  # the field's equation is rendered math
    page.fill("#n", "150")  # a small cloud keeps the test fast; a new n redraws the start
    page.dispatch_event("#n", "change")
    page.wait_for_function(
        "document.getElementById('frame').textContent === '0' && window.attnflowExplore.cloud.count === 150",
        timeout=30_000,
    )
    first = page.evaluate("window.attnflowExplore.lastFrame")
    # Turn β up with the slider, as a user would, then play.
    page.eval_on_selector("#beta", "el => { el.value = 12; el.dispatchEvent(new Event('input')); }")
    assert "\\beta &= 12" in page.evaluate("document.querySelector('#equation annotation').textContent")
    page.eval_on_selector("#play", "el => el.click()")
    # Tokens merge at β = 12: the cluster-count readout must move (frames keep arriving meanwhile).
    page.wait_for_function(
        f"window.attnflowExplore.lastFrame.clusters !== {first['clusters']} && "
        "window.attnflowExplore.received > 10"
    )
    page.eval_on_selector("#pause", "el => el.click()")
    # Frames already in flight when pause is clicked still land: read the frame and the readout in one
    # evaluation (the page sets both in one message handler), so they belong to the same frame.
    last, readout = page.evaluate(
        "[window.attnflowExplore.lastFrame, document.getElementById('clusters').textContent]"
    )
    assert last["index"] > first["index"] and last["time"] > 0
    assert last["clusters"] < first["clusters"]
    assert readout == str(last["clusters"])
    # The canvas's own pixels (its drawing buffer is preserved), read without a page screenshot.
    url = page.evaluate("document.querySelector('#cloud canvas').toDataURL('image/png')")
    canvas = image.imread(io.BytesIO(base64.b64decode(url.split(",", 1)[1])), format="png")
    assert canvas[..., :3].std() > 0.02  # not a blank canvas: points and the sphere were drawn
    assert not errors, errors
    page.close()


def test_bad_input_shows_a_message_in_the_page(live_server: str, browser) -> None:
    page = browser.new_page()
    page.goto(live_server)
    page.wait_for_function("window.attnflowExplore && window.attnflowExplore.received > 0", timeout=30_000)
    page.fill("#n", "999999999")
    page.dispatch_event("#n", "change")
    page.wait_for_function("document.getElementById('error').textContent.length > 0", timeout=30_000)
    assert "n must be between" in page.inner_text("#error")
    page.close()
