"""The sweep view (a store named on the command line) and the model view (one recorded pass)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("starlette")
pytest.importorskip("httpx")

from starlette.testclient import TestClient

from attnflow.explore import create_app


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from attnflow import sweep
    from attnflow.sweep.executors import ExecutorConfig
    from attnflow.sweep.spec import SweepSpec

    spec = SweepSpec.from_dict(
        {
            "simulation": "self-attention",
            "params": {"n": 12, "t_end": 1.0, "dt": 0.1},
            "grid": {"beta": [1.0, 4.0], "d": [2, 3]},
            "seeds": 2,
            "measurements": ["energy"],
        }
    )
    path = tmp_path_factory.mktemp("sweep") / "s.zarr"
    sweep.run(spec, path, ExecutorConfig(workers=1))
    return path


def test_the_sweep_view_shows_the_grid_and_replays_a_cell(store: Path) -> None:
    from attnflow import sweep

    client = TestClient(create_app(sweep=store))
    assert client.get("/api/config").json()["sweep"] is True
    summary = client.get("/api/sweep").json()
    assert summary["dims"] == ["beta", "d"] and summary["coords"] == {"beta": [1.0, 4.0], "d": [2, 3]}
    grid = np.array(summary["values"]["energy (last time)"])
    expected = sweep.load_results(store)["energy"].isel(time=-1).mean("seed").transpose("beta", "d")
    assert np.allclose(grid, expected.values)
    run = client.get("/api/sweep/run", params={"index": 3}).json()
    assert (run["beta"], run["d"], run["n"]) == (4.0, 3, 12)
    assert run["seed"] == int(sweep.load_results(store)["seed"][0])
    assert "index" in client.get("/api/sweep/run", params={"index": 99}).json()["error"]


def test_the_model_view_projects_every_layer_onto_the_sphere() -> None:
    transformers = pytest.importorskip("transformers")
    from attnflow.explore.model import trace_layers
    from attnflow.lm import as_language_model

    config = transformers.GPT2Config(n_positions=32, n_embd=16, n_layer=2, n_head=2, vocab_size=50)
    model = transformers.GPT2LMHeadModel(config).eval()
    result = trace_layers(as_language_model(model), [5, 7, 11, 13])
    points = np.array(result["points"])
    assert points.shape == (3, 4, 3) and result["layers"] == 3
    assert np.allclose(np.linalg.norm(points, axis=-1), 1, atol=1e-4)
    assert len(result["lens"]) == 3 and len(result["tokens"]) == 4
