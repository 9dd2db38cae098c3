"""Retrieval along a causal prompt on the circle: the first-order (linear) correlation closure.

Setting (the lost-in-the-middle picture of Duerinckx, Geshkovski & Rossi, arXiv 2605.09213: causal
self-attention, i.i.d. uniform tokens; the paper's own correlation equation could not be read, so this
closure is attnflow's derivation). Tokens ``θ_1..θ_n`` on the circle, causal softmax attention with an
ALiBi bias of slope ``m``:

    θ̇_i = Σ_{k≤i} A_ik sin(θ_k − θ_i),   A_ik = w_ik e^{β cos(θ_k − θ_i)} / Z_i,
    w_ik = e^{−m(i−k)} / Σ_{l≤i} e^{−m(i−l)}.

The retrieval of source position ``j`` by the last token is ``R_j(t) = E cos(θ_n(t) − θ_j(0))``, the real
part of ``C_nj(t) = E[z_n(t) z̄_j(0)]``, ``z = e^{iθ}``. With ``e^{β cos u} sin u = Σ_ℓ −iℓ I_ℓ(β)/β e^{iℓu}``,

    d/dt z_i = Σ_{k≤i} (w_ik / Z_i) Σ_ℓ (ℓ I_ℓ(β)/β) z_k^ℓ z_i^{1−ℓ}.

Only ``ℓ = 1`` is linear in the first harmonics (``ℓ = 0`` has weight 0, the rest are products of
three or more harmonics, whose moments vanish for independent uniform tokens and are of second order in
the correlations); the normaliser is replaced by its mean under independence,
``E Z_i = w_ii e^β + (1 − w_ii) I_0(β)`` (the self-key scores ``β``). So, to first order in the
correlations,

    Ċ = K C,  C(0) = I,   K_ik = (I_1(β)/β) w_ik / (w_ii e^β + (1 − w_ii) I_0(β))  (k < i),

and ``R_j(t) = (e^{tK})_nj``. Without the mask (``causal=False``) ``w`` is normalised over all keys and
``K`` has both triangles. The closure is a linearisation: it overestimates ``R`` as correlations grow (it
is not even bounded by 1 at long times), so experiments use only the signs of its margins (the first and
last source positions against the middle), never its values.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import expm
from scipy.special import ive

from attnflow._validate import finite_number, positive_int


def attention_rates(n: int, beta: float, alibi: float, causal: bool = True) -> np.ndarray:
    """``K``: the rate at which each token's first harmonic follows each other token's (module doc)."""
    n = positive_int("n", n, minimum=2)
    beta = finite_number("beta", beta)
    if beta < 0:
        raise ValueError(f"beta must be >= 0 here (the closure scales e^β by e^(-β)), got {beta!r}")
    alibi = finite_number("alibi", alibi)
    if alibi < 0:
        raise ValueError(f"alibi must be a slope >= 0, got {alibi!r}")
    rows, keys = np.arange(n)[:, None], np.arange(n)[None, :]
    w = np.exp(-alibi * np.abs(rows - keys))
    if causal:
        w = np.where(keys <= rows, w, 0.0)
    w /= w.sum(axis=1, keepdims=True)
    # I_1(β)/β and I_0(β) scaled by e^{−β} (ive), as is e^β in the normaliser: the ratio is unchanged.
    first = 0.5 if beta == 0 else ive(1, beta) / beta
    self_weight = np.diag(w)[:, None]
    normaliser = self_weight + (1 - self_weight) * ive(0, beta)
    return np.where(keys != rows, first * w / normaliser, 0.0)


def retrieval_profile(n: int, beta: float, alibi: float, t: float, causal: bool = True) -> np.ndarray:
    """``R_j(t)`` for source positions ``j = 1..n−1`` (0-based ``0..n−2``), read out by the last token."""
    t = finite_number("t", t)
    if t < 0:
        raise ValueError(f"t must be >= 0, got {t!r}")
    return expm(t * attention_rates(n, beta, alibi, causal))[-1, :-1]


def retrieval_margins(profile: np.ndarray) -> tuple[float, float]:
    """``(primacy, recency)``: the first and the last source positions' retrieval minus the mean over the
    middle third of the positions (``⌊m/3⌋ ≤ j < ⌊2m/3⌋`` of ``m`` positions). Both > 0: a U-shape."""
    profile = np.asarray(profile, dtype=float)
    count = profile.shape[-1]
    if count < 3:
        raise ValueError(f"a retrieval profile needs at least 3 source positions, got {count}")
    middle = profile[..., count // 3 : 2 * count // 3].mean(axis=-1)
    return profile[..., 0] - middle, profile[..., -1] - middle


__all__ = ["attention_rates", "retrieval_margins", "retrieval_profile"]
