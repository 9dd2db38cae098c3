"""A fused attention kernel for tokens of small dimension, compiled on the CPU with numba.

At small ``d`` the work of one attention step is ``n²`` exponentials and ``(2d + 1) n²`` multiply-adds,
and a general-purpose fused kernel (SDPA) spends most of its time outside that arithmetic. This kernel
walks the keys in tiles that stay in the L1 cache, one query row at a time, in a single pass:

    scores → tile maximum (online rescaling, as in flash attention) → exp → weighted sums,

with an inline polynomial ``exp`` that vectorises (libm's ``exp`` does not), so each stage is one
vectorised loop over the tile. Rows are spread over threads (numba ``prange``).

:func:`fused_attention` is the kernel's entry point; :class:`attnflow.dynamics.SelfAttention` chooses it
automatically where it is faster (``backend="auto"``). :func:`numba_threads` is the one way any numba
kernel of the package (also :mod:`attnflow.measure`'s) sets its thread count.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Iterator

import numba
import numpy as np
import torch
from numba import njit, prange, types
from numba.extending import intrinsic, overload

# Keys per tile: a tile of scores and the tiles of keys and values it meets stay in the L1 cache.
_TILE = 512
# A row whose shifted sum is below e^{-30} had a loose shift: it is recomputed with its exact maximum.
_TRUSTED = math.exp(-30.0)
# Query rows per parallel task: enough to amortise the tile buffers' allocation.
_ROWS_PER_TASK = 64
# numba's workqueue threading layer must not be entered by two Python threads at once.
_LOCK = threading.Lock()
# Without TBB numba picks GNU OpenMP, which a forked child cannot use once its parent has: "forksafe"
# picks TBB, a fork-safe OpenMP or numba's workqueue instead. A user's own choice
# (NUMBA_THREADING_LAYER) is kept.
if numba.config.THREADING_LAYER == "default":
    numba.config.THREADING_LAYER = "forksafe"


@intrinsic
def _bits_to_float(typingctx, bits):
    """Reinterpret the bits of an int32 (int64) as a float32 (float64), as C's type punning does."""
    if bits == types.int32:
        signature = types.float32(bits)
    elif bits == types.int64:
        signature = types.float64(bits)
    else:
        return None

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], context.get_value_type(sig.return_type))

    return signature, codegen


def _exp(x):  # pragma: no cover - replaced by the compiled overloads below
    """``e^x`` for ``x ≤ 0``, vectorisable."""
    raise NotImplementedError


@overload(_exp, inline="always")
def _exp_typed(x):
    """The float32 or float64 ``e^x`` (``x ≤ 0``) chosen by the argument's type at compile time.

    Range reduction ``x = k ln2 + r`` with ``|r| ≤ ln2/2`` (ln2 split in two so that ``k ln2`` is exact),
    a polynomial for ``e^r`` (Cephes' minimax for float32, Taylor to degree 12 for float64: relative
    errors ~1e-7 and ~2e-16), and ``2^k`` assembled from its exponent bits. Arguments are clamped at
    ``e^{-86}`` (``e^{-700}``), where ``2^k`` is still a normal number: such terms are below the float's
    resolution next to the row's largest one.
    """
    if x == types.float32:
        f, i = np.float32, np.int32
        lowest, bias, shift = f(-86.0), 127, 23
        log2e, half, ln2_hi, ln2_lo = f(1.4426950408889634), f(0.5), f(0.693359375), f(-2.12194440e-4)
        c6, c5, c4 = f(1.9875691500e-4), f(1.3981999507e-3), f(8.3334519073e-3)
        c3, c2, one = f(4.1665795894e-2), f(1.6666665459e-1), f(1.0)

        def exp32(x):
            x = max(x, lowest)
            k = np.floor(x * log2e + half)
            r = x - k * ln2_hi - k * ln2_lo
            p = ((((c6 * r + c5) * r + c4) * r + c3) * r + c2) * r + half
            return (p * r * r + r + one) * _bits_to_float(i((i(k) + bias) << shift))

        return exp32
    if x == types.float64:
        f, i = np.float64, np.int64
        lowest, bias, shift = f(-700.0), 1023, 52
        log2e, half = f(1.4426950408889634), f(0.5)
        ln2_hi, ln2_lo = f(6.93145751953125e-1), f(1.42860682030941723212e-6)
        t12, t11, t10, t9, t8, t7, t6, t5, t4, t3, t2, t1, t0 = (
            f(1.0 / math.factorial(m)) for m in range(12, -1, -1)
        )

        def exp64(x):
            x = max(x, lowest)
            k = np.floor(x * log2e + half)
            r = x - k * ln2_hi - k * ln2_lo
            p = ((((((t12 * r + t11) * r + t10) * r + t9) * r + t8) * r + t7) * r + t6) * r + t5
            p = ((((p * r + t4) * r + t3) * r + t2) * r + t1) * r + t0
            return p * _bits_to_float(i((i(k) + bias) << shift))

        return exp64
    return None


@njit(inline="always", fastmath=True)
def _row_sums(query, top, kt, vt, b, keys, scores, acc):
    """``acc[c] ← Σ_{j<keys} e^{⟨query, k_j⟩ − top} v_cj``; returns ``Σ_{j<keys} e^{⟨query, k_j⟩ − top}``.

    One pass over the keys in tiles of ``_TILE``: scores (one vectorised loop per coordinate), then
    exponentials and their sum, then one weighted sum per value coordinate, all on an L1-resident tile.
    """
    m, dv = query.shape[0], acc.shape[0]
    acc[:] = 0.0
    total = scores.dtype.type(0.0)
    for start in range(0, keys, _TILE):
        stop = min(start + _TILE, keys)
        count = stop - start
        keys0 = kt[b, 0, start:stop]
        q0 = query[0]
        for j in range(count):
            scores[j] = q0 * keys0[j] - top
        for c in range(1, m):
            keys_c = kt[b, c, start:stop]
            qc = query[c]
            for j in range(count):
                scores[j] += qc * keys_c[j]
        part = scores.dtype.type(0.0)
        for j in range(count):
            w = _exp(scores[j])
            scores[j] = w
            part += w
        total += part
        for c in range(dv):
            values_c = vt[b, c, start:stop]
            part = scores.dtype.type(0.0)
            for j in range(count):
                part += scores[j] * values_c[j]
            acc[c] += part
    return total


@njit(fastmath=True)
def _row_max(query, kt, b, keys):
    """``max_{j<keys} ⟨query, k_j⟩``, the exact shift for a row whose norm bound was too loose."""
    top = -np.inf
    for j in range(keys):
        score = query[0] * kt[b, 0, j]
        for c in range(1, query.shape[0]):
            score += query[c] * kt[b, c, j]
        top = max(top, score)
    return top


@njit(parallel=True, fastmath=True, cache=True, nogil=True)
def _attention_kernel(q, kt, vt, out, beta, causal, softmax):
    """``out[b, i] = Σ_j e^{β⟨q_i, k_j⟩} v_j / Z_i`` with ``Z_i`` the row sum (softmax) or the key count.

    ``q`` is (B, n, m), ``kt`` (B, m, n_keys) and ``vt`` (B, dv, n_keys): keys and values transposed, so
    that a tile of one coordinate is contiguous. Every exponent is shifted by the Cauchy–Schwarz bound
    ``|β| |q_i| max_j |k_j| ≥ β⟨q_i, k_j⟩``, so none overflows, and on the sphere with ``Q = K = I`` and
    ``β > 0`` the bound is the row's own score ``β⟨x_i, x_i⟩``, i.e. exact. Where it is loose by more than
    ``-log _TRUSTED`` (the row's sum is that small), the row is recomputed with its exact maximum.
    """
    batch, n, m = q.shape
    n_keys, dv = kt.shape[2], vt.shape[1]
    key_norm = np.empty(batch, dtype=q.dtype)
    for b in range(batch):
        largest = q.dtype.type(0.0)
        for j in range(n_keys):
            square = q.dtype.type(0.0)
            for c in range(m):
                square += kt[b, c, j] * kt[b, c, j]
            largest = max(largest, square)
        key_norm[b] = np.sqrt(largest)
    tasks_per_batch = (n + _ROWS_PER_TASK - 1) // _ROWS_PER_TASK
    for task in prange(batch * tasks_per_batch):
        b = task // tasks_per_batch
        first_row = (task % tasks_per_batch) * _ROWS_PER_TASK
        scores = np.empty(_TILE, dtype=q.dtype)
        query = np.empty(m, dtype=q.dtype)
        acc = np.empty(dv, dtype=q.dtype)
        for row in range(first_row, min(first_row + _ROWS_PER_TASK, n)):
            square = q.dtype.type(0.0)
            for c in range(m):
                query[c] = beta * q[b, row, c]
                square += query[c] * query[c]
            keys = row + 1 if causal else n_keys
            top = np.sqrt(square) * key_norm[b]
            total = _row_sums(query, top, kt, vt, b, keys, scores, acc)
            if total < _TRUSTED:
                top = _row_max(query, kt, b, keys)
                total = _row_sums(query, top, kt, vt, b, keys, scores, acc)
            factor = 1.0 / total if softmax else math.exp(float(top) - math.log(n_keys))
            for c in range(dv):
                out[b, row, c] = acc[c] * factor


@contextlib.contextmanager
def numba_threads() -> Iterator[None]:
    """Run a parallel numba kernel on torch's thread count, one Python thread at a time."""
    threads = max(1, min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS))
    with _LOCK:
        numba.set_num_threads(threads)
        yield


def fused_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, beta: float, causal: bool, softmax: bool
) -> torch.Tensor:
    """Attention of ``q`` on ``k, v`` (each (B, n, ·), CPU, float32 or float64, no autograd).

    Returns ``Σ_j e^{β⟨q_i,k_j⟩} v_j / Z_i`` of shape (B, n, dv), ``Z_i`` the softmax normaliser or the
    token count ``n`` (also when causal); token ``i`` sees keys ``j ≤ i`` if ``causal``. Agrees with
    SDPA within the rounding of the dtype.
    """
    q_np = q.detach().contiguous().numpy()
    kt = k.detach().transpose(-1, -2).contiguous().numpy()
    vt = v.detach().transpose(-1, -2).contiguous().numpy()
    out = np.empty((*q.shape[:-1], v.shape[-1]), dtype=q_np.dtype)
    with numba_threads():
        _attention_kernel(q_np, kt, vt, out, q_np.dtype.type(beta), bool(causal), bool(softmax))
    return torch.from_numpy(out)
