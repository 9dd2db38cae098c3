"""The residual-stream additivity audit: does each block really write ``x + attention + MLP``?

For every block ``l`` the recording holds the stream before it (``resid_pre``), between its sublayers
(``resid_mid``, recorded from the block itself where it has one), after it (``resid_post``), and what
each sublayer wrote. The audit measures the two identities a residual-stream reading relies on,
``resid_pre + attn_out = resid_mid`` and ``resid_mid + mlp_out = resid_post``, and the whole-block
identity ``resid_pre + attn_out + mlp_out = resid_post``, next to the norm placement the recording
detected: they hold to rounding in pre- and peri-norm blocks and fail in post-norm blocks, where a norm
rescales the stream after every sum.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import xarray as xr
from torch import nn

from attnflow.lm.models import LanguageModel
from attnflow.lm.recording import Recording, as_recording


def _relative_error(got: torch.Tensor, want: torch.Tensor) -> np.ndarray:
    """Per layer, the largest ``|got − want| / |want|`` over the tokens (float64)."""
    got, want = got.double().cpu(), want.double().cpu()
    scale = want.norm(dim=-1).clamp_min(torch.finfo(torch.float64).tiny)
    return ((got - want).norm(dim=-1) / scale).amax(dim=-1).numpy()


def audit(
    source: Recording | LanguageModel | nn.Module,
    text_or_ids: str | Sequence[int] | torch.Tensor | None = None,
    *,
    tokenizer: Any = None,
) -> xr.Dataset:
    """Check the residual-stream identities of every block against the recorded pass.

    Args:
        source: a :class:`~attnflow.lm.Recording` with sublayers, or a model.
        text_or_ids: the input (omitted with a Recording).
        tokenizer: a tokenizer for a bare HuggingFace model given text.

    Returns:
        A Dataset over ``layer`` (blocks ``0..L-1``) of the largest relative error over the tokens:
        ``attention_error`` (``resid_pre + attn_out`` vs ``resid_mid``; NaN for a parallel block, which
        has no state between its sublayers), ``mlp_error`` (``resid_mid + mlp_out`` vs ``resid_post``)
        and ``block_error`` (``resid_pre + attn_out + mlp_out`` vs ``resid_post``); the last two are NaN
        for post-norm blocks, whose MLP output is not recorded apart from its norm. Attributes:
        ``norm_placement``, ``parallel``, ``tolerance`` (the rounding bound below) and ``additive``
        (1 when every recorded identity holds within it).
    """
    rec = as_recording(source, text_or_ids, tokenizer=tokenizer, sublayers=True)
    pre, post = rec.residual[:-1], rec.residual[1:]
    n_layers = rec.n_layers
    nan = np.full(n_layers, np.nan)
    attention_error = nan if rec.parallel else _relative_error(pre + rec.attention, rec.post_attention)
    if rec.mlp is None:
        mlp_error = block_error = nan
    else:
        mlp_error = nan if rec.parallel else _relative_error(rec.post_attention + rec.mlp, post)
        block_error = _relative_error(pre + rec.attention + rec.mlp, post)
    # The model adds the same tensors in its own dtype: a sum of two terms rounds once, to at most
    # one unit in the last place of the result, so 16 eps (relative) leaves room for the addition order
    # of a three-term sum and for norms near the smallest entries without admitting a missing term.
    tolerance = 16 * torch.finfo(rec.residual.dtype).eps
    errors = np.concatenate([attention_error, mlp_error, block_error])
    recorded = errors[~np.isnan(errors)]
    return xr.Dataset(
        {
            "attention_error": ("layer", attention_error),
            "mlp_error": ("layer", mlp_error),
            "block_error": ("layer", block_error),
        },
        coords={"layer": np.arange(n_layers)},
        attrs={
            "model": rec.model_name,
            "family": rec.family,
            "norm_placement": rec.norm_placement,
            "parallel": int(rec.parallel),
            "tolerance": tolerance,
            "additive": int(bool(recorded.size) and bool((recorded <= tolerance).all())),
        },
    )
