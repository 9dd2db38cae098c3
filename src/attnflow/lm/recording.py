"""One recorded forward pass that every analysis of a real model reads (like TransformerLens's cache).

:func:`record` runs the model once through forward hooks on its own modules (nothing is
re-implemented) and keeps what the analyses need: the token ids and strings, the residual stream, the
final-norm state, each block's attention and MLP contributions, the state after attention, and the
logits. :func:`~attnflow.lm.trace`, :func:`~attnflow.lm.decompose`, the lenses,
:func:`~attnflow.lm.context_entropy` and the particle measures of :mod:`attnflow.measure` all read a
:class:`Recording`; given a model and a text instead, they record once themselves.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr
from torch import nn

from attnflow import io
from attnflow.lm._arch import submodule
from attnflow.lm.models import LanguageModel, as_language_model, is_batch
from attnflow.trajectory import Trajectory

_TENSORS = ("residual", "final", "attention", "mlp", "post_attention", "logits", "patterns", "head_outputs")
_DIMS = {
    "residual": ("state", "token", "dim"),
    "final": ("token", "dim"),
    "attention": ("block", "token", "dim"),
    "mlp": ("block", "token", "dim"),
    "post_attention": ("block", "token", "dim"),
    "logits": ("token", "vocab"),
    "patterns": ("block", "head", "query", "key"),
    "head_outputs": ("block", "head", "token", "dim"),
}
#: Where a block puts its norms: before each sublayer (``x + f(norm(x))``), after the residual sum
#: (``norm(x + f(x))``), or around each sublayer (``x + norm(f(norm(x)))``).
NORM_PLACEMENTS = ("pre", "post", "peri")


@dataclass(frozen=True, eq=False)
class Recording:
    """What one hooked forward pass saw, for a single sequence of ``n`` tokens through ``L`` blocks.

    Tensors stay where the model computed them (its device and dtype). ``eq=False``: the fields are
    tensors; compare them directly.

    Attributes:
        ids: ``(n,)`` the token ids (int64, CPU).
        labels: the ``n`` decoded token strings.
        residual: ``(L + 1, n, d)`` residual stream before block 0 and after every block (no final norm).
        final: ``(n, d)`` the last state after the final norm (equals ``residual[-1]`` without one).
        attention: ``(L, n, d)`` what each attention sublayer contributed (before any post-norm), or
            ``None`` if sublayers were not recorded.
        mlp: ``(L, n, d)`` what each MLP added (pre-norm families), else ``None``.
        post_attention: ``(L, n, d)`` the residual stream after attention, inside each block, or ``None``.
            Recorded where the block has it (the input of the first norm after attention; for post-norm
            blocks the output of the norm after attention); for a parallel block (attention and MLP
            both read the block input) it is ``residual + attention``.
        logits: ``(n, vocab)`` the model's own logits, or ``None`` (no output head, or not recorded).
        patterns: ``(L, H, n, n)`` every head's attention weights (query × key), or ``None``.
        head_outputs: ``(L, H, n, d)`` what each head writes through the output projection ``W_O``
            (its slice of ``W_O`` times its output; the heads sum to the projection's output minus its
            bias), or ``None``.
        model_name: the model's name.
        family: the model's family (``"gpt2"``, ``"llama"``, ``"gpt_neox"``, ``"bert"``).
        causal: whether the model reads left to right.
        has_final_norm: whether the model has a final norm (so ``final`` differs from ``residual[-1]``).
        norm_placement: ``"pre"``, ``"post"`` or ``"peri"`` (see :data:`NORM_PLACEMENTS`), detected
            from the recorded pass; ``""`` when sublayers were not recorded.
        parallel: whether attention and MLP both read the block input (GPT-NeoX's parallel residual).
        language_model: the :class:`~attnflow.lm.LanguageModel` that was run (the lenses and ablations
            need its weights); ``None`` for a recording loaded from a store without a model.
    """

    ids: torch.Tensor
    labels: tuple[str, ...]
    residual: torch.Tensor
    final: torch.Tensor
    attention: torch.Tensor | None = None
    mlp: torch.Tensor | None = None
    post_attention: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    patterns: torch.Tensor | None = None
    head_outputs: torch.Tensor | None = None
    model_name: str = "model"
    family: str = ""
    causal: bool = False
    has_final_norm: bool = False
    norm_placement: str = ""
    parallel: bool = False
    language_model: LanguageModel | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.residual.ndim != 3:
            raise ValueError(f"residual must have shape (L + 1, n, d), got {tuple(self.residual.shape)}")
        n = self.residual.shape[1]
        if self.ids.shape != (n,) or len(self.labels) != n:
            raise ValueError(
                f"ids and labels must have one entry per token ({n}), got {tuple(self.ids.shape)} ids and "
                f"{len(self.labels)} labels"
            )
        object.__setattr__(self, "labels", tuple(str(s) for s in self.labels))

    @property
    def n_layers(self) -> int:
        """Number of blocks ``L``."""
        return self.residual.shape[0] - 1

    @property
    def n_tokens(self) -> int:
        """Number of tokens ``n``."""
        return self.residual.shape[1]

    @property
    def dim(self) -> int:
        """Width ``d`` of the residual stream."""
        return self.residual.shape[2]

    @property
    def has_sublayers(self) -> bool:
        """Whether the attention contributions and post-attention states were recorded."""
        return self.attention is not None and self.post_attention is not None

    def model_for(self, what: str) -> LanguageModel:
        """The model that was run, for an analysis (``what``) that needs its weights.

        Raises:
            ValueError: the recording holds no model (it was loaded from a store without one).
        """
        if self.language_model is None:
            raise ValueError(
                f"{what} needs the model's weights and this Recording holds none (it was loaded from a "
                "store); load it with Recording.load(path, model=...)"
            )
        return self.language_model

    def trajectory(self, *, sublayers: bool = False, final_norm: bool = True) -> Trajectory:
        """The tokens' residual-stream states through the layers, as a Trajectory over ``axis="layer"``.

        With ``sublayers=False`` the states are at layers ``0, 1, …, L``: the input of block 0 (the
        embeddings) and the output of every block; with ``final_norm=True`` the last state has the final
        norm applied, so the states equal the model's own ``output_hidden_states`` exactly. With
        ``sublayers=True`` the state after each block's attention sublayer is inserted at ``l + 0.5``
        (``params["stages"]`` names every state: ``"embed"``, ``"attn.l"``, ``"mlp.l"``). For post-norm
        encoders (BERT) the ``attn.l`` state is the block's state after its first LayerNorm.

        Args:
            sublayers: include the state after attention inside every block.
            final_norm: apply the model's final norm to the last state (as HuggingFace does).

        Returns:
            The :class:`~attnflow.Trajectory` (float CPU copy; labels are the token strings).

        Raises:
            ValueError: ``sublayers=True`` on a recording made without sublayers.
        """
        residual = self.residual.detach().cpu().clone()
        if final_norm:
            residual[-1] = self.final.detach().cpu()
        n_layers = self.n_layers
        if sublayers:
            if not self.has_sublayers:
                raise ValueError("sublayers=True needs a recording made with sublayers=True")
            states = torch.empty((2 * n_layers + 1, *residual.shape[1:]), dtype=residual.dtype)
            states[0::2] = residual
            states[1::2] = self.post_attention.detach().cpu()
            times = torch.arange(2 * n_layers + 1, dtype=torch.float64) / 2
            stages = ["embed"] + [f"{kind}.{i}" for i in range(n_layers) for kind in ("attn", "mlp")]
        else:
            states, times = residual, torch.arange(n_layers + 1, dtype=torch.float64)
            stages = ["embed"] + [f"mlp.{i}" for i in range(n_layers)]
        params = {
            "model": self.model_name,
            "family": self.family,
            "causal": self.causal,
            "token_ids": self.ids.tolist(),
            "final_norm": bool(final_norm and self.has_final_norm),
            "sublayers": sublayers,
            "stages": stages,
        }
        return Trajectory(times=times, x=states, labels=self.labels, axis="layer", params=params)

    def to_dataset(self) -> xr.Dataset:
        """The recording as an :class:`xarray.Dataset` (tensors as float arrays; no model reference)."""
        data: dict[str, Any] = {"ids": ("token", self.ids.numpy())}
        for name in _TENSORS:
            value = getattr(self, name)
            if value is not None:
                value = value.detach().cpu()
                if value.dtype == torch.bfloat16:  # NumPy has no bfloat16: stored as float32
                    value = value.float()
                data[name] = (_DIMS[name], value.numpy())
        return xr.Dataset(
            data,
            coords={
                "state": np.arange(self.n_layers + 1),
                "block": np.arange(self.n_layers),
                "token": np.arange(self.n_tokens),
                "label": ("token", np.array(self.labels, dtype=object)),
            },
            attrs={
                "model": self.model_name,
                "family": self.family,
                "causal": int(self.causal),
                "has_final_norm": int(self.has_final_norm),
                "norm_placement": self.norm_placement,
                "parallel": int(self.parallel),
            },
        )

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the recording (not the model) to a Zarr store of kind ``"recording"``, atomically.

        :func:`attnflow.load` and :meth:`load` read it back (bfloat16 tensors come back as float32).
        """
        return io.write_dataset(path, self.to_dataset(), kind="recording")

    @classmethod
    def load(cls, path: str | os.PathLike[str], model: LanguageModel | nn.Module | None = None) -> Recording:
        """Read back what :meth:`save` wrote.

        Args:
            path: the store.
            model: the model that was recorded, to attach for the analyses that need its weights.

        Raises:
            FileNotFoundError: nothing at ``path``.
            attnflow.io.StoreFormatError: ``path`` is not a recording store.
            ValueError: ``model`` is not of the recorded family and depth.
        """
        ds = io.load_dataset(path, "recording")
        tensors = {name: torch.from_numpy(ds[name].values) if name in ds else None for name in _TENSORS}
        lm = None if model is None else as_language_model(model)
        recorded = (str(ds.attrs["family"]), ds.sizes["state"] - 1)
        if lm is not None and (lm.family.name, lm.n_layers) != recorded:
            raise ValueError(
                f"model is a {lm.family.name} model with {lm.n_layers} layers but {path} records a "
                f"{recorded[0]} model with {recorded[1]} layers"
            )
        return cls(
            ids=torch.from_numpy(ds["ids"].values.astype(np.int64)),
            labels=tuple(str(s) for s in ds["label"].values),
            **tensors,
            model_name=str(ds.attrs["model"]),
            family=str(ds.attrs["family"]),
            causal=bool(ds.attrs["causal"]),
            has_final_norm=bool(ds.attrs["has_final_norm"]),
            norm_placement=str(ds.attrs.get("norm_placement", "")),
            parallel=bool(ds.attrs.get("parallel", 0)),
            language_model=lm,
        )

    def __repr__(self) -> str:
        recorded = [name for name in _TENSORS if getattr(self, name) is not None]
        return (
            f"Recording(model={self.model_name!r}, layers={self.n_layers}, tokens={self.n_tokens}, "
            f"dim={self.dim}, recorded={recorded})"
        )


def _first(output: Any) -> torch.Tensor:
    """The hidden-state tensor of a module output (blocks return a tensor or a tuple)."""
    return output[0] if isinstance(output, tuple | list) else output


@contextmanager
def _hooks(handles: list[Any]) -> Iterator[None]:
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def _is_norm(module: nn.Module) -> bool:
    """Whether a module is a normalisation layer (LayerNorm, RMSNorm and their per-model subclasses)."""
    return "norm" in type(module).__name__.lower()


def _eager_attention(lm: LanguageModel) -> Any:
    """A context in which the model computes attention eagerly, so it can return the weights."""

    @contextmanager
    def switch() -> Iterator[None]:
        before = lm.model.config._attn_implementation
        if before != "eager":
            lm.model.set_attn_implementation("eager")
        try:
            yield
        finally:
            if before != "eager":
                lm.model.set_attn_implementation(before)

    return switch()


def _head_outputs(projection: nn.Module, heads_in: torch.Tensor, n_heads: int) -> torch.Tensor:
    """``(b, H, n, d)``: head ``h``'s output times its slice of the output projection ``W_O``."""
    weight = projection.weight
    if type(projection).__name__ == "Conv1D":  # GPT-2 stores W_O as (in, out)
        weight = weight.T
    d = weight.shape[0]
    heads = heads_in.reshape(*heads_in.shape[:2], n_heads, -1)  # (b, n, H, d_head)
    return torch.einsum("bnhk,dhk->bhnd", heads, weight.reshape(d, n_heads, -1))


@torch.no_grad()
def record(
    model: LanguageModel | nn.Module,
    text_or_ids: str | Sequence[int] | Sequence[str] | Sequence[Sequence[int]] | torch.Tensor,
    *,
    tokenizer: Any = None,
    sublayers: bool = True,
    logits: bool | None = None,
    patterns: bool = False,
    heads: bool = False,
) -> Recording | tuple[Recording, ...]:
    """Run ``model`` once and keep what every analysis reads: one sequence, or a batch in one pass.

    A batch (a list of texts, a list of id sequences, or a 2-D id tensor ``(b, n)``; see
    :meth:`~attnflow.lm.LanguageModel.encode_batch`) runs as one right-padded forward pass with an
    attention mask, and gives one Recording per sequence holding only its own tokens. A 2-D input is
    always a batch, never flattened into one sequence.

    Args:
        model: a :class:`~attnflow.lm.LanguageModel` or a HuggingFace model of a supported family
            (GPT-2, Llama/SmolLM, GPT-NeoX, Gemma 2, BERT).
        text_or_ids: text or token ids ``(n,)`` (one sequence), or a batch.
        tokenizer: a tokenizer for a bare HuggingFace model given text.
        sublayers: also keep each attention and MLP contribution and the state after attention, and
            detect the norm placement.
        logits: run the language-model head and keep its logits; default: when the model has a head.
            ``False`` runs the body alone, which is cheaper.
        patterns: keep every head's attention weights (the pass then computes attention eagerly, which
            is slower than the fused kernel).
        heads: keep every head's output through ``W_O`` (``L × H × n × d`` numbers).

    Returns:
        The :class:`Recording`, or a tuple of them for a batch.

    Raises:
        TypeError: an unsupported model, or ``logits=True`` for a model without an output head.
        ValueError: bad input (see :meth:`~attnflow.lm.LanguageModel.encode`).
    """
    lm = as_language_model(model, tokenizer)
    if is_batch(text_or_ids):
        ids, lengths, labels = lm.encode_batch(text_or_ids)
    else:
        one, one_labels = lm.encode(text_or_ids)
        ids, lengths, labels = one[None], torch.tensor([len(one)]), (one_labels,)
    if logits is None:
        logits = lm.unembedding is not None
    elif logits and lm.unembedding is None:
        raise TypeError(f"logits=True needs a model with an output head; {lm.name!r} has none")
    recordings = _run(lm, ids, lengths, labels, sublayers, logits, patterns, heads)
    return recordings if is_batch(text_or_ids) else recordings[0]


def _run(
    lm: LanguageModel,
    ids: torch.Tensor,
    lengths: torch.Tensor,
    labels: tuple[tuple[str, ...], ...],
    sublayers: bool,
    logits: bool,
    patterns: bool,
    heads: bool,
) -> tuple[Recording, ...]:
    """One hooked forward pass of ``ids (b, n_max)``; one Recording per row, cut to its length."""
    fam = lm.family
    layers = lm.layers
    n_layers = len(layers)
    seen: dict[str, list[Any]] = {
        kind: [None] * n_layers for kind in ("out", "attn", "mlp", "post", "mid", "last_norm", "heads")
    }
    seen.update(final=[None], inputs=[None])
    attention_done = [False] * n_layers
    handles = []

    def keep(kind: str, index: int) -> Callable[[nn.Module, Any, Any], None]:
        def hook(_module: nn.Module, _args: Any, output: Any) -> None:
            seen[kind][index] = _first(output)
            if kind == "attn":
                attention_done[index] = True

        return hook

    def keep_input(_module: nn.Module, args: tuple, kwargs: dict) -> None:
        seen["inputs"][0] = args[0] if args else kwargs["hidden_states"]

    def watch_norm(index: int, attention: nn.Module) -> Callable[[nn.Module, Any, Any], None]:
        # The first norm after attention reads the stream between the sublayers; the block's last norm
        # output tells a post-norm block (its output is that norm's output).
        def hook(module: nn.Module, args: tuple, output: Any) -> None:
            if attention_done[index] and seen["mid"][index] is None and module is not attention:
                seen["mid"][index] = args[0]
            seen["last_norm"][index] = _first(output)

        return hook

    def keep_heads(index: int, projection: nn.Module) -> Callable[[nn.Module, tuple], None]:
        def hook(_module: nn.Module, args: tuple) -> None:
            seen["heads"][index] = _head_outputs(projection, args[0], lm.model.config.num_attention_heads)

        return hook

    handles.append(layers[0].register_forward_pre_hook(keep_input, with_kwargs=True))
    for i, block in enumerate(layers):
        handles.append(block.register_forward_hook(keep("out", i)))
        if sublayers:
            attention = submodule(block, fam.attention)
            handles.append(attention.register_forward_hook(keep("attn", i)))
            if fam.mlp is not None:
                handles.append(submodule(block, fam.mlp).register_forward_hook(keep("mlp", i)))
            if fam.post_attention is not None:
                handles.append(submodule(block, fam.post_attention).register_forward_hook(keep("post", i)))
            for module in block.modules():
                if _is_norm(module):
                    handles.append(module.register_forward_hook(watch_norm(i, attention)))
        if heads:
            projection = submodule(block, fam.out_projection)
            handles.append(projection.register_forward_pre_hook(keep_heads(i, projection)))
    norm = lm.final_norm
    if norm is not None:
        handles.append(norm.register_forward_hook(keep("final", 0)))
    padded = bool((lengths < ids.shape[1]).any())
    mask = (torch.arange(ids.shape[1]) < lengths[:, None]).long().to(ids.device) if padded else None
    with _hooks(handles), _eager_attention(lm) if patterns else nullcontext():
        runner = lm.model if logits else lm.base
        output = runner(input_ids=ids, attention_mask=mask, output_attentions=patterns)
    residual = torch.stack([seen["inputs"][0], *seen["out"]], dim=1)  # (b, L + 1, n, d)
    attention = mlp = post = None
    placement, parallel = "", False
    if sublayers:
        attention = torch.stack(seen["attn"], dim=1)
        blocks_out = seen["out"]
        if any(torch.equal(last, out) for last, out in zip(seen["last_norm"], blocks_out, strict=True)):
            placement = "post"
        else:
            placement = "peri" if _is_norm(submodule(layers[0], fam.attention)) else "pre"
        if fam.mlp is not None:
            mlp = torch.stack(seen["mlp"], dim=1)
            parallel = torch.equal(seen["mid"][0], seen["inputs"][0])
            post = residual[:, :-1] + attention if parallel else torch.stack(seen["mid"], dim=1)
        else:
            post = torch.stack(seen["post"], dim=1)
    if norm is not None:
        final = seen["final"][0]
    else:
        final = residual[:, -1]
    if patterns and len(output.attentions or ()) != n_layers:
        raise TypeError(
            f"patterns=True needs a model that returns its attention weights; {lm.name!r} returned "
            f"{len(output.attentions or ())} of {n_layers} layers"
        )
    weights = torch.stack(output.attentions, dim=1) if patterns else None  # (b, L, H, n, n)
    per_head = torch.stack(seen["heads"], dim=1) if heads else None  # (b, L, H, n, d)
    recordings = []
    for row, n in enumerate(lengths.tolist()):
        recordings.append(
            Recording(
                ids=ids[row, :n].cpu(),
                labels=labels[row],
                residual=residual[row, :, :n],
                final=final[row, :n],
                attention=None if attention is None else attention[row, :, :n],
                mlp=None if mlp is None else mlp[row, :, :n],
                post_attention=None if post is None else post[row, :, :n],
                logits=output.logits[row, :n] if logits else None,
                patterns=None if weights is None else weights[row, :, :, :n, :n],
                head_outputs=None if per_head is None else per_head[row, :, :, :n],
                model_name=lm.name,
                family=fam.name,
                causal=fam.causal,
                has_final_norm=norm is not None,
                norm_placement=placement,
                parallel=parallel,
                language_model=lm,
            )
        )
    return tuple(recordings)


def as_recording(
    source: Recording | LanguageModel | nn.Module,
    text_or_ids: str | Sequence[int] | torch.Tensor | None = None,
    *,
    tokenizer: Any = None,
    sublayers: bool = False,
    logits: bool = False,
) -> Recording:
    """The recording an analysis reads: ``source`` itself, or one new pass of the model on the text.

    Args:
        source: a :class:`Recording`, or a model (then ``text_or_ids`` is required).
        text_or_ids: the input for a model; must be omitted with a Recording (it holds its tokens).
        tokenizer: a tokenizer for a bare HuggingFace model given text.
        sublayers: the analysis needs the sublayer contributions.
        logits: the analysis needs the logits.

    Raises:
        ValueError: a Recording given with text, or lacking what the analysis needs, or a batch.
        TypeError: a model given without text.
    """
    if isinstance(source, Recording):
        if text_or_ids is not None or tokenizer is not None:
            raise ValueError(
                "text_or_ids and tokenizer must be omitted when source is a Recording (it holds its tokens)"
            )
        if sublayers and not source.has_sublayers:
            raise ValueError("source is a Recording without sublayers; record it with sublayers=True")
        if logits and source.logits is None:
            raise ValueError("source is a Recording without logits; record it with logits=True")
        return source
    if text_or_ids is None:
        raise TypeError("text_or_ids is required when source is a model (or pass a Recording as source)")
    if is_batch(text_or_ids):
        raise ValueError(
            "text_or_ids is a batch; this analysis reads one sequence: record the batch in one pass "
            "(attnflow.lm.record) and pass each Recording"
        )
    return record(source, text_or_ids, tokenizer=tokenizer, sublayers=sublayers, logits=logits)


def causal_recording(
    source: Recording | LanguageModel | nn.Module,
    text_or_ids: str | Sequence[int] | torch.Tensor | None,
    tokenizer: Any,
    what: str,
    hint: str = "",
    sublayers: bool = False,
) -> Recording:
    """Like :func:`as_recording` with logits, for an analysis (``what``) of next-token predictions.

    Raises:
        TypeError: the model is not a causal language model with an output head (``hint`` is appended).
    """
    if isinstance(source, Recording):
        causal, name = source.causal, source.model_name
    else:
        source = as_language_model(source, tokenizer)
        tokenizer = None
        causal, name = source.is_causal_lm, source.name
    if not causal:
        raise TypeError(
            f"{what} needs a causal language model with an output head; {name!r} is not one{hint}"
        )
    return as_recording(source, text_or_ids, tokenizer=tokenizer, sublayers=sublayers, logits=True)


def layer_token_coords(n_rows: int, labels: Sequence[str]) -> dict[str, Any]:
    """Coordinates of a ``(layer, token)`` Dataset with ``n_rows`` layers: indices and token labels."""
    return {
        "layer": np.arange(n_rows),
        "token": np.arange(len(labels)),
        "label": ("token", np.array(labels, dtype=object)),
    }
