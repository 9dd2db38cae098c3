"""log Σ_ij e^{β⟨x_i,x_j⟩} of every state in O(n) memory: the sum behind the energy and its staircase.

Three ways, chosen by cost, all in float64 and in the log domain (finite for every finite β):

* ``"fourier"`` (tokens on the circle, β > 0): ``e^{β cos γ} = Σ_k I_k(β) e^{ikγ}`` turns the double sum
  into ``n² Σ_k I_k(β) |c_k|²`` with ``c_k = n⁻¹ Σ_j e^{ikθ_j}``: O(n·K) work.
* ``"harmonic"`` (tokens on S², β > 0): ``e^{βt} = Σ_l (2l+1) i_l(β) P_l(t)`` (``i_l`` the modified
  spherical Bessel function) and the addition theorem ``P_l(⟨x,y⟩) = Σ_m S_lm(x) S_lm(y)`` (Schmidt
  semi-normalised harmonics) give ``Σ_l (2l+1) i_l(β) Σ_m |Σ_j S_lm(x_j)|²``: O(n·L²) work.
* ``"sdpa"`` (any cloud, any β): the per-row log-sum-exp that PyTorch's fused CPU attention kernel
  returns, reduced over rows; O(n²) work in blocks, O(n) memory.

Truncation (both series, β > 0): every term is ≥ 0 and the k = 0 (l = 0) term alone is a lower bound of the
sum, while ``|c_k| ≤ 1`` and ``|P_l| ≤ 1`` bound each dropped term by its coefficient. So the relative
error of keeping the first K terms is at most ``Σ_{k>K} w_k / w_0`` with ``w_k = 2 I_k(β)`` (circle) or
``(2l+1) i_l(β)`` (sphere). The ratios ``w_{k+1}/w_k`` decrease in k (``I_{ν+1}(β)/I_ν(β)`` decreases in ν,
Amos 1974; ``(2l+3)/(2l+1)`` decreases too), so once the ratio ``q`` is below 1 the tail is at most
``w_{K+1} / (1 − q)``. K is the first index where that bound is below :data:`SERIES_RTOL`.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from numba import njit, prange
from scipy import special

from attnflow.dynamics.kernels import numba_threads
from attnflow.measure._common import gram_blocks

# Coordinates converted to float64 at once (32 MB), whatever the number of states.
_CHUNK_ENTRIES = 1 << 22
#: Relative truncation error of the Fourier and harmonic series: below float64 rounding of the sum.
SERIES_RTOL = 1e-15
#: Clouds whose every norm is within this of 1 are measured as points of the sphere (their directions):
#: float32 rounding of unit vectors leaves ≲ 2.4e-7. Normalising moves the sum by a relative amount of at
#: most e^{2|β|δ} − 1 for a largest deviation δ, the same order as the float32 rounding of the coordinates.
UNIT_TOL = 1e-6
# A series is chosen when its work per token (terms, or (l, m) pairs on S²) times its factor here is below
# n, the fused kernel's work per token. The NumPy Fourier series: one term per token cost about as much as
# two exponential pairs, and the factor 4 keeps a margin. The compiled harmonic kernel: one (l, m) term per
# token cost 0.2-0.7 of an exponential pair (one thread, n = 512 ... 4096, β = 2 ... 25), so at factor 1
# the series is still 1.4x faster where it is first chosen (n = 512, β = 25).
_SERIES_COST = {"fourier": 4, "harmonic": 1}


def series_terms(beta: float, sphere: bool) -> int:
    """How many terms (K + 1 or L + 1) the circle (``sphere=False``) or S² series needs at ``β > 0``."""
    order = np.arange(0, 64, dtype=np.float64)
    while True:
        if sphere:
            # (2l+1) i_l(β) ∝ (2l+1) I_{l+1/2}(β); ive keeps it finite for large β (a common factor).
            weights = (2 * order + 1) * special.ive(order + 0.5, beta)
        else:
            weights = np.where(order == 0, 1.0, 2.0) * special.ive(order, beta)
        kept, after = weights[1:-1], weights[2:]
        vanished = kept == 0  # underflow (tiny β): this term and every later one is below 1e-300
        with np.errstate(divide="ignore", invalid="ignore"):
            ratios = np.where(vanished, 0.0, after / kept)
            # Tail after K bounded by weights[K+1] / (1 − ratio at K+1), relative to weights[0].
            bound = np.where(vanished, 0.0, kept / (1 - ratios) / weights[0])
        ok = np.flatnonzero((ratios < 1) & (bound <= SERIES_RTOL))
        if ok.size:
            return int(ok[0]) + 1  # keep orders 0..K where K = ok[0]
        order = np.arange(0, 2 * order.size, dtype=np.float64)


def log_pair_sums(x: torch.Tensor, beta: float) -> tuple[np.ndarray, str]:
    """``log Σ_ij e^{β⟨x_i,x_j⟩}`` of each state of ``x`` ``(states, n, d)``, in float64, and the method used.

    Clouds within :data:`UNIT_TOL` of the unit sphere are normalised first, so every method measures the
    same thing and the choice (by estimated cost) does not change the result beyond rounding. States are
    taken in chunks of at most :data:`_CHUNK_ENTRIES` coordinates, so the float64 copies stay O(n).
    """
    n, d = x.shape[1:]
    chunk = max(1, _CHUNK_ENTRIES // (n * d))
    on_sphere = all(
        bool(((part.to(torch.float64).norm(dim=-1) - 1).abs() <= UNIT_TOL).all()) for part in x.split(chunk)
    )
    method, terms = "sdpa", 0
    if on_sphere and beta > 0 and d in (2, 3):
        terms = series_terms(beta, sphere=d == 3)
        series = "fourier" if d == 2 else "harmonic"
        work = terms if d == 2 else terms * (terms + 1) / 2
        if _SERIES_COST[series] * work < n:
            method = series
    logs = []
    for part in x.split(chunk):
        part = part.to(torch.float64)
        if on_sphere:
            part = part / part.norm(dim=-1, keepdim=True)
        if method == "fourier":
            logs.append(_fourier(part, beta, terms))
        elif method == "harmonic":
            logs.append(_harmonic(part, beta, terms))
        else:
            logs.append(_sdpa(part, beta))
    return np.concatenate(logs), method


def _fourier(x: torch.Tensor, beta: float, terms: int) -> np.ndarray:
    """Circle: log(n² Σ_k I_k(β)|c_k|²) = 2 log n + β + log(ive_0 + 2 Σ_{k≥1} ive_k |c_k|²)."""
    # NumPy, not torch: these small elementwise steps gain nothing from threads and lose to their overhead.
    z = x[..., 0].numpy() + 1j * x[..., 1].numpy()  # e^{iθ_j}, shape (states, n)
    weights = special.ive(np.arange(terms), beta)
    total = np.full(x.shape[0], weights[0])
    power = z.copy()
    for k in range(1, terms):
        mean = power.mean(axis=1)
        total += 2 * weights[k] * (mean.real**2 + mean.imag**2)
        power *= z
    return 2 * math.log(x.shape[1]) + beta + np.log(total)


def _harmonic(x: torch.Tensor, beta: float, terms: int) -> np.ndarray:
    """S²: log Σ_l (2l+1) i_l(β) Σ_m |Σ_j S_lm(x_j)|², with i_l(β) = √(π/(2β)) I_{l+1/2}(β).

    ``S_lm(x) e^{±imφ}`` is written ``c_m Q_lm(z) (x + iy)^m`` (``z`` the third coordinate): the Legendre
    factor ``sin^m θ`` and ``e^{imφ}`` are one complex power, so no angle is ever formed (and the poles need
    no care), ``c_m² = Π_{k≤m} (2k−1)/(2k)`` (times 2 for m > 0, the Schmidt factor), and ``Q_lm`` follows the
    normalised three-term recurrence in l from ``Q_mm = 1`` (stable at every order). The sums over tokens
    run in a compiled kernel (:func:`_harmonic_sums`), one state at a time, in float64.
    """
    ell = np.arange(terms)
    alpha, gamma = np.zeros((terms, terms)), np.zeros((terms, terms))
    for m in range(terms):
        for degree in range(m + 2, terms):
            root = math.sqrt(degree * degree - m * m)
            alpha[m, degree] = (2 * degree - 1) / root
            gamma[m, degree] = math.sqrt((degree - 1) ** 2 - m * m) / root
    schmidt = np.cumprod(np.where(ell == 0, 1.0, (2 * ell - 1) / np.maximum(2 * ell, 1)))
    schmidt[1:] *= 2
    weights = (2 * ell + 1) * special.ive(ell + 0.5, beta)
    sums = np.empty((terms, terms, 2))
    totals = []
    with numba_threads():
        for state in x.numpy():
            _harmonic_sums(np.ascontiguousarray(state), alpha, gamma, sums)
            # sums[m, l] = Σ_j Q_lm(z_j) (x_j + i y_j)^m; entries with l < m stay 0.
            totals.append(schmidt @ ((sums * sums).sum(axis=-1) @ weights))
    # (π/(2β))^{1/2} I_{l+1/2}(β) = (π/(2β))^{1/2} e^{β} ive: the common factors leave the log.
    return beta + 0.5 * math.log(math.pi / (2 * beta)) + np.log(np.array(totals))


# Tokens per block of the harmonic kernel: a block's recurrence rows and powers stay in the L1 cache.
_BLOCK = 256
# Token ranges summed in parallel per state; a fixed count (not the thread count) keeps the order of the
# float64 additions, hence the result, the same on every machine, and the partial sums O(L²) each.
_PARTS = 16


@njit(parallel=True, fastmath=True, cache=True, nogil=True)
def _harmonic_sums(x, alpha, gamma, sums):  # pragma: no cover - compiled; tested through _harmonic
    """``sums[m, l] = (Re, Im) Σ_j Q_lm(z_j) (x_j + i y_j)^m`` for ``0 ≤ m ≤ l < terms`` (else 0).

    Token blocks of :data:`_BLOCK`; within a block the powers ``(x + iy)^m`` advance with m and, for each m,
    the recurrence rows ``Q_{l-1,m}, Q_{l,m}`` advance with l, each step one vectorised pass that also adds
    its products into the (l, m) sums.
    """
    n, terms = x.shape[0], alpha.shape[0]
    blocks = (n + _BLOCK - 1) // _BLOCK
    parts = min(blocks, _PARTS)
    partial = np.zeros((parts, terms, terms, 2))
    for part in prange(parts):
        acc = partial[part]
        z, re, im = np.empty(_BLOCK), np.empty(_BLOCK), np.empty(_BLOCK)
        older, old = np.empty(_BLOCK), np.empty(_BLOCK)
        for block in range(part * blocks // parts, (part + 1) * blocks // parts):
            start = block * _BLOCK
            count = min(_BLOCK, n - start)
            for t in range(count):
                z[t], re[t], im[t] = x[start + t, 2], 1.0, 0.0
            for m in range(terms):
                if m > 0:  # (re + i im) ← (re + i im)(x + iy)
                    for t in range(count):
                        a, b = x[start + t, 0], x[start + t, 1]
                        re[t], im[t] = re[t] * a - im[t] * b, re[t] * b + im[t] * a
                real, imag = 0.0, 0.0
                for t in range(count):
                    old[t] = 1.0
                    real += re[t]
                    imag += im[t]
                acc[m, m, 0] += real
                acc[m, m, 1] += imag
                if m + 1 < terms:
                    root = math.sqrt(2 * m + 1)
                    real, imag = 0.0, 0.0
                    for t in range(count):
                        q = root * z[t]
                        older[t], old[t] = old[t], q
                        real += q * re[t]
                        imag += q * im[t]
                    acc[m, m + 1, 0] += real
                    acc[m, m + 1, 1] += imag
                for degree in range(m + 2, terms):
                    a, g = alpha[m, degree], gamma[m, degree]
                    real, imag = 0.0, 0.0
                    for t in range(count):
                        q = a * z[t] * old[t] - g * older[t]
                        older[t], old[t] = old[t], q
                        real += q * re[t]
                        imag += q * im[t]
                    acc[m, degree, 0] += real
                    acc[m, degree, 1] += imag
    sums[:] = 0.0
    for part in range(parts):
        sums += partial[part]


def _sdpa(x: torch.Tensor, beta: float) -> np.ndarray:
    """Any cloud: per-row log-sum-exp from the fused attention kernel, then a log-sum-exp over rows."""
    fused = getattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu", None)
    if fused is None:  # older torch without the fused CPU kernel: the same sums over Gram row blocks
        rows = [torch.cat([torch.logsumexp(beta * g, dim=1) for _, g in gram_blocks(state)]) for state in x]
        return torch.stack([torch.logsumexp(r, dim=0) for r in rows]).numpy()
    q = x.unsqueeze(1).contiguous()  # (states, heads = 1, n, d)
    _, row_lse = fused(q, q, q, scale=beta)[:2]
    return torch.logsumexp(row_lse.reshape(x.shape[0], -1), dim=1).numpy()
