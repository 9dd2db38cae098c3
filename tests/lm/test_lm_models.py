"""Model loading: names, directories, the cache location, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from attnflow.lm import LanguageModel, as_language_model, cache_dir, load, trace


def test_cache_dir_respects_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("ATTNFLOW_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "attnflow"
    monkeypatch.setenv("ATTNFLOW_CACHE", str(tmp_path / "mine"))
    assert cache_dir() == tmp_path / "mine"
    monkeypatch.delenv("ATTNFLOW_CACHE")
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_dir() == Path.home() / ".cache" / "attnflow"


def test_unknown_model_name_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match=r"unknown model 'no-such-model'.*smollm2-135m, minilm-l6"):
        load("no-such-model")
    with pytest.raises(ValueError, match="unknown model"):
        load(str(tmp_path))  # a directory without config.json


def test_load_a_local_directory(tiny_text_model_dir, tiny_text_model):
    assert isinstance(tiny_text_model, LanguageModel)
    assert tiny_text_model.name == str(tiny_text_model_dir)
    assert tiny_text_model.family.name == "llama" and tiny_text_model.n_layers == 2
    assert tiny_text_model.max_length == 64 and tiny_text_model.unembedding is not None
    traj = trace(tiny_text_model, "the cat sat")
    assert traj.labels == ("[CLS]", "the", "cat", "sat", "[SEP]")
    with pytest.raises(ValueError, match="context is at most 64 tokens"):
        trace(tiny_text_model, "word " * 70)


def test_load_shows_no_huggingface_progress_bar_and_restores_its_setting(tiny_text_model_dir, capfd):
    from transformers.utils import logging as hf_logging

    assert hf_logging.is_progress_bar_enabled()
    load(str(tiny_text_model_dir))
    assert "Loading weights" not in capfd.readouterr().err
    assert hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        load(str(tiny_text_model_dir))
        assert not hf_logging.is_progress_bar_enabled()
    finally:
        hf_logging.enable_progress_bar()


def test_wrapping_keeps_a_given_tokenizer(tiny_models):
    lm = as_language_model(tiny_models["bert"], tokenizer="tok")
    assert lm.tokenizer == "tok" and lm.final_norm is None and lm.unembedding is None
    assert lm.device == torch.device("cpu")
    with pytest.raises(TypeError, match="model must be a HuggingFace Transformer"):
        as_language_model("gpt2")
