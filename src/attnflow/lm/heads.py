"""Each attention head as a self-attention flow: its effective inverse temperature β_h from the weights,
its value spectrum, and its phase at a context length (averaging, critical or identity-like).

A pre-RMSNorm head scores two tokens ``x, x'`` as ``(W_Q g⊙u)·(W_K g⊙u')/√d_k`` with ``u = x/rms(x)``,
so ``|u| = √d``. Written on the unit directions ``y = u/√d`` this is ``yᵀ B_h y'`` (up to its
antisymmetric part, which cancels on ``y = y'``) with

    B_h = d · sym(G W_Q,hᵀ W_K,h G) / √d_k,     G = diag(g),

and the model's attention is the flow's ``exp(β⟨y, y'⟩)`` when ``B_h = β I``. For a general ``B_h``
:func:`head_spectra` takes ``β_h = ‖B_h‖₂`` (its largest |eigenvalue|): the largest score spread the
head can put between two unit directions. Rotary position embeddings are left out: they rotate
queries and keys by the relative position, and leave ``B_h`` as it is for a token and itself.
Biases are left out too (Llama has none).

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


def head_spectra(model: LanguageModel | nn.Module, *, tokenizer: Any = None) -> xr.Dataset:
    """Every head's effective β and value spectrum, from the weights (float64).

    Args:
        model: a Llama-family model (SmolLM2 and the like), wrapped or bare.
        tokenizer: unused for a :class:`~attnflow.lm.LanguageModel`; for a bare model, as elsewhere.

    Returns:
        A Dataset over ``(layer, head)``: ``beta`` (``‖B_h‖₂``, see the module docs), ``value_norm``
        (largest singular value of ``W_O,h W_V,h G``, what the head can add per unit of normed input)
        and ``value_eig`` (the largest real part of its eigenvalues: positive pulls a token towards
        what it attends to, the clustering sign of the flow's value matrix).

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
                value_norm[index, h] = float(torch.linalg.matrix_norm(o @ v, ord=2))
                # W_O,h W_V,h G has rank ≤ d_k: its nonzero eigenvalues are those of W_V,h G W_O,h.
                value_eig[index, h] = float(torch.linalg.eigvals(v @ o).real.max())
    dims = ("layer", "head")
    return xr.Dataset(
        {"beta": (dims, beta), "value_norm": (dims, value_norm), "value_eig": (dims, value_eig)},
        coords={"layer": np.arange(lm.n_layers), "head": np.arange(n_heads)},
        attrs={"model": lm.name, "head_dim": d_k, "width": d},
    )


def head_phases(beta: xr.DataArray | np.ndarray, n: int, rho: float | xr.DataArray) -> xr.Dataset:
    """Each head's phase at context length ``n`` for a cloud at cosine ``rho`` (long-context theorem).

    ``γ_h = β_h / log n`` against ``γ_c = 1/(1−ρ)``. The self weight of an equiangular cloud is
    ``p = 1/(1 + (n−1) n^{−γ(1−ρ)}) ≈ 1/(1 + n^{1−s})`` with ``s = γ(1−ρ)``; a head is *critical* when
    ``|s − 1| ≤ 1/log n``, i.e. when ``p`` lies between ``1/(1+e)`` and ``e/(1+e)`` (neither averaging
    nor holding), *averaging* below and *identity-like* above. The crossover context length, where
    ``s = 1``, is ``n* = exp(β_h (1 − ρ))``: the head averages at contexts longer than ``n*``.

    Args:
        beta: the heads' β (e.g. ``head_spectra(model)["beta"]``).
        n: the context length (≥ 2).
        rho: the cloud's cosine, in (0, 1): one number, or one per layer (a DataArray over ``layer``).

    Returns:
        A Dataset with ``gamma``, ``scaled`` (``s``), ``self_weight``, ``crossover_n`` and ``phase``.
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
    weight = xr.apply_ufunc(np.vectorize(lambda g, r: float(self_weight(n, g, r))), gamma, rho)
    band = 1.0 / np.log(n)
    phase = xr.where(scaled < 1 - band, PHASES[0], xr.where(scaled > 1 + band, PHASES[2], PHASES[1]))
    crossover = np.exp(beta / gamma_c)
    return xr.Dataset(
        {"gamma": gamma, "scaled": scaled, "self_weight": weight, "crossover_n": crossover, "phase": phase},
        attrs={"n": n},
    )
