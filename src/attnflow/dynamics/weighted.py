"""The self-attention field of weighted particles: one representative per collapsed cluster.

When the tokens of a cluster coincide, every other token sees them as one key repeated ``m`` times, so
the softmax weights become

    A_ij = m_j e^{β⟨Q y_i, K y_j⟩} / Σ_k m_k e^{β⟨Q y_i, K y_k⟩}

over the representatives ``y_j`` of masses ``m_j``, and each member moves with its representative.
The mass enters SDPA as an additive bias ``log m_j`` on the scores (its ``attn_mask``, one row
broadcast over the queries), so this path forms no n×n matrix beyond what SDPA itself uses.
Only the softmax variant without a causal mask reduces this way: USA's normaliser ``n`` and Sinkhorn's
column scaling also reduce, but are not needed here, and a causal mask, an ALiBi bias or a window depends on
token order, which a merged cluster no longer has.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from attnflow._validate import finite_tensor
from attnflow.dynamics.attention import SelfAttention, _project


def check_weighted(field: SelfAttention) -> None:
    """Raise a clear error if ``field`` has no weighted-particle reduction (see the module doc)."""
    if not isinstance(field, SelfAttention):
        raise TypeError(f"field must be a SelfAttention, got {type(field).__name__}")
    if field.variant != "SA" or field.causal or field.alibi or field.window or field.sink is not None:
        raise ValueError(
            "field must be variant='SA' without a causal mask, alibi, window or sink for the weighted "
            f"reduction, got variant={field.variant!r}, causal={field.causal}, alibi={field.alibi}, "
            f"window={field.window}, sink={field.sink}"
        )


def weighted_velocity(field: SelfAttention, t: float, y: torch.Tensor, masses: torch.Tensor) -> torch.Tensor:
    """The velocity of representatives ``y`` (shape ``(k, d)``) with positive ``masses`` (shape ``(k,)``).

    Equals ``field(t, x)`` at the representatives when ``x`` repeats each ``y_j`` ``m_j`` times.
    """
    check_weighted(field)
    field.check_state(y, "y")
    if y.ndim != 2:
        raise ValueError(f"y must have shape (k, d), got {tuple(y.shape)}")
    finite_tensor("masses", masses)
    if masses.shape != y.shape[:1] or bool((masses <= 0).any()):
        raise ValueError(f"masses must be {y.shape[0]} positive numbers, one per row of y")
    yb = y.unsqueeze(0)
    weights = [field._weight_at(t, w, yb) for w in (field.Q, field.K, field.V)]
    distinct = any(w is not None and w.ndim == 3 for w in weights)
    q, k, v = (_project(w, yb, field.heads if distinct else 1) for w in weights)
    log_mass = masses.to(y).log().view(1, 1, 1, -1)
    mixed = F.scaled_dot_product_attention(q, k, v, attn_mask=log_mass, scale=field.beta)
    drift = mixed.sum(dim=1) if distinct else field.heads * mixed.squeeze(1)
    if field.feedforward is not None:
        drift = drift + field.feedforward(yb)
    if field.geometry == "sphere":
        drift = drift - (drift * yb).sum(-1, keepdim=True) * yb
    return drift.squeeze(0)


__all__ = ["check_weighted", "weighted_velocity"]
