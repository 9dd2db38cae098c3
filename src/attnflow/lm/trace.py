"""Trace a real Transformer as a flow: the residual stream of every token, layer by layer.

Everything is read through forward hooks on the model's own modules (no re-implementation), in one
forward pass.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import xarray as xr
from torch import nn

from attnflow.lm._arch import submodule
from attnflow.lm.models import LanguageModel, as_language_model
from attnflow.trajectory import Trajectory


def encode(
    lm: LanguageModel, text_or_ids: str | Sequence[int] | torch.Tensor
) -> tuple[torch.Tensor, tuple[str, ...]]:
    """Token ids of shape ``(1, n)`` and one label per token.

    Args:
        lm: the model (its tokenizer is needed for text).
        text_or_ids: a string, or a sequence / 1-D tensor of token ids.

    Returns:
        ``(ids, labels)``; labels are the decoded token strings (the ids as strings without a tokenizer).

    Raises:
        ValueError: for empty input or input longer than the model's context.
        TypeError: for text without a tokenizer.
    """
    if isinstance(text_or_ids, str):
        if not text_or_ids.strip():
            raise ValueError("text_or_ids must be non-empty text (got an empty or blank string)")
        if lm.tokenizer is None:
            raise TypeError(
                "text_or_ids is text but the model has no tokenizer; pass token ids or a tokenizer"
            )
        ids = torch.as_tensor(lm.tokenizer(text_or_ids)["input_ids"], dtype=torch.long)
    else:
        ids = torch.as_tensor(text_or_ids, dtype=torch.long).reshape(-1)
    if ids.numel() == 0:
        raise ValueError("text_or_ids must hold at least one token (got none)")
    if lm.max_length is not None and ids.numel() > lm.max_length:
        raise ValueError(
            f"text_or_ids has {ids.numel()} tokens but the model's context is at most {lm.max_length} tokens"
        )
    vocab = lm.model.get_input_embeddings().num_embeddings
    if int(ids.min()) < 0 or int(ids.max()) >= vocab:
        raise ValueError(f"token ids must lie in [0, {vocab - 1}] (the model's vocabulary)")
    return ids.unsqueeze(0).to(lm.device), token_strings(lm, ids)


def token_strings(lm: LanguageModel, ids: Sequence[int] | torch.Tensor) -> tuple[str, ...]:
    """The decoded string of every token id (the ids as strings without a tokenizer)."""
    if lm.tokenizer is None:
        return tuple(str(int(i)) for i in ids)
    return tuple(lm.tokenizer.decode([int(i)]) for i in ids)


def layer_token_coords(n_rows: int, labels: Sequence[str]) -> dict[str, Any]:
    """Coordinates of a ``(layer, token)`` Dataset with ``n_rows`` layers: indices and token labels."""
    return {
        "layer": np.arange(n_rows),
        "token": np.arange(len(labels)),
        "label": ("token", np.array(labels, dtype=object)),
    }


def layer_state(traj: Trajectory, layer: int) -> torch.Tensor:
    """The token states ``(n, d)`` of ``traj`` at state index ``layer`` (negative counts from the end).

    Raises:
        ValueError: if ``layer`` is out of range.
    """
    if not -traj.n_states <= layer < traj.n_states:
        raise ValueError(f"layer must be in [{-traj.n_states}, {traj.n_states - 1}], got {layer}")
    return traj.x[layer]


def _first(output: Any) -> torch.Tensor:
    """The hidden-state tensor of a module output (blocks return a tensor or a tuple)."""
    return output[0] if isinstance(output, tuple | list) else output


@dataclass(frozen=True)
class Recording:
    """What one hooked forward pass saw, for a single sequence (batch dimension dropped).

    Attributes:
        residual: ``(L + 1, n, d)`` residual stream before block 0 and after every block (no final norm).
        final: ``(n, d)`` the last state after the final norm (equals ``residual[-1]`` without one).
        attention: ``(L, n, d)`` what each attention sublayer contributed (before any post-norm), or
            ``None`` if sublayers were not recorded.
        mlp: ``(L, n, d)`` what each MLP added (pre-norm families), else ``None``.
        post_attention: ``(L, n, d)`` the residual stream after attention, inside each block, or ``None``.
        logits: ``(n, vocab)`` the model's own logits, or ``None``.
    """

    residual: torch.Tensor
    final: torch.Tensor
    attention: torch.Tensor | None
    mlp: torch.Tensor | None
    post_attention: torch.Tensor | None
    logits: torch.Tensor | None


@contextmanager
def _hooks(handles: list[Any]) -> Iterator[None]:
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


@torch.no_grad()
def record(
    lm: LanguageModel, ids: torch.Tensor, *, sublayers: bool = False, logits: bool = False
) -> Recording:
    """Run one forward pass of ``lm`` on ``ids`` (shape ``(1, n)``) and keep the residual stream.

    Args:
        lm: the model.
        ids: token ids, shape ``(1, n)``.
        sublayers: also keep each attention and MLP contribution and the state after attention.
        logits: run the language-model head too and keep its logits (skipped otherwise, which is cheaper).

    Returns:
        The :class:`Recording`.
    """
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
        output = runner(input_ids=ids)
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
        residual=residual,
        final=final,
        attention=attention,
        mlp=mlp,
        post_attention=post,
        logits=output.logits[0] if logits else None,
    )


def trace(
    model: LanguageModel | nn.Module,
    text_or_ids: str | Sequence[int] | torch.Tensor,
    *,
    tokenizer: Any = None,
    sublayers: bool = False,
    final_norm: bool = True,
) -> Trajectory:
    """The tokens' residual-stream states through the layers, as a Trajectory over ``axis="layer"``.

    With ``sublayers=False`` the states are at layers ``0, 1, …, L``: the input of block 0 (the
    embeddings) and the output of every block; with ``final_norm=True`` the last state has the final
    norm applied, so the states equal the model's own ``output_hidden_states`` exactly. With
    ``sublayers=True`` the state after each block's attention sublayer is inserted at ``l + 0.5``
    (``params["stages"]`` names every state: ``"embed"``, ``"attn.l"``, ``"mlp.l"``). For post-norm
    encoders (BERT) the ``attn.l`` state is the block's state after its first LayerNorm.

    Args:
        model: a :class:`~attnflow.lm.LanguageModel` or a HuggingFace model of a supported family
            (GPT-2, Llama/SmolLM, GPT-NeoX, BERT).
        text_or_ids: the input text, or token ids.
        tokenizer: a tokenizer for a bare HuggingFace model given text.
        sublayers: include the state after attention inside every block.
        final_norm: apply the model's final norm to the last state (as HuggingFace does).

    Returns:
        The :class:`~attnflow.Trajectory` (labels are the token strings).

    Raises:
        TypeError: if ``model`` is not a supported Transformer.
        ValueError: for empty input or input longer than the model's context.
    """
    lm = as_language_model(model, tokenizer)
    ids, labels = encode(lm, text_or_ids)
    rec = record(lm, ids, sublayers=sublayers)
    residual = rec.residual.clone()
    if final_norm:
        residual[-1] = rec.final
    n_layers = residual.shape[0] - 1
    if sublayers:
        states = torch.empty((2 * n_layers + 1, *residual.shape[1:]), dtype=residual.dtype)
        states[0::2] = residual
        states[1::2] = rec.post_attention
        times = torch.arange(2 * n_layers + 1, dtype=torch.float64) / 2
        stages = ["embed"] + [f"{kind}.{i}" for i in range(n_layers) for kind in ("attn", "mlp")]
    else:
        states, times = residual, torch.arange(n_layers + 1, dtype=torch.float64)
        stages = ["embed"] + [f"mlp.{i}" for i in range(n_layers)]
    params = {
        "model": lm.name,
        "family": lm.family.name,
        "causal": lm.family.causal,
        "token_ids": ids[0].tolist(),
        "final_norm": bool(final_norm and lm.final_norm is not None),
        "sublayers": sublayers,
        "stages": stages,
    }
    return Trajectory(times=times, x=states.detach().cpu(), labels=labels, axis="layer", params=params)


def decompose(
    model: LanguageModel | nn.Module,
    text_or_ids: str | Sequence[int] | torch.Tensor,
    *,
    tokenizer: Any = None,
) -> xr.Dataset:
    """Split every block's residual update into attention (aggregation) and the rest (filtering).

    For block ``l`` with input ``h_l`` and output ``h_{l+1}``, the update ``u = h_{l+1} − h_l`` is
    written ``u = a + f``: ``a`` is what the attention sublayer adds to the residual stream (the
    data-dependent aggregation across tokens), ``f = u − a`` the per-token, data-independent
    filtering (the MLP for pre-norm blocks, which is checked against the MLP's own output; MLP and
    both LayerNorms for post-norm BERT blocks).

    Args:
        model: a :class:`~attnflow.lm.LanguageModel` or a supported HuggingFace model.
        text_or_ids: the input text, or token ids.
        tokenizer: a tokenizer for a bare HuggingFace model given text.

    Returns:
        A Dataset over ``(layer, token)`` with ``update_norm``, ``attention_norm``, ``filtering_norm``
        (Euclidean norms), ``attention_share = |a| / (|a| + |f|)`` and
        ``attention_projection = ⟨a, u⟩ / |u|²`` (the filtering projection is ``1 −`` it), plus per-layer
        means ``layer_attention_share`` and ``layer_attention_projection`` (update-norm weighted).
    """
    lm = as_language_model(model, tokenizer)
    ids, labels = encode(lm, text_or_ids)
    rec = record(lm, ids, sublayers=True)
    update = (rec.residual[1:] - rec.residual[:-1]).double().cpu()
    attention = rec.attention.double().cpu()
    filtering = update - attention
    u_norm, a_norm, f_norm = update.norm(dim=-1), attention.norm(dim=-1), filtering.norm(dim=-1)
    share = a_norm / (a_norm + f_norm).clamp_min(torch.finfo(torch.float64).tiny)
    projection = (attention * update).sum(-1) / (u_norm**2).clamp_min(torch.finfo(torch.float64).tiny)
    weights = u_norm / u_norm.sum(dim=1, keepdim=True)

    def array(value: torch.Tensor) -> tuple[tuple[str, str], np.ndarray]:
        return ("layer", "token"), value.numpy()

    return xr.Dataset(
        {
            "update_norm": array(u_norm),
            "attention_norm": array(a_norm),
            "filtering_norm": array(f_norm),
            "attention_share": array(share),
            "attention_projection": array(projection),
            "layer_attention_share": ("layer", (share * weights).sum(1).numpy()),
            "layer_attention_projection": ("layer", (projection * weights).sum(1).numpy()),
        },
        coords=layer_token_coords(update.shape[0], labels),
        attrs={"model": lm.name, "family": lm.family.name},
    )
