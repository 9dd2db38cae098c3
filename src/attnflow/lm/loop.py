"""Looped layers: one block of a real model, or its whole stack, applied to the tokens again and again.

ALBERT shares one layer's weights across its depth; GLPR re-ran it far deeper than it was trained to
see whether the tokens keep clustering. ALBERT ships in no PyPI wheel, so attnflow loops a post-LN BERT
encoder (MiniLM) the same way: the embeddings come from one recorded pass (:func:`attnflow.lm.record`),
then the block (or the stack) is applied ``repeats`` times, with its MLP or with the attention
sublayer alone (BERT's ``LayerNorm(x + attention(x))``, which keeps the states at the norm's scale).

With ``weights="random"`` the looped blocks are drawn afresh from the model's own initialisation
scheme: a new model is built from the same config (offline, nothing is read but the config) and its
``_init_weights`` runs under the given seed (for BERT: every weight ``N(0, initializer_range²)``, biases
0, LayerNorm gain 1 and shift 0). The start is still the trained model's embeddings, so the trained and
the random stack loop the same cloud and differ only in the blocks' weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from attnflow._validate import one_of, positive_int
from attnflow.lm.models import LanguageModel, as_language_model
from attnflow.lm.recording import record
from attnflow.random import Seed, check_seed, child_int
from attnflow.trajectory import Trajectory

#: Where the looped blocks' weights come from.
WEIGHTS = ("trained", "random")


def _random_blocks(lm: LanguageModel, seed: Seed) -> list[nn.Module]:
    """The blocks of a model built afresh from ``lm``'s config by its own init scheme, under ``seed``."""
    # HuggingFace initialises from the global stream: seed it (a root int directly, as attnflow.random
    # does), and restore it afterwards.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(child_int(seed))
        fresh = type(lm.model)(lm.model.config)
    fresh = fresh.to(device=lm.device, dtype=lm.dtype).eval()
    return list(as_language_model(fresh).layers)


def loop(
    model: LanguageModel | nn.Module,
    text_or_ids: str | Sequence[int] | torch.Tensor,
    *,
    repeats: int,
    layer: int | None = None,
    mlp: bool = True,
    keep: Sequence[int] | None = None,
    weights: str = "trained",
    seed: Seed = 0,
    tokenizer: Any = None,
) -> Trajectory:
    """Apply one block (``layer``) or the whole stack (``layer=None``) ``repeats`` times to one sequence.

    Args:
        model: a BERT-family encoder (post-LN, as ALBERT), wrapped or bare.
        text_or_ids: one sequence (text or ids).
        repeats: how many times the block or stack is applied (≥ 1).
        layer: the block to loop (negative counts from the end), or ``None`` for the stack.
        mlp: apply the whole block; ``False`` applies its attention sublayer alone.
        keep: the repeat counts whose states are kept (0 = the embeddings); default every one.
        weights: ``"trained"`` loops the model's blocks; ``"random"`` loops blocks of the same
            architecture drawn from the model's own initialisation (see the module docs).
        seed: the seed of the random weights (``weights="random"`` only; an int or a SeedSequence).
        tokenizer: for a bare model given text.

    Returns:
        A Trajectory over ``axis="layer"``: times are the kept repeat counts (applications of the
        block or of the whole stack), states the residual stream.

    Raises:
        TypeError: a model outside the BERT family.
        ValueError: bad ``repeats``, ``layer``, ``keep`` or ``weights``.
    """
    lm = as_language_model(model, tokenizer)
    if lm.family.name != "bert":
        raise TypeError(f"model: loop runs post-LN BERT encoders (ALBERT's layout); got {lm.family.name!r}")
    repeats = positive_int("repeats", repeats)
    n_layers = lm.n_layers
    if layer is not None and not -n_layers <= int(layer) < n_layers:
        raise ValueError(f"layer must be in [{-n_layers}, {n_layers}) or None, got {layer}")
    keep = list(range(repeats + 1)) if keep is None else sorted({int(k) for k in keep})
    if not keep or keep[0] < 0 or keep[-1] > repeats:
        raise ValueError(f"keep must list repeat counts in [0, {repeats}], got {keep}")
    weights = one_of("weights", weights, WEIGHTS)
    seed = check_seed(seed)
    stack = list(lm.layers) if weights == "trained" else _random_blocks(lm, seed)
    blocks = stack if layer is None else [stack[int(layer)]]
    recording = record(lm, text_or_ids, sublayers=False, logits=False)
    x = recording.residual[0][None]  # (1, n, d): the embeddings, as the first block sees them
    wanted = set(keep)
    states = [x[0].clone()] if 0 in wanted else []
    with torch.no_grad():
        for count in range(1, repeats + 1):
            for block in blocks:
                out = block(x) if mlp else block.attention(x)
                x = out[0] if isinstance(out, tuple) else out
            if count in wanted:
                states.append(x[0].clone())
    return Trajectory(
        times=torch.tensor(keep, dtype=torch.float64),
        x=torch.stack(states),
        labels=recording.labels,
        axis="layer",
        params={
            "model": lm.name,
            "layer": "stack" if layer is None else int(layer),
            "mlp": bool(mlp),
            "weights": weights,
            **({"seed": child_int(seed)} if weights == "random" else {}),
        },
    )
