"""Model loading is offline by construction and never runs a model directory's code."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

transformers = pytest.importorskip("transformers")

from attnflow import lm  # noqa: E402


@pytest.fixture
def online_environment_without_network(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[tuple]:
    """An environment that allows the Hub (no offline variable) on a machine whose sockets all fail.

    Returns the list of attempted connections (each a tuple of the call's arguments).
    """
    from huggingface_hub import constants
    from huggingface_hub.utils import _detect_agent

    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    # huggingface_hub caches a registry it fetches while building request headers: start without it.
    monkeypatch.setattr(constants, "AGENT_HARNESSES_PATH", str(tmp_path / "agents.json"), raising=False)
    monkeypatch.setattr(_detect_agent, "_registry", None, raising=False)
    attempts: list[tuple] = []

    def refuse(*args: object, **kwargs: object) -> None:
        attempts.append(args)
        raise OSError("this test has no network")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    return attempts


def test_an_uncached_hub_id_fails_in_one_line_without_touching_the_network(
    online_environment_without_network: list[tuple],
) -> None:
    with pytest.raises(ValueError, match=r"^unknown model 'nobody/not-cached'.*never downloads") as err:
        lm.load("nobody/not-cached")
    assert "\n" not in str(err.value)
    assert online_environment_without_network == []


def test_offline_mode_is_restored_after_loading(online_environment_without_network: list[tuple]) -> None:
    import os

    from huggingface_hub import constants

    with pytest.raises(ValueError):
        lm.load("nobody/not-cached")
    assert constants.HF_HUB_OFFLINE is False
    assert "HF_HUB_OFFLINE" not in os.environ and "TRANSFORMERS_OFFLINE" not in os.environ


def test_a_model_directory_with_its_own_code_is_refused_without_running_it(tmp_path: Path) -> None:
    marker = tmp_path / "code-ran"
    (tmp_path / "config.json").write_text(
        json.dumps(
            {
                "model_type": "attnflow-hostile",
                "auto_map": {"AutoConfig": "hostile.HostileConfig", "AutoModel": "hostile.HostileModel"},
            }
        )
    )
    (tmp_path / "hostile.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    with pytest.raises(ValueError, match=r"^model .* does not load: .*contains custom code") as err:
        lm.load(str(tmp_path))
    assert not marker.exists()
    assert "\n" not in str(err.value)


def test_every_load_passes_trust_remote_code_false(
    monkeypatch: pytest.MonkeyPatch, tiny_text_model_dir: Path
) -> None:
    seen: list[dict] = []
    for auto in (transformers.AutoConfig, transformers.AutoModelForCausalLM, transformers.AutoTokenizer):
        original = auto.from_pretrained.__func__

        def spy(cls, *args, _original=original, **kwargs):
            seen.append(kwargs)
            return _original(cls, *args, **kwargs)

        monkeypatch.setattr(auto, "from_pretrained", classmethod(spy))
    lm.load(str(tiny_text_model_dir))
    assert len(seen) >= 3
    assert all(kwargs.get("trust_remote_code") is False for kwargs in seen)
    assert all(kwargs.get("local_files_only") is True for kwargs in seen)


def test_truncated_weights_fail_in_one_line(tiny_text_model_dir: Path, tmp_path: Path) -> None:
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(tiny_text_model_dir, broken)
    weights = broken / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(ValueError, match=r"^model '.*broken' does not load") as err:
        lm.load(str(broken))
    assert "\n" not in str(err.value)
