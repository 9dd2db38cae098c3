"""Each attention head as a self-attention flow: its effective inverse temperature β_h, its value
spectrum, and its phase at a context length (averaging, critical or identity-like).

**The theorem's form.** The flow on the unit sphere scores two tokens ``y, y'`` (``|y| = 1``) as
``β⟨y, y'⟩``. A pre-RMSNorm head scores the residual-stream states ``x, x'`` as
``(W_Q g⊙u)·(W_K g⊙u')/√d_k`` with ``u = x/rms(x)``; since ``rms(x) = |x|/√d``, ``u = √d·y`` for the
direction ``y = x/|x|`` (up to the norm's ε), so the normed input has ``|g⊙u|² = d·|G y|²``: the scale
``√d`` and the gain ``G = diag(g)`` are part of the score, and on the unit directions it is exactly

    yᵀ M_h y',     M_h = d · G W_Q,hᵀ W_K,h G / √d_k,     B_h = sym(M_h),

the flow's ``β⟨y, y'⟩`` when ``M_h = β I``. Two readings of one β for a general ``M_h``:

* :func:`head_spectra`, from the weights alone: ``‖B_h‖₂``, the largest score spread the head *can*
  put between two unit directions — an upper bound, far above what a head uses on real text.
* :func:`head_score_gaps`, on a recorded cloud (the theorem's unit-vector form): in the simplex case
  of the theorem (pairwise cosine ρ, ``M = βI``) a query scores itself ``β`` and every other token
  ``βρ``, and only the gap ``β(1 − ρ)`` enters its attention (``p = 1/(1 + (n−1)e^{−β(1−ρ)})``). The
  same gap read from a real head is ``Δ_h = mean_i [y_iᵀ M_h y_i − mean_j y_iᵀ M_h y_j]`` over the
  recorded directions (``j`` the other keys query ``i`` sees), so ``β_h = Δ_h / (1 − ρ)`` and
  ``s = γ_h(1−ρ) = Δ_h / log n``; with ``M_h = βI`` on an equiangular cloud it returns β exactly.

Still ignored by both: rotary position embeddings (they rotate a query against a key by their relative
position; the self score, at relative position 0, is exact, the others are read without rotation),
the sink (token 0, whose massive activation draws attention whatever its score, is left out of the
queries and keys of the gap and of ρ, but it keeps its share of the real attention), the spread of the
other scores around their mean (the gap is the theorem's one number; a real row is not equiangular),
biases (Llama has none) and the value and output projections.

:func:`head_phases` reads ``γ_h = β_h / log n`` against the long-context threshold ``γ_c = 1/(1−ρ)``
of :mod:`attnflow.theory.long_context` for a cloud at cosine ``ρ``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import xarray as xr
from torch import nn

from attnflow._validate import positive_int
from attnflow.lm._arch import submodule
from attnflow.lm.models import LanguageModel, as_language_model
from attnflow.theory.long_context import critical_gamma, self_weight

#: The phases of a head at a context length, from strong to no mixing.
PHASES = ("averaging", "critical", "identity-like")

# Families whose attention has separate q/k/v/o projections and a pre-attention RMSNorm in the block.
_PROJECTIONS = {"llama": ("q_proj", "k_proj", "v_proj", "o_proj", "input_layernorm")}


def _sym_spectral_norm(left: torch.Tensor, right: torch.Tensor) -> float:
    """``‖sym(left rightᵀ)‖₂`` for ``(d, k)`` factors, through a ``2k × 2k`` matrix instead of ``d × d``.

    ``sym(L Rᵀ) = C J Cᵀ`` with ``C = [L R]`` and ``J = [[0, I/2], [I/2, 0]]``; with ``C = Q T`` (QR) its
    nonzero eigenvalues are those of the symmetric ``T J Tᵀ``.
    """
    k = left.shape[1]
    _, t = torch.linalg.qr(torch.cat([left, right], dim=1))
    swap = torch.zeros(2 * k, 2 * k, dtype=left.dtype)
    swap[:k, k:] = swap[k:, :k] = 0.5 * torch.eye(k, dtype=left.dtype)
    return float(torch.linalg.eigvalsh(t @ swap @ t.T).abs().max())


def _product_spectral_norm(left: torch.Tensor, right: torch.Tensor) -> float:
    """``‖left · right‖₂`` for ``(d, k)`` and ``(k, d)`` factors, through a ``k × k`` matrix, not ``d × d``.

    With ``left = Q_l R_l`` and ``rightᵀ = Q_r R_r`` (QR), ``left · right = Q_l (R_l R_rᵀ) Q_rᵀ`` has the
    singular values of ``R_l R_rᵀ`` (a ``d × d`` SVD per head was most of ``head_spectra``'s time).
    """
    r_left = torch.linalg.qr(left).R
    r_right = torch.linalg.qr(right.T).R
    return float(torch.linalg.matrix_norm(r_left @ r_right.T, ord=2))


def head_spectra(model: LanguageModel | nn.Module, *, tokenizer: Any = None) -> xr.Dataset:
    """Every head's weights-only β bound and value spectrum (float64).

    Args:
        model: a Llama-family model (SmolLM2 and the like), wrapped or bare.
        tokenizer: unused for a :class:`~attnflow.lm.LanguageModel`; for a bare model, as elsewhere.

    Returns:
        A Dataset over ``(layer, head)``: ``beta`` (``‖B_h‖₂``, an upper bound: see the module docs),
        ``value_norm`` (largest singular value of ``W_O,h W_V,h G``, what the head can add per unit of
        normed input) and ``value_eig`` (the largest real part of its eigenvalues: positive pulls a
        token towards what it attends to, the clustering sign of the flow's value matrix).

    Raises:
        TypeError: a family without separate q/k/v projections and a pre-attention RMSNorm.
    """
    lm = as_language_model(model, tokenizer)
    family = lm.family.name
    if family not in _PROJECTIONS:
        raise TypeError(
            f"model: head_spectra reads separate q/k/v projections of a pre-RMSNorm block; supported "
            f"families are {', '.join(sorted(_PROJECTIONS))}, got {family!r}"
        )
    q_name, k_name, v_name, o_name, norm_name = _PROJECTIONS[family]
    config = lm.model.config
    n_heads = config.num_attention_heads
    n_kv = getattr(config, "num_key_value_heads", None) or n_heads
    d = config.hidden_size
    d_k = getattr(config, "head_dim", None) or d // n_heads
    beta = np.empty((lm.n_layers, n_heads))
    value_norm, value_eig = np.empty_like(beta), np.empty_like(beta)
    with torch.no_grad():
        for index, block in enumerate(lm.layers):
            attention = submodule(block, lm.family.attention_core)
            gain = submodule(block, norm_name).weight.double().cpu()
            w_q = submodule(attention, q_name).weight.double().cpu() * gain  # (H d_k, d): W_Q G
            w_k = submodule(attention, k_name).weight.double().cpu() * gain
            w_v = submodule(attention, v_name).weight.double().cpu() * gain
            w_o = submodule(attention, o_name).weight.double().cpu()  # (d, H d_k)
            for h in range(n_heads):
                kv = h // (n_heads // n_kv)  # grouped-query attention shares a key/value head
                q = w_q[h * d_k : (h + 1) * d_k]
                k = w_k[kv * d_k : (kv + 1) * d_k]
                beta[index, h] = d / np.sqrt(d_k) * _sym_spectral_norm(q.T, k.T)
                v = w_v[kv * d_k : (kv + 1) * d_k]
                o = w_o[:, h * d_k : (h + 1) * d_k]
                value_norm[index, h] = _product_spectral_norm(o, v)
                # W_O,h W_V,h G has rank ≤ d_k: its nonzero eigenvalues are those of W_V,h G W_O,h.
                value_eig[index, h] = float(torch.linalg.eigvals(v @ o).real.max())
    dims = ("layer", "head")
    return xr.Dataset(
        {"beta": (dims, beta), "value_norm": (dims, value_norm), "value_eig": (dims, value_eig)},
        coords={"layer": np.arange(lm.n_layers), "head": np.arange(n_heads)},
        attrs={"model": lm.name, "head_dim": d_k, "width": d},
    )


def _head_scores(lm: LanguageModel, index: int, states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Block ``index``'s per-head queries and keys of ``states`` ``(n, d)``, ``(H, n, d_k)`` each.

    Float64, no rotary, grouped-query key heads repeated, scaled so that ``q·k`` is the head's score.
    """
    q_name, k_name, _, _, norm_name = _PROJECTIONS[lm.family.name]
    config = lm.model.config
    n_heads = config.num_attention_heads
    n_kv = getattr(config, "num_key_value_heads", None) or n_heads
    d_k = getattr(config, "head_dim", None) or config.hidden_size // n_heads
    block = lm.layers[index]
    attention = submodule(block, lm.family.attention_core)
    normed = submodule(block, norm_name)(states.to(lm.dtype)).double().cpu()  # the model's own g⊙u
    w_q = submodule(attention, q_name).weight.double().cpu()
    w_k = submodule(attention, k_name).weight.double().cpu()
    n = normed.shape[0]
    q = (normed @ w_q.T).view(n, n_heads, d_k).transpose(0, 1) / np.sqrt(d_k)
    k = (normed @ w_k.T).view(n, n_kv, d_k).transpose(0, 1).repeat_interleave(n_heads // n_kv, dim=0)
    return q, k


def head_score_gaps(recording: Any) -> xr.Dataset:
    """Each head's score gap between a token and the other tokens it sees, on one recorded cloud.

    For block ``l`` with input states ``x_i`` (``recording.residual[l]``) and head ``h``:
    ``Δ_h = mean_i [s_ii − mean_j s_ij]`` with ``s_ij = q_i·k_j/√d_k`` the head's score without rotary
    (``= y_iᵀ M_h y_j`` on the unit directions, see the module docs). Queries ``i ≥ 2`` of a causal
    model see keys ``1 … i−1`` besides themselves; without a mask every key but ``0`` and ``i``. Token 0
    (the sink) is never a query or a key here. ``Δ_h / (1 − ρ)`` is the head's β in the theorem's
    unit-vector form; ``Δ_h / log n`` is its ``s = γ(1−ρ)``.

    Args:
        recording: a :class:`~attnflow.lm.Recording` of a Llama-family model, holding the model
            (``record(...)`` or ``Recording.load(path, model=...)``), of at least 3 tokens.

    Returns:
        A Dataset over ``(layer, head)`` with ``gap`` (float64).

    Raises:
        TypeError: a family without separate q/k projections and a pre-attention RMSNorm.
        ValueError: fewer than 3 tokens.
    """
    lm = recording.model_for("head_score_gaps")
    if lm.family.name not in _PROJECTIONS:
        raise TypeError(
            f"recording: head_score_gaps reads separate q/k projections of a pre-RMSNorm block; supported "
            f"families are {', '.join(sorted(_PROJECTIONS))}, got {lm.family.name!r}"
        )
    n = recording.n_tokens
    if n < 3:
        raise ValueError(f"recording: head_score_gaps needs at least 3 tokens, got {n}")
    gaps = []
    with torch.no_grad():
        for index in range(recording.n_layers):
            q, k = _head_scores(lm, index, recording.residual[index])
            q, k = q[:, 1:], k[:, 1:]  # token 0 (the sink) is neither query nor key
            self_score = (q * k).sum(-1)  # (H, n − 1)
            if recording.causal:
                # query i (from 1) sees keys 1 … i − 1 besides itself: a running mean of the keys before it
                before = torch.cumsum(k, dim=1)[:, :-1] / torch.arange(1, n - 1, dtype=k.dtype)[:, None]
                other = (q[:, 1:] * before).sum(-1)
                gap = (self_score[:, 1:] - other).mean(-1)
            else:
                rest = (k.sum(1, keepdim=True) - k) / (n - 2)
                gap = (self_score - (q * rest).sum(-1)).mean(-1)
            gaps.append(gap.numpy())
    heads = len(gaps[0])
    return xr.Dataset(
        {"gap": (("layer", "head"), np.array(gaps))},
        coords={"layer": np.arange(recording.n_layers), "head": np.arange(heads)},
        attrs={"model": lm.name, "n_tokens": n},
    )


def head_phases(beta: xr.DataArray | np.ndarray, n: int, rho: float | xr.DataArray) -> xr.Dataset:
    """Each head's phase at context length ``n`` for a cloud at cosine ``rho`` (long-context theorem).

    ``γ_h = β_h / log n`` against ``γ_c = 1/(1−ρ)``. The self weight of an equiangular cloud is
    ``p = 1/(1 + (n−1) n^{−γ(1−ρ)}) ≈ 1/(1 + n^{1−s})`` with ``s = γ(1−ρ)``; a head is *critical* when
    ``|s − 1| ≤ 1/log n``, i.e. when ``p`` lies between ``1/(1+e)`` and ``e/(1+e)`` (neither averaging
    nor holding), *averaging* below and *identity-like* above. The crossover context length, where
    ``s = 1``, is ``n* = exp(β_h (1 − ρ))``: the head averages at contexts longer than ``n*``.

    Args:
        beta: the heads' β: ``head_score_gaps(rec)["gap"] / (1 − ρ)`` in the theorem's unit-vector
            form, or the weights-only bound ``head_spectra(model)["beta"]``.
        n: the context length (≥ 2).
        rho: the cloud's cosine, in (0, 1): one number, or one per layer (a DataArray over ``layer``).

    Returns:
        A Dataset with ``gamma``, ``scaled`` (``s``), ``self_weight`` (NaN where ``γ ≤ 0``, outside the
        theorem: such a head scores the other tokens above itself and is averaging), ``crossover_n``
        and ``phase``.
    """
    n = positive_int("n", n, minimum=2)
    beta = (
        beta
        if isinstance(beta, xr.DataArray)
        else xr.DataArray(np.asarray(beta, float), dims=("layer", "head"))
    )
    rho = rho if isinstance(rho, xr.DataArray) else xr.DataArray(float(rho))
    gamma = beta / np.log(n)
    gamma, rho = xr.broadcast(gamma, rho)
    gamma_c = xr.apply_ufunc(np.vectorize(critical_gamma), rho)
    scaled = gamma / gamma_c
    # The closed form is the theorem's for γ > 0; a head that scores others above itself has none.
    weight = xr.apply_ufunc(
        np.vectorize(lambda g, r: float(self_weight(n, g, r)) if g > 0 else np.nan), gamma, rho
    )
    band = 1.0 / np.log(n)
    phase = xr.where(scaled < 1 - band, PHASES[0], xr.where(scaled > 1 + band, PHASES[2], PHASES[1]))
    crossover = np.exp(beta / gamma_c)
    return xr.Dataset(
        {"gamma": gamma, "scaled": scaled, "self_weight": weight, "crossover_n": crossover, "phase": phase},
        attrs={"n": n},
    )
