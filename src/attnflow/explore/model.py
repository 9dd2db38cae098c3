"""The model view: one recorded forward pass of a prompt, every layer's tokens on a sphere."""

from __future__ import annotations

from typing import Any

import numpy as np


def trace_layers(model: Any, prompt: str) -> dict[str, Any]:
    """Record ``prompt`` once and project every layer's tokens onto a 3-D unit sphere.

    The projection is one principal-axes basis of all layers' unit-normalised states together (so a
    token's motion from layer to layer is real motion, not a change of axes); points are renormalised
    onto the sphere after projecting.

    Returns:
        ``{"tokens": [...], "layers": L + 1, "points": [[[x, y, z], ...], ...], "lens": [...] | None}``
        where ``lens[l]`` is the logit lens's top next token after the last token at layer ``l``.
    """
    from attnflow.lm import logit_lens, record

    recording = record(model, prompt)
    states = recording.residual.double().cpu().numpy()
    unit = states / np.linalg.norm(states, axis=-1, keepdims=True).clip(1e-12)
    flat = unit.reshape(-1, unit.shape[-1])
    centred = flat - flat.mean(0)
    _, _, axes = np.linalg.svd(centred, full_matrices=False)
    projected = unit @ axes[:3].T
    projected /= np.linalg.norm(projected, axis=-1, keepdims=True).clip(1e-12)
    lens = None
    if recording.causal and recording.logits is not None:
        read = logit_lens(recording)
        lens = [str(token) for token in np.asarray(read["top_token"])[:, -1]]
    return {
        "model": recording.model_name,
        "tokens": list(recording.labels),
        "layers": int(projected.shape[0]),
        "points": np.round(projected, 5).tolist(),
        "lens": lens,
    }
