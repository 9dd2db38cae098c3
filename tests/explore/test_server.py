"""The explore server: parameter checks, frames over the WebSocket, independence and cancellation."""

from __future__ import annotations

import base64
import time

import numpy as np
import pytest

pytest.importorskip("starlette")
pytest.importorskip("httpx")

from starlette.testclient import TestClient

from attnflow.explore import ParticleSession, check_params, create_app
from attnflow.explore.session import BOUNDS


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(create_app())


def points_of(message: dict) -> np.ndarray:
    return np.frombuffer(base64.b64decode(message["points"]), dtype=np.float32).reshape(message["shape"])


def test_the_page_and_its_assets_are_served(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "/static/explore.js" in page.text
    assert client.get("/static/explore.js").status_code == 200
    assert client.get("/static/katex/katex.min.css").status_code == 200
    assert client.get("/static/katex/fonts/KaTeX_Main-Regular.woff2").status_code == 200
    config = client.get("/api/config").json()
    assert config["bounds"]["n"] == list(BOUNDS["n"]) and config["sweep"] is False


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"n": 10**7}, "n must be between"),
        ({"beta": "hot"}, "beta must be a finite number"),
        ({"d": 2.5}, "d must be an integer"),
        ({"variant": "nope"}, "variant"),
        ({"colour": 1}, "unknown parameter"),
    ],
)
def test_bad_parameters_get_one_line_naming_them(params: dict, message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        check_params(params)


def test_frames_arrive_with_the_right_shape_and_follow_the_library(client: TestClient) -> None:
    with client.websocket_connect("/ws/particles") as ws:
        ws.send_json({"type": "reset", "params": {"n": 50, "d": 3, "beta": 2.0, "seed": 3}})
        first = ws.receive_json()
        assert first["type"] == "frame" and first["index"] == 0 and first["shape"] == [50, 3]
        ws.send_json({"type": "step", "params": {}})
        second = ws.receive_json()
    assert second["index"] == 1 and second["time"] == pytest.approx(0.1)
    # The same parameters in a session of our own give the same cloud (the server adds nothing).
    session = ParticleSession({"n": 50, "d": 3, "beta": 2.0, "seed": 3})
    session.advance()
    assert np.allclose(points_of(second), session.frame().points, atol=1e-6)
    assert np.allclose(np.linalg.norm(points_of(second), axis=1), 1, atol=1e-5)


def test_a_bad_command_is_answered_in_the_page_and_the_stream_goes_on(client: TestClient) -> None:
    with client.websocket_connect("/ws/particles") as ws:
        ws.send_json({"type": "reset", "params": {"n": 10**6}})
        error = ws.receive_json()
        assert error["type"] == "error" and "n must be between" in error["message"]
        ws.send_json({"type": "dance"})
        assert "unknown command" in ws.receive_json()["message"]
        ws.send_json({"type": "reset", "params": {"n": 20}})
        assert ws.receive_json()["shape"] == [20, 3]


def test_play_streams_and_two_connections_are_independent(client: TestClient) -> None:
    with client.websocket_connect("/ws/particles") as one, client.websocket_connect("/ws/particles") as two:
        one.send_json({"type": "reset", "params": {"n": 30, "d": 2, "seed": 1}})
        two.send_json({"type": "reset", "params": {"n": 40, "d": 3, "seed": 2}})
        assert one.receive_json()["shape"] == [30, 2]
        assert two.receive_json()["shape"] == [40, 3]
        one.send_json({"type": "play", "params": {}})
        indices = [one.receive_json()["index"] for _ in range(5)]
        assert indices == sorted(indices) and indices[-1] >= 5
        two.send_json({"type": "step", "params": {}})
        assert two.receive_json()["index"] == 1  # the other page's simulation did not move this one
        one.send_json({"type": "update", "params": {"beta": 9.0}})
        one.send_json({"type": "pause", "params": {}})


def test_a_closed_page_stops_its_simulation(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    original = ParticleSession.advance

    def counted(self: ParticleSession):
        calls.append(time.monotonic())
        return original(self)

    monkeypatch.setattr(ParticleSession, "advance", counted)
    with client.websocket_connect("/ws/particles") as ws:
        ws.send_json({"type": "reset", "params": {"n": 20}})
        ws.receive_json()
        ws.send_json({"type": "play", "params": {}})
        for _ in range(3):
            ws.receive_json()
    time.sleep(0.3)
    settled = len(calls)
    time.sleep(0.5)
    assert len(calls) == settled  # no simulation runs for a page that has gone


def test_changing_n_without_a_reset_is_refused() -> None:
    session = ParticleSession({"n": 10})
    with pytest.raises(ValueError, match="needs a reset"):
        session.update({"n": 12})


def test_the_sweep_and_model_views_say_when_nothing_was_named(client: TestClient) -> None:
    assert "--sweep" in client.get("/api/sweep").json()["error"]
    assert "--model" in client.post("/api/model", json={"prompt": "hi"}).json()["error"]


@pytest.mark.parametrize(
    "params",
    [{"variant": "hardmax"}, {"normalization": "pre"}, {"noise": 0.3, "method": "euler"}],
    ids=["hardmax", "pre-LN", "noise"],
)
def test_the_page_runs_every_field_option_reproducibly(params: dict) -> None:
    frames = []
    for _ in range(2):
        session = ParticleSession({"n": 40, "seed": 5, **params})
        session.advance()
        frames.append(session.advance().points)
    assert np.array_equal(frames[0], frames[1])  # same parameters and seed, same frames (noise included)
    assert np.allclose(np.linalg.norm(frames[0], axis=1), 1, atol=1e-5)
