"""Trace a real Transformer as a flow: the residual stream of every token, layer by layer, and the
split of every block's update into attention (aggregation) and the rest (filtering).

Both read one :class:`~attnflow.lm.Recording`; given a model and a text they record it first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import xarray as xr
from torch import nn

from attnflow.lm.models import LanguageModel, is_batch
from attnflow.lm.recording import Recording, as_recording, layer_token_coords, record
from attnflow.trajectory import Trajectory


def trace(
    source: Recording | LanguageModel | nn.Module,
    text_or_ids: str | Sequence[int] | torch.Tensor | None = None,
    *,
    tokenizer: Any = None,
    sublayers: bool = False,
    final_norm: bool = True,
) -> Trajectory | tuple[Trajectory, ...]:
    """The tokens' residual-stream states through the layers, as a Trajectory over ``axis="layer"``.

    The same as ``record(model, text_or_ids).trajectory(sublayers=..., final_norm=...)`` (see
    :meth:`~attnflow.lm.Recording.trajectory` for the states), recording only what the trajectory needs.
    A batch (a list of texts or id sequences, or a 2-D id tensor) is traced in one padded forward pass
    and gives one Trajectory per sequence (see :func:`~attnflow.lm.record`).

    Args:
        source: a :class:`~attnflow.lm.Recording`, or a :class:`~attnflow.lm.LanguageModel` or a
            HuggingFace model of a supported family (GPT-2, Llama/SmolLM, GPT-NeoX, BERT).
        text_or_ids: the input text, token ids, or a batch (omitted with a Recording).
        tokenizer: a tokenizer for a bare HuggingFace model given text.
        sublayers: include the state after attention inside every block.
        final_norm: apply the model's final norm to the last state (as HuggingFace does).

    Returns:
        The :class:`~attnflow.Trajectory` (labels are the token strings), a tuple of them for a batch.

    Raises:
        TypeError: if the model is not a supported Transformer.
        ValueError: for empty input or input longer than the model's context.
    """
    if text_or_ids is not None and is_batch(text_or_ids) and not isinstance(source, Recording):
        batch = record(source, text_or_ids, tokenizer=tokenizer, sublayers=sublayers, logits=False)
        return tuple(rec.trajectory(sublayers=sublayers, final_norm=final_norm) for rec in batch)
    rec = as_recording(source, text_or_ids, tokenizer=tokenizer, sublayers=sublayers)
    return rec.trajectory(sublayers=sublayers, final_norm=final_norm)


def decompose(
    source: Recording | LanguageModel | nn.Module,
    text_or_ids: str | Sequence[int] | torch.Tensor | None = None,
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
        source: a :class:`~attnflow.lm.Recording` (with sublayers), or a model.
        text_or_ids: the input text, or token ids (omitted with a Recording).
        tokenizer: a tokenizer for a bare HuggingFace model given text.

    Returns:
        A Dataset over ``(layer, token)`` with ``update_norm``, ``attention_norm``, ``filtering_norm``
        (Euclidean norms), ``attention_share = |a| / (|a| + |f|)`` and
        ``attention_projection = ⟨a, u⟩ / |u|²`` (the filtering projection is ``1 −`` it), plus per-layer
        means ``layer_attention_share`` and ``layer_attention_projection`` (update-norm weighted).
    """
    rec = as_recording(source, text_or_ids, tokenizer=tokenizer, sublayers=True)
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
        coords=layer_token_coords(update.shape[0], rec.labels),
        attrs={"model": rec.model_name, "family": rec.family},
    )
