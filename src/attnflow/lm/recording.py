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
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr
from torch import nn

from attnflow import io
from attnflow.lm._arch import submodule
from attnflow.lm.models import LanguageModel, as_language_model
from attnflow.trajectory import Trajectory

_TENSORS = ("residual", "final", "attention", "mlp", "post_attention", "logits")
_DIMS = {
    "residual": ("state", "token", "dim"),
    "final": ("token", "dim"),
    "attention": ("block", "token", "dim"),
    "mlp": ("block", "token", "dim"),
    "post_attention": ("block", "token", "dim"),
    "logits": ("token", "vocab"),
}


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
        logits: ``(n, vocab)`` the model's own logits, or ``None`` (no output head, or not recorded).
        model_name: the model's name.
        family: the model's family (``"gpt2"``, ``"llama"``, ``"gpt_neox"``, ``"bert"``).
        causal: whether the model reads left to right.
        has_final_norm: whether the model has a final norm (so ``final`` differs from ``residual[-1]``).
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
    model_name: str = "model"
    family: str = ""
    causal: bool = False
    has_final_norm: bool = False
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


@torch.no_grad()
def record(
    model: LanguageModel | nn.Module,
    text_or_ids: str | Sequence[int] | torch.Tensor,
    *,
    tokenizer: Any = None,
    sublayers: bool = True,
    logits: bool | None = None,
) -> Recording:
    """Run ``model`` once on one sequence and keep what every analysis reads.

    Args:
        model: a :class:`~attnflow.lm.LanguageModel` or a HuggingFace model of a supported family
            (GPT-2, Llama/SmolLM, GPT-NeoX, BERT).
        text_or_ids: text, or token ids of shape ``(n,)`` or ``(1, n)`` (see
            :meth:`~attnflow.lm.LanguageModel.encode`).
        tokenizer: a tokenizer for a bare HuggingFace model given text.
        sublayers: also keep each attention and MLP contribution and the state after attention.
        logits: run the language-model head and keep its logits; default: when the model has a head.
            ``False`` runs the body alone, which is cheaper.

    Returns:
        The :class:`Recording`.

    Raises:
        TypeError: an unsupported model, or ``logits=True`` for a model without an output head.
        ValueError: bad input (see :meth:`~attnflow.lm.LanguageModel.encode`).
    """
    lm = as_language_model(model, tokenizer)
    ids, labels = lm.encode(text_or_ids)
    if logits is None:
        logits = lm.unembedding is not None
    elif logits and lm.unembedding is None:
        raise TypeError(f"logits=True needs a model with an output head; {lm.name!r} has none")
    fam = lm.family
    layers = lm.layers
    seen: dict[str, list[Any]] = {kind: [None] * len(layers) for kind in ("out", "attn", "mlp", "post")}
    seen.update(final=[None], inputs=[None])
    handles = []

    def keep(kind: str, index: int) -> Callable[[nn.Module, Any, Any], None]:
        def hook(_module: nn.Module, _args: Any, output: Any) -> None:
            seen[kind][index] = _first(output)

        return hook

    def keep_input(_module: nn.Module, args: tuple, kwargs: dict) -> None:
        seen["inputs"][0] = args[0] if args else kwargs["hidden_states"]

    handles.append(layers[0].register_forward_pre_hook(keep_input, with_kwargs=True))
    for i, block in enumerate(layers):
        handles.append(block.register_forward_hook(keep("out", i)))
        if sublayers:
            handles.append(submodule(block, fam.attention).register_forward_hook(keep("attn", i)))
            if fam.mlp is not None:
                handles.append(submodule(block, fam.mlp).register_forward_hook(keep("mlp", i)))
            if fam.post_attention is not None:
                handles.append(submodule(block, fam.post_attention).register_forward_hook(keep("post", i)))
    norm = lm.final_norm
    if norm is not None:
        handles.append(norm.register_forward_hook(keep("final", 0)))
    with _hooks(handles):
        runner = lm.model if logits else lm.base
        output = runner(input_ids=ids[None])
    residual = torch.stack([seen["inputs"][0][0], *(h[0] for h in seen["out"])])
    attention = mlp = post = None
    if sublayers:
        attention = torch.stack([a[0] for a in seen["attn"]])
        if fam.mlp is not None:
            mlp = torch.stack([m[0] for m in seen["mlp"]])
            post = residual[:-1] + attention
        else:
            post = torch.stack([p[0] for p in seen["post"]])
    final = seen["final"][0][0] if norm is not None else residual[-1]
    return Recording(
        ids=ids.cpu(),
        labels=labels,
        residual=residual,
        final=final,
        attention=attention,
        mlp=mlp,
        post_attention=post,
        logits=output.logits[0] if logits else None,
        model_name=lm.name,
        family=fam.name,
        causal=fam.causal,
        has_final_norm=norm is not None,
        language_model=lm,
    )


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
        ValueError: a Recording given with text, or lacking what the analysis needs.
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
    return record(source, text_or_ids, tokenizer=tokenizer, sublayers=sublayers, logits=logits)


def causal_recording(
    source: Recording | LanguageModel | nn.Module,
    text_or_ids: str | Sequence[int] | torch.Tensor | None,
    tokenizer: Any,
    what: str,
    hint: str = "",
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
    return as_recording(source, text_or_ids, tokenizer=tokenizer, logits=True)


def layer_token_coords(n_rows: int, labels: Sequence[str]) -> dict[str, Any]:
    """Coordinates of a ``(layer, token)`` Dataset with ``n_rows`` layers: indices and token labels."""
    return {
        "layer": np.arange(n_rows),
        "token": np.arange(len(labels)),
        "label": ("token", np.array(labels, dtype=object)),
    }
