"""Read the model's guess from every layer: the logit lens (decoders) and the embedding lens (any model).

Both read one :class:`~attnflow.lm.Recording` (and the recorded model's head or embedding table).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import xarray as xr
from torch import nn

from attnflow.lm.models import LanguageModel
from attnflow.lm.recording import Recording, as_recording, causal_recording, layer_token_coords
from attnflow.measure.fits import entropy_from_log, kl_from_log


def _token_strings(lm: LanguageModel, ids: torch.Tensor) -> np.ndarray:
    """The decoded token strings of an id tensor of any shape, as an object array of that shape."""
    return np.array(lm.token_strings(ids.reshape(-1)), dtype=object).reshape(tuple(ids.shape))


@torch.no_grad()
def logit_lens(
    source: Recording | LanguageModel | nn.Module,
    text_or_ids: str | Sequence[int] | torch.Tensor | None = None,
    *,
    tokenizer: Any = None,
    sublayers: bool = False,
) -> xr.Dataset:
    """The next-token distribution read from every layer's residual stream.

    Layer ``l``'s distribution is ``softmax(W_U · norm(h_l))`` where ``norm`` is the model's final norm,
    applied exactly once, and ``W_U`` its output head; at the last layer this is the model's own output.
    With ``sublayers=True`` the stream is also read after every attention sublayer (at ``l + 0.5``),
    which shows how much of each layer's change of guess the attention makes before the MLP.

    Args:
        source: a :class:`~attnflow.lm.Recording` of a causal language model (with logits and its
            model), or the model (:class:`~attnflow.lm.LanguageModel` or HuggingFace model).
        text_or_ids: the input text, or token ids (omitted with a Recording).
        tokenizer: a tokenizer for a bare HuggingFace model given text.
        sublayers: also read the state after each attention sublayer (needs a recording with sublayers).

    Returns:
        A Dataset over ``(layer, token)`` (layers ``0..L``, and ``l + 0.5`` after attention with
        ``sublayers``; layer 0 is the embeddings; the ``stage`` coordinate names each row as
        :meth:`~attnflow.lm.Recording.trajectory` does) with ``top_token`` (string), ``top_id``,
        ``top_prob``, ``entropy`` (nats), ``kl_to_final`` (``KL(p_L ‖ p_l)`` in nats) and
        ``final_top_rank`` (rank of the model's answer, the last layer's top token, at layer ``l``;
        0 = top).

    Raises:
        TypeError: for an encoder or a model without an output head (use :func:`embedding_lens`).
    """
    rec = causal_recording(
        source, text_or_ids, tokenizer, "logit_lens", " (use embedding_lens)", sublayers=sublayers
    )
    lm = rec.model_for("logit_lens")
    head = lm.unembedding
    norm = lm.final_norm if lm.final_norm is not None else nn.Identity()
    # The model's own last-layer log-probs come first: every other layer is compared with them.
    log_final = torch.log_softmax(rec.logits.double().cpu(), dim=-1)
    final_top = log_final.argmax(-1)
    states: list[torch.Tensor] = []
    for layer in range(rec.n_layers):
        states.append(rec.residual[layer])
        if sublayers:
            states.append(rec.post_attention[layer])
    out: dict[str, list[torch.Tensor]] = {k: [] for k in ("top_id", "top_prob", "entropy", "kl", "rank")}
    for h in states:
        log_p = torch.log_softmax(head(norm(h)).double().cpu(), dim=-1)
        _collect(out, log_p, log_final, final_top)
    _collect(out, log_final, log_final, final_top)
    top_id = torch.stack(out["top_id"])
    step = 0.5 if sublayers else 1.0
    stages = ["embed"] + [
        f"{kind}.{i}" for i in range(rec.n_layers) for kind in (("attn", "mlp") if sublayers else ("mlp",))
    ]
    coords = layer_token_coords(len(stages), rec.labels)
    coords["layer"] = np.arange(len(stages)) * step
    coords["stage"] = ("layer", np.array(stages, dtype=object))
    return xr.Dataset(
        {
            "top_token": (("layer", "token"), _token_strings(lm, top_id)),
            "top_id": (("layer", "token"), top_id.numpy()),
            "top_prob": (("layer", "token"), torch.stack(out["top_prob"]).numpy()),
            "entropy": (("layer", "token"), torch.stack(out["entropy"]).numpy()),
            "kl_to_final": (("layer", "token"), torch.stack(out["kl"]).numpy()),
            "final_top_rank": (("layer", "token"), torch.stack(out["rank"]).numpy()),
        },
        coords=coords,
        attrs={"model": rec.model_name, "lens": "logit", "sublayers": int(sublayers)},
    )


def answer_layer(lens: xr.Dataset, token: int = -1) -> float:
    """The first layer from which the model's answer stays the lens's top token, at one position.

    Args:
        lens: a :func:`logit_lens` Dataset.
        token: the position (default: the last, whose answer is the next token after the input).

    Returns:
        The layer (``l + 0.5`` is after the attention of block ``l``; the last layer ``L`` when the
        answer is the top token only at the output).
    """
    rank = lens["final_top_rank"].isel(token=token).values
    layers = lens["layer"].values
    not_top = np.flatnonzero(rank[:-1] != 0)
    first = 0 if not_top.size == 0 else int(not_top[-1]) + 1
    return float(layers[first])


def _collect(
    out: dict[str, list[torch.Tensor]],
    log_p: torch.Tensor,
    log_final: torch.Tensor,
    final_top: torch.Tensor,
) -> None:
    top_logp, top_id = log_p.max(-1)
    out["top_id"].append(top_id)
    out["top_prob"].append(top_logp.exp())
    out["entropy"].append(entropy_from_log(log_p))
    out["kl"].append(kl_from_log(log_final, log_p))
    at_final_top = log_p.gather(-1, final_top[:, None])
    out["rank"].append((log_p > at_final_top).sum(-1))


@torch.no_grad()
def embedding_lens(
    source: Recording | LanguageModel | nn.Module,
    text_or_ids: str | Sequence[int] | torch.Tensor | None = None,
    *,
    tokenizer: Any = None,
) -> xr.Dataset:
    """How close every layer's token states stay to the input embedding matrix (works for encoders).

    For each layer state ``h_l`` (the residual stream, no final norm) the cosine similarity with every
    row of the input embedding matrix is computed.

    Args:
        source: a :class:`~attnflow.lm.Recording` (with its model), or a
            :class:`~attnflow.lm.LanguageModel` or a supported HuggingFace model.
        text_or_ids: the input text, or token ids (omitted with a Recording).
        tokenizer: a tokenizer for a bare HuggingFace model given text.

    Returns:
        A Dataset over ``(layer, token)`` with ``nearest_token`` (string), ``nearest_id``,
        ``nearest_cosine``, ``input_cosine`` (cosine with the token's own input embedding) and
        ``input_rank`` (rank of the token's own embedding among all, 0 = nearest).
    """
    rec = as_recording(source, text_or_ids, tokenizer=tokenizer)
    lm = rec.model_for("embedding_lens")
    table = lm.model.get_input_embeddings().weight.double().cpu()
    table = table / table.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    states = rec.residual.double().cpu()
    cos = (states / states.norm(dim=-1, keepdim=True).clamp_min(1e-12)) @ table.T  # (L+1, n, vocab)
    nearest_cos, nearest_id = cos.max(-1)
    own = cos.gather(-1, rec.ids.expand(cos.shape[0], -1)[..., None])
    return xr.Dataset(
        {
            "nearest_token": (("layer", "token"), _token_strings(lm, nearest_id)),
            "nearest_id": (("layer", "token"), nearest_id.numpy()),
            "nearest_cosine": (("layer", "token"), nearest_cos.numpy()),
            "input_cosine": (("layer", "token"), own[..., 0].numpy()),
            "input_rank": (("layer", "token"), (cos > own).sum(-1).numpy()),
        },
        coords=layer_token_coords(rec.n_layers + 1, rec.labels),
        attrs={"model": rec.model_name, "lens": "embedding"},
    )
