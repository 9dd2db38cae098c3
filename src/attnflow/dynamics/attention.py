"""The self-attention vector field of tokens as interacting particles (seed 002).

For tokens ``x_1..x_n`` in ``R^d`` the field is

    ẋ_i = P_{x_i}( Σ_h Σ_j A^h_ij V_h x_j  +  w·σ(a x_i + b) ),    A^h_ij = e^{β⟨Q_h x_i, K_h x_j⟩} / Z^h_i

with ``P_x y = y − ⟨x, y⟩ x`` on the sphere (LayerNorm, idealised) and ``P = id`` in Euclidean space.
``Z_i`` is the softmax normaliser (``"SA"``), the token count ``n`` (``"USA"``), or comes from a
doubly stochastic (Sinkhorn) normalisation of the kernel ``e^{β⟨Q x_i, K x_j⟩}`` (``"sinkhorn"``).
``"hardmax"`` is the limit β → +∞ taken exactly: ``A_ij = 1/|M_i|`` on the maximisers
``M_i = argmax_j β⟨Q x_i, K x_j⟩`` and 0 elsewhere. An ALiBi-style positional bias adds ``−m |i − j|``
to every score (``alibi=m``; with ``causal=True`` only ``j ≤ i`` remain, so the bias is ``−m (i − j)``).
A sliding-window mask (``window=w``) keeps only keys with ``|i − j| ≤ w`` (``i − w ≤ j ≤ i`` when causal).
A sink (BOS) token (``sink=b``) is one more key that every query sees, whatever the mask, with the fixed
score ``b`` and the value ``v_∅`` (``sink_value``, zero by default): it adds ``e^b`` to each softmax
normaliser and ``e^b v_∅ / Z_i`` to each output.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from attnflow._validate import finite_number, finite_tensor, one_of, positive_int

VARIANTS = ("SA", "USA", "sinkhorn", "hardmax")
GEOMETRIES = ("sphere", "euclidean")
BACKENDS = ("auto", "sdpa", "fused")
#: ``backend="auto"`` uses the fused kernel from this many tokens on (docs/benchmarks.md, "fused
#: kernel"): at 512 tokens, d = 3, it matched SDPA on one thread but ran at 0.63× on two; from 1024 it
#: was ≥ 1.5× on both.
FUSED_MIN_TOKENS = 1024
#: The fused kernel takes query/key and value dimensions up to this (``backend="fused"``) ...
FUSED_MAX_DIM = 16
#: ... and ``backend="auto"`` up to this: at 16 SDPA's matrix products already win (docs/benchmarks.md).
FUSED_AUTO_MAX_DIM = 8

#: A weight that is fixed (a tensor) or changes with time (a function of t returning a tensor).
Weight = torch.Tensor | Callable[[float], torch.Tensor]

# Hardmax counts keys whose score is within this many units of rounding (eps·|β|·|q_i|·max_j|k_j|, the
# size of a dot product's rounding error per coordinate) of the row's maximum, times the dimension, as
# ties: exact ties computed along different summation orders differ by that much.
_TIE_ULPS = 4.0
# Score blocks are kept below this many elements (256 MiB in float32) in the blocked paths.
_BLOCK_ELEMENTS = 1 << 26
# Under a sliding window a block holds at least this many query rows: fewer would make the Python loop
# over blocks, not the arithmetic, the cost for narrow windows.
_BAND_MIN_ROWS = 256
_ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "relu": torch.relu,
    "tanh": torch.tanh,
    "gelu": F.gelu,
    "sigmoid": torch.sigmoid,
}


@dataclass(frozen=True, eq=False)
class FeedForward:
    """The data-independent filtering term ``w·σ(a x + b)`` added to every token (seed 000's MLP).

    Args:
        w: output weights, shape ``(d, m)``.
        a: input weights, shape ``(m, d)``.
        b: biases, shape ``(m,)``.
        activation: one of ``"relu"``, ``"tanh"``, ``"gelu"``, ``"sigmoid"``.
    """

    w: torch.Tensor
    a: torch.Tensor
    b: torch.Tensor
    activation: str = "relu"

    def __post_init__(self) -> None:
        one_of("activation", self.activation, _ACTIVATIONS)
        for name in ("w", "a", "b"):
            finite_tensor(f"feedforward.{name}", getattr(self, name))
        if self.a.ndim != 2 or self.w.ndim != 2 or self.b.ndim != 1:
            raise ValueError("feedforward needs w of shape (d, m), a of shape (m, d) and b of shape (m,)")
        if self.w.shape[1] != self.a.shape[0] or self.b.shape[0] != self.a.shape[0]:
            raise ValueError(
                f"feedforward hidden sizes disagree: w {tuple(self.w.shape)}, a {tuple(self.a.shape)}, "
                f"b {tuple(self.b.shape)} (need w (d, m), a (m, d), b (m,))"
            )
        if self.w.shape[0] != self.a.shape[1]:
            raise ValueError(f"feedforward w has {self.w.shape[0]} rows but a has {self.a.shape[1]} columns")

    @property
    def dim(self) -> int:
        """Token dimension ``d``."""
        return self.a.shape[1]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        a, b, w = (p.to(x) for p in (self.a, self.b, self.w))
        return _ACTIVATIONS[self.activation](x @ a.T + b) @ w.T


class SelfAttention:
    """Self-attention dynamics as a vector field ``field(t, x)``.

    Args:
        beta: inverse temperature β, any finite real (β < 0 is the repulsive regime). It is the SDPA
            ``scale``: scores are ``β⟨Q x_i, K x_j⟩``. A 0-dim floating tensor is read at every
            evaluation, so gradients reach it (fit β with ``simulate(..., grad=True)``) and an optimiser's
            in-place updates take effect; :attr:`beta` is its current value as a float. A 1-dim tensor
            holds one β per run of a batched state ``(batch, n, d)`` (its length is the batch): runs that
            differ only in β integrate together in one batched pass (each run's queries are scaled by
            its β, so every backend sees β = 1); :attr:`betas` lists them.
        variant: ``"SA"`` (softmax, Z_i = Σ_k e^{β⟨Qx_i,Kx_k⟩}), ``"USA"`` (Z_i = n), ``"sinkhorn"``
            (the kernel scaled to a doubly stochastic matrix, in the log domain) or ``"hardmax"``
            (uniform weights on the maximisers of β⟨Qx_i,Kx_j⟩: the β → +∞ limit of SA at β = 1,
            exactly; ties within the rounding of the dtype are shared).
        geometry: ``"sphere"`` (tokens on the unit sphere; the tangent projection P_x keeps them there)
            or ``"euclidean"`` (no projection).
        Q, K: query and key weights: ``None`` (identity), a matrix ``(m, d)``, a per-head stack
            ``(heads, m, d)``, or a function of time returning either (a different layer at each time).
            Weights that require gradients receive them (autograd runs through every backend but
            ``"fused"``).
        V: value weights: ``None`` (identity), ``(d, d)``, ``(heads, d, d)`` or a function of time.
        causal: token ``k`` attends only to tokens ``j ≤ k``.
        heads: number of heads; ``None`` infers it from the weight stacks (1 if there are none). Heads
            are summed; a ``None`` weight is the identity in every head.
        feedforward: optional :class:`FeedForward` term added inside the projection.
        sinkhorn_iters: maximum Sinkhorn iterations (``variant="sinkhorn"``).
        sinkhorn_tol: stop once every row and column sum is within this of 1.
        alibi: the slope ``m ≥ 0`` of an ALiBi-style bias ``−m|i − j|`` added to the scores (token
            order is the row order; SA, USA and hardmax, on the blocked path).
        window: a sliding-window mask: token ``i`` attends to keys ``|i − j| ≤ window`` (with ``causal``,
            ``i − window ≤ j ≤ i``); ``0`` (the default) is no window. SA, USA and hardmax, on the
            blocked path, which then only computes scores inside the band. USA's normaliser stays ``n``.
        sink: the score ``b`` of a sink (BOS) token that every query attends to, whatever the mask,
            window or ALiBi bias: head ``h`` of token ``i`` outputs
            ``(Σ_j e^{s_ij} V_h x_j + e^b v_∅) / Z_i`` with ``Z_i = e^b + Σ_j e^{s_ij}`` (SA) or ``n``
            (USA: the sink is not counted as a token). ``None`` (the default) is no sink. SA and USA,
            on the blocked path (row blocks; no n×n matrix).
        sink_value: the sink's value ``v_∅``, shape ``(d,)`` (the same in every head); ``None`` is the
            zero vector, a sink that only absorbs attention.
        backend: ``"sdpa"`` (torch: SDPA for SA, the blocked log-domain path otherwise), ``"fused"``
            (the compiled small-d kernel of :mod:`attnflow.dynamics.kernels`: SA or USA, CPU, float32
            or float64, query/key and value dimensions ≤ ``FUSED_MAX_DIM``, no autograd) or ``"auto"``:
            the fused kernel where it applies, ``n ≥ FUSED_MIN_TOKENS`` and the dimensions are
            ≤ ``FUSED_AUTO_MAX_DIM``, torch otherwise (also whenever autograd records the step).
            :meth:`backend_for` tells which one a state gets.

    Notes:
        ``"SA"`` goes through :func:`torch.nn.functional.scaled_dot_product_attention`, fused and
        blocked on CPU and GPU: no n×n matrix is formed and large β never overflows. ``"USA"``,
        ``"sinkhorn"`` and causal SA with β ≤ 0 use a blocked log-domain path with the same guarantees
        on memory. The USA
        velocity itself grows like e^{β}: for large β it can exceed the float range — use float64,
        a smaller β, or SA.
    """

    def __init__(
        self,
        beta: float,
        variant: str = "SA",
        geometry: str = "sphere",
        Q: Weight | None = None,
        K: Weight | None = None,
        V: Weight | None = None,
        causal: bool = False,
        heads: int | None = None,
        feedforward: FeedForward | None = None,
        sinkhorn_iters: int = 200,
        sinkhorn_tol: float = 1e-6,
        alibi: float = 0.0,
        window: int = 0,
        backend: str = "auto",
        sink: float | None = None,
        sink_value: torch.Tensor | None = None,
    ) -> None:
        self._beta = _beta_of(beta)
        self.variant = one_of("variant", variant, VARIANTS)
        self.geometry = one_of("geometry", geometry, GEOMETRIES)
        self.causal = bool(causal)
        self.backend = one_of("backend", backend, BACKENDS)
        self.alibi = finite_number("alibi", alibi)
        if self.alibi < 0:
            raise ValueError(f"alibi must be a slope >= 0, got {alibi!r}")
        self.window = window_width(window)
        if self.backend == "fused" and (self.variant in ("sinkhorn", "hardmax") or self.alibi or self.window):
            raise ValueError(
                "backend='fused' supports variant 'SA' or 'USA' without alibi or window, "
                f"not {self.variant!r}"
                + (f" with alibi={self.alibi:g}" if self.alibi else "")
                + (f" with window={self.window}" if self.window else "")
            )
        if self.window and self.variant == "sinkhorn":
            raise ValueError("window is not supported with variant='sinkhorn'")
        self.sink, self.sink_value = _sink_of(sink, sink_value, self.variant, self.backend)
        if self.alibi and self.variant == "sinkhorn":
            raise ValueError("alibi is not supported with variant='sinkhorn'")
        if self.causal and self.variant == "sinkhorn":
            raise ValueError(
                "causal=True cannot be combined with variant='sinkhorn': the only doubly stochastic "
                "lower-triangular matrix is the identity"
            )
        if feedforward is not None and not isinstance(feedforward, FeedForward):
            raise TypeError(f"feedforward must be a FeedForward or None, got {type(feedforward).__name__}")
        self.feedforward = feedforward
        self.sinkhorn_iters = positive_int("sinkhorn_iters", sinkhorn_iters)
        self.sinkhorn_tol = finite_number("sinkhorn_tol", sinkhorn_tol)
        self.Q, self.K, self.V = Q, K, V
        stacks = {name: w for name, w in (("Q", Q), ("K", K), ("V", V)) if isinstance(w, torch.Tensor)}
        for name, w in stacks.items():
            finite_tensor(name, w)
            if w.ndim not in (2, 3):
                raise ValueError(f"{name} must have shape (m, d) or (heads, m, d), got {tuple(w.shape)}")
        counts = {w.shape[0] for w in stacks.values() if w.ndim == 3}
        if heads is not None:
            self.heads = positive_int("heads", heads)
            if counts - {self.heads}:
                raise ValueError(f"heads={self.heads} but the weight stacks have {sorted(counts)} heads")
        elif len(counts) > 1:
            raise ValueError(f"Q, K, V stacks disagree on the number of heads: {sorted(counts)}")
        else:
            self.heads = counts.pop() if counts else 1
        self.time_dependent = any(callable(w) and not isinstance(w, torch.Tensor) for w in (Q, K, V))

    @property
    def beta(self) -> float:
        """The inverse temperature β now (a float, also when a tensor was given).

        Raises:
            ValueError: the field has one β per run (read :attr:`betas`).
        """
        if isinstance(self._beta, torch.Tensor) and self._beta.ndim == 1:
            raise ValueError(f"this field has one beta per run, betas={self.betas}; it has no single beta")
        return float(self._beta.detach()) if isinstance(self._beta, torch.Tensor) else self._beta

    @property
    def betas(self) -> list[float] | None:
        """The β of each run when one was given per run (a 1-dim tensor), else ``None``."""
        if isinstance(self._beta, torch.Tensor) and self._beta.ndim == 1:
            return [float(b) for b in self._beta.detach()]
        return None

    def _beta_label(self) -> float | list[float]:
        return self.betas if self.betas is not None else self.beta

    def __repr__(self) -> str:
        extras = [f"heads={self.heads}"] if self.heads > 1 else []
        extras += ["causal=True"] if self.causal else []
        extras += [f"alibi={self.alibi:g}"] if self.alibi else []
        extras += [f"window={self.window}"] if self.window else []
        extras += [f"sink={self.sink:g}"] if self.sink is not None else []
        extras += ["feedforward=..."] if self.feedforward is not None else []
        extras += ["time-dependent weights"] if self.time_dependent else []
        extras += [f"backend={self.backend!r}"] if self.backend != "auto" else []
        tail = ", ".join(extras)
        beta = self._beta_label()
        shown = f"[{', '.join(f'{b:g}' for b in beta)}]" if isinstance(beta, list) else f"{beta:g}"
        return f"SelfAttention(beta={shown}, variant={self.variant!r}, geometry={self.geometry!r}" + (
            f", {tail})" if tail else ")"
        )

    def describe(self) -> dict[str, object]:
        """JSON-friendly parameters (stored with every Trajectory the field produces)."""

        def weight(w: Weight | None) -> object:
            if w is None:
                return "identity"
            return "function of t" if self.time_dependent and not isinstance(w, torch.Tensor) else "matrix"

        return {
            "field": "SelfAttention",
            "beta": self._beta_label(),
            "variant": self.variant,
            "geometry": self.geometry,
            "causal": self.causal,
            "heads": self.heads,
            "Q": weight(self.Q),
            "K": weight(self.K),
            "V": weight(self.V),
            "feedforward": self.feedforward is not None,
            "alibi": self.alibi,
            "window": self.window,
            "sink": self.sink,
            "sink_value": "zero" if self.sink_value is None else "vector",
            "backend": self.backend,
        }

    def check_state(self, x: torch.Tensor, name: str = "x") -> None:
        """Raise a clear error if ``x`` cannot be a state of this field."""
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor of shape (n, d) or (batch, n, d)")
        if x.ndim not in (2, 3):
            raise ValueError(f"{name} must have shape (n, d) or (batch, n, d), got {tuple(x.shape)}")
        finite_tensor(name, x)
        if self.betas is not None and (x.ndim != 3 or x.shape[0] != len(self.betas)):
            raise ValueError(
                f"beta holds one value per run ({len(self.betas)}), so {name} must have shape "
                f"({len(self.betas)}, n, d), got {tuple(x.shape)}"
            )
        n, d = x.shape[-2:]
        if n < 1:
            raise ValueError(f"{name} must hold at least one token")
        if self.geometry == "sphere" and d < 2:
            raise ValueError(f"{name} has dimension d={d}; the sphere geometry needs d >= 2")
        if self.feedforward is not None and self.feedforward.dim != d:
            raise ValueError(f"feedforward acts on dimension {self.feedforward.dim} but {name} has d={d}")
        if self.sink_value is not None and self.sink_value.shape != (d,):
            raise ValueError(f"sink_value has shape {tuple(self.sink_value.shape)} but {name} has d={d}")
        for label, w in (("Q", self.Q), ("K", self.K), ("V", self.V)):
            if isinstance(w, torch.Tensor) and w.shape[-1] != d:
                raise ValueError(f"{label} has {w.shape[-1]} columns but {name} has d={d}")
        if isinstance(self.V, torch.Tensor) and self.V.shape[-2] != d:
            raise ValueError(f"V must map R^{d} to R^{d}; got shape {tuple(self.V.shape)}")
        if isinstance(self.Q, torch.Tensor) and isinstance(self.K, torch.Tensor):
            if self.Q.shape[-2] != self.K.shape[-2]:
                raise ValueError(
                    f"Q and K must have the same number of rows, got {self.Q.shape} and {self.K.shape}"
                )

    def __call__(self, t: float, x: torch.Tensor) -> torch.Tensor:
        """The velocity of every token at time ``t``; ``x`` has shape ``(n, d)`` or ``(batch, n, d)``."""
        batched = x.ndim == 3
        xb = x if batched else x.unsqueeze(0)
        weights = [self._weight_at(t, w, xb) for w in (self.Q, self.K, self.V)]
        # Heads that share every weight attend identically: compute one and scale by the head count.
        distinct = any(w is not None and w.ndim == 3 for w in weights)
        heads = self.heads if distinct else 1
        q = _project(weights[0], xb, heads)
        # Identity (or shared) weights project once.
        k = q if weights[1] is weights[0] else _project(weights[1], xb, heads)
        v = k if weights[2] is weights[1] else _project(weights[2], xb, heads)
        # Fused causal SDPA returns NaN for scale <= 0 (its mask meets -inf * scale), so that case
        # takes the blocked path, as USA does.
        beta = self._beta.to(x) if isinstance(self._beta, torch.Tensor) else self._beta
        if isinstance(beta, torch.Tensor) and beta.ndim == 1:
            if not batched or xb.shape[0] != beta.shape[0]:
                self.check_state(x)  # raises, naming beta and the shape it needs
            # One β per run: each run's queries carry it (k and v keep the unscaled projection).
            q, beta = q * beta.view(-1, 1, 1, 1), 1.0
        if self._choose_backend(q, k, v) == "fused":
            from attnflow.dynamics.kernels import fused_attention

            flat = [p.reshape(-1, *p.shape[-2:]) for p in (q, k, v)]
            mixed = fused_attention(*flat, float(beta), self.causal, softmax=self.variant == "SA")
            mixed = mixed.reshape(*q.shape[:-1], v.shape[-1])
        elif self.variant == "hardmax":
            mixed = _hardmax_attention(q, k, v, float(beta), self.causal, self.alibi, self.window)
        elif (
            self.variant == "SA"
            and not (self.causal and float(beta.detach() if isinstance(beta, torch.Tensor) else beta) <= 0)
            and not (self.alibi or self.window or self.sink is not None)
        ):
            # SDPA's scale is a Python float: a tensor β (for its gradient) scales the queries instead.
            if isinstance(beta, torch.Tensor):
                q, beta = q * beta, 1.0
            mixed = F.scaled_dot_product_attention(q, k, v, scale=beta, is_causal=self.causal)
        elif self.variant in ("SA", "USA"):
            mixed = _blocked_attention(
                q,
                k,
                v,
                beta,
                self.causal,
                softmax=self.variant == "SA",
                alibi=self.alibi,
                window=self.window,
                sink=self.sink,
                sink_value=None if self.sink_value is None else self.sink_value.to(v),
            )
        else:
            mixed = _sinkhorn_attention(q, k, v, beta, self.sinkhorn_iters, self.sinkhorn_tol)
        if distinct:
            drift = mixed.sum(dim=1)
        else:  # one head computed for all: no copy when there is one
            drift = mixed.squeeze(1) if self.heads == 1 else self.heads * mixed.squeeze(1)
        if self.feedforward is not None:
            drift = drift + self.feedforward(xb)
        if self.geometry == "sphere":
            radial = torch.linalg.vecdot(drift, xb).unsqueeze(-1)
            if drift.requires_grad:  # autograd may need the attention output as it is
                drift = torch.addcmul(drift, radial, xb, value=-1)
            else:  # drift is this call's own output: project it in place (no new state-sized buffer)
                drift.addcmul_(radial, xb, value=-1)
        return drift if batched else drift.squeeze(0)

    def backend_for(self, x: torch.Tensor, t: float = 0.0) -> str:
        """``"fused"`` or ``"sdpa"``: the backend that evaluating the field at ``(t, x)`` uses now.

        Raises:
            ValueError: ``backend="fused"`` was asked for but does not apply to ``x`` (the reason is named).
        """
        self.check_state(x)
        xb = x if x.ndim == 3 else x.unsqueeze(0)
        weights = [self._weight_at(t, w, xb) for w in (self.Q, self.K, self.V)]
        return self._choose_backend(*(_project(w, xb, 1) for w in weights))

    def _choose_backend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> str:
        """The backend for projected queries, keys and values (see ``backend`` in the class doc)."""
        if (
            self.backend == "sdpa"
            or self.variant in ("sinkhorn", "hardmax")
            or self.alibi
            or self.window
            or self.sink is not None
        ):
            return "sdpa"
        reason = _fused_unsupported(q, k, v, self._beta)
        if reason is None:
            faster = q.shape[-2] >= FUSED_MIN_TOKENS and max(q.shape[-1], v.shape[-1]) <= FUSED_AUTO_MAX_DIM
            return "fused" if self.backend == "fused" or faster else "sdpa"
        if self.backend == "fused":
            raise ValueError(f"backend='fused' cannot evaluate this state: {reason}; use backend='auto'")
        return "sdpa"

    def _weight_at(self, t: float, weight: Weight | None, x: torch.Tensor) -> torch.Tensor | None:
        """The weight in force at time ``t``, on ``x``'s device and dtype (``None`` is the identity)."""
        if weight is None:
            return None
        w = torch.as_tensor(weight if isinstance(weight, torch.Tensor) else weight(t)).to(x)
        if w.ndim not in (2, 3) or w.shape[-1] != x.shape[-1] or (w.ndim == 3 and w.shape[0] != self.heads):
            raise ValueError(
                f"a weight at t={t:g} has shape {tuple(w.shape)}; expected (m, {x.shape[-1]}) or "
                f"({self.heads}, m, {x.shape[-1]})"
            )
        return w


def window_width(window: object) -> int:
    """``window`` as a sliding-window half-width: an integer ``>= 0`` (0: no window)."""
    if isinstance(window, bool) or not isinstance(window, int) or window < 0:
        raise ValueError(f"window must be an integer >= 0 (0: no window), got {window!r}")
    return window


def _sink_of(
    sink: object, sink_value: object, variant: str, backend: str
) -> tuple[float | None, torch.Tensor | None]:
    """``(sink, sink_value)`` validated: a finite score or ``None``, and a finite vector or ``None``."""
    if sink is None:
        if sink_value is not None:
            raise ValueError("sink_value needs a sink: pass sink=b, the sink's score")
        return None, None
    score = finite_number("sink", sink)
    if variant not in ("SA", "USA"):
        raise ValueError(f"sink is supported with variant 'SA' or 'USA', not {variant!r}")
    if backend == "fused":
        raise ValueError("backend='fused' does not take a sink; use backend='auto' or 'sdpa'")
    if sink_value is None:
        return score, None
    if not isinstance(sink_value, torch.Tensor) or sink_value.ndim != 1:
        raise ValueError("sink_value must be a 1-D tensor of shape (d,)")
    return score, finite_tensor("sink_value", sink_value)


def _beta_of(beta: object) -> float | torch.Tensor:
    """``beta`` as a finite float, or as the 0-dim (one β) or non-empty 1-dim (one β per run) floating
    tensor it is (kept, for its gradient)."""
    if not isinstance(beta, torch.Tensor):
        return finite_number("beta", beta)
    if beta.ndim > 1 or (beta.ndim == 1 and beta.numel() == 0):
        raise ValueError(
            "beta must be a number, a 0-dim tensor or a 1-dim tensor of one value per run, "
            f"got a tensor of shape {tuple(beta.shape)}"
        )
    return finite_tensor("beta", beta)


def _fused_unsupported(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, beta: float | torch.Tensor
) -> str | None:
    """Why the fused kernel cannot take these queries, keys and values (``None`` if it can)."""
    if q.device.type != "cpu":
        return f"it runs on the CPU, the state is on {q.device}"
    if q.dtype not in (torch.float32, torch.float64):
        return f"it computes in float32 or float64, the state is {q.dtype}"
    if q.shape[-1] > FUSED_MAX_DIM or v.shape[-1] > FUSED_MAX_DIM:
        return (
            f"query/key and value dimensions must be <= {FUSED_MAX_DIM}, got {q.shape[-1]} and {v.shape[-1]}"
        )
    tensors = (q, k, v, beta) if isinstance(beta, torch.Tensor) else (q, k, v)
    if torch.is_grad_enabled() and any(p.requires_grad for p in tensors):
        return "it has no autograd, and this evaluation records gradients"
    return None


def _project(w: torch.Tensor | None, x: torch.Tensor, heads: int) -> torch.Tensor:
    """``x`` (B, n, d) through one weight (identity if ``None``), as (B, heads, n, m)."""
    if w is None:
        return x.unsqueeze(1) if heads == 1 else x.unsqueeze(1).expand(-1, heads, -1, -1)
    if w.ndim == 2:
        return (x @ w.T).unsqueeze(1).expand(-1, heads, -1, -1)
    return torch.einsum("bnd,hmd->bhnm", x, w)


def _row_block(q: torch.Tensor, k: torch.Tensor) -> int:
    """Rows of queries per block so that a block of scores stays under the memory budget."""
    per_row = q.shape[0] * q.shape[1] * k.shape[-2]
    return max(1, min(q.shape[-2], _BLOCK_ELEMENTS // max(per_row, 1)))


def _band_block(q: torch.Tensor, window: int) -> int:
    """Rows per block under a sliding window: about the band's width (at least ``_BAND_MIN_ROWS``, so
    narrow windows do not loop per token), so a block meets at most about twice the keys it needs,
    and under the memory budget."""
    rows = max(2 * window + 1, _BAND_MIN_ROWS)
    per_row = q.shape[0] * q.shape[1] * (rows + 2 * window)
    return max(1, min(q.shape[-2], rows, _BLOCK_ELEMENTS // per_row))


def _scores(
    q: torch.Tensor,
    k: torch.Tensor,
    beta: float | torch.Tensor,
    start: int,
    causal: bool,
    alibi: float = 0.0,
    window: int = 0,
    key_start: int = 0,
) -> torch.Tensor:
    """β⟨q_i, k_j⟩ − alibi·|i − j| for query rows ``start..start+len(q)`` and keys ``key_start..``;
    future keys −inf if causal, keys farther than ``window`` from the query −inf if ``window``."""
    s = beta * (q @ k.transpose(-1, -2))
    if causal or alibi or window:
        rows = torch.arange(start, start + q.shape[-2], device=q.device).unsqueeze(-1)
        columns = torch.arange(key_start, key_start + k.shape[-2], device=q.device)
        if alibi:
            s = s - alibi * (rows - columns).abs().to(s.dtype)
        if causal:
            s = s.masked_fill(columns > rows, -math.inf)
        if window:
            s = s.masked_fill((rows - columns).abs() > window, -math.inf)
    return s


def _key_range(start: int, rows: int, n: int, causal: bool, window: int) -> tuple[int, int]:
    """The keys ``[lo, hi)`` that query rows ``start..start+rows`` can see: all of them without a
    window, else the band ``[start − window, start + rows + window)`` cut to the sequence (and to the
    past if causal)."""
    if not window:
        return 0, n
    end = start + rows if causal else start + rows + window
    return max(0, start - window), min(n, end)


def _score_blocks(
    q: torch.Tensor,
    k: torch.Tensor,
    beta: float | torch.Tensor,
    causal: bool,
    alibi: float,
    window: int,
) -> Iterator[tuple[torch.Tensor, int, int, torch.Tensor]]:
    """Row blocks of the scores: ``(query rows, lo, hi, scores against keys lo..hi)``, no n×n matrix.

    With a ``window`` each block of rows only meets the band of keys it can see."""
    n = k.shape[-2]
    block = _band_block(q, window) if window else _row_block(q, k)
    for start in range(0, q.shape[-2], block):
        rows = q[..., start : start + block, :]
        lo, hi = _key_range(start, rows.shape[-2], n, causal, window)
        yield rows, lo, hi, _scores(rows, k[..., lo:hi, :], beta, start, causal, alibi, window, lo)


def _blocked_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    beta: float | torch.Tensor,
    causal: bool,
    softmax: bool,
    alibi: float = 0.0,
    window: int = 0,
    sink: float | None = None,
    sink_value: torch.Tensor | None = None,
) -> torch.Tensor:
    """Σ_j e^{β⟨q_i,k_j⟩} v_j / Z_i in row blocks, Z_i the row sum (softmax) or n, max factored out.

    A ``sink`` score ``b`` adds ``e^b`` to the softmax row sum and ``e^b sink_value`` (zero if ``None``)
    to the weighted sum, with the maximum taken over the sink too."""
    n = k.shape[-2]
    out = []
    for _, lo, hi, s in _score_blocks(q, k, beta, causal, alibi, window):
        top = s.amax(dim=-1, keepdim=True)
        if sink is not None:
            top = top.clamp_min(sink)
        weights = torch.exp(s - top)
        mixed = weights @ v[..., lo:hi, :]
        absorbed = torch.exp(sink - top) if sink is not None else None
        if absorbed is not None and sink_value is not None:
            mixed = mixed + absorbed * sink_value
        if softmax:
            total = weights.sum(dim=-1, keepdim=True)  # USA divides by n: no row sum needed
            if absorbed is not None:
                total = total + absorbed
            out.append(mixed / total)
        else:
            out.append(mixed * torch.exp(top - math.log(n)))
    return torch.cat(out, dim=-2)


def _hardmax_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    beta: float,
    causal: bool,
    alibi: float,
    window: int = 0,
) -> torch.Tensor:
    """The mean of ``v_j`` over the maximisers ``j`` of each row's scores, in row blocks.

    A key ties with the maximum if its score is within ``_TIE_ULPS·m·eps`` of the scale
    ``|β|·|q_i|·max_j|k_j|`` (``m`` the query dimension), the rounding of the scores themselves.
    """
    eps = torch.finfo(q.dtype).eps
    key_norm = k.norm(dim=-1).amax(dim=-1, keepdim=True).unsqueeze(-1)  # (B, H, 1, 1)
    out = []
    for rows, lo, hi, s in _score_blocks(q, k, beta, causal, alibi, window):
        top = s.amax(dim=-1, keepdim=True)
        slack = _TIE_ULPS * q.shape[-1] * eps * abs(beta) * rows.norm(dim=-1, keepdim=True) * key_norm
        chosen = (s >= top - slack).to(v.dtype)
        out.append(chosen @ v[..., lo:hi, :] / chosen.sum(dim=-1, keepdim=True))
    return torch.cat(out, dim=-2)


def _sinkhorn_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, beta: float | torch.Tensor, iters: int, tol: float
) -> torch.Tensor:
    """Σ_j P_ij v_j with P = diag(e^f) e^{βS} diag(e^g) doubly stochastic, by log-domain Sinkhorn.

    Rows are normalised last, so they sum to 1 exactly; iteration stops once the row update moves the
    log-potentials by less than ``tol``, i.e. once the columns also sum to 1 within a relative ``tol``.
    """
    n = k.shape[-2]
    block = _row_block(q, k)
    single = _scores(q, k, beta, 0, False) if block >= n else None

    def blocks() -> Iterator[tuple[int, torch.Tensor]]:
        if single is not None:
            yield 0, single
            return
        for s in range(0, n, block):
            yield s, _scores(q[..., s : s + block, :], k, beta, s, False)

    def normalise_rows(g: torch.Tensor) -> torch.Tensor:
        parts = [-torch.logsumexp(scores + g.unsqueeze(-2), dim=-1) for _, scores in blocks()]
        return torch.cat(parts, dim=-1)

    g = torch.zeros(q.shape[:-1], dtype=q.dtype, device=q.device)
    f = normalise_rows(g)
    for _ in range(iters):
        col = torch.full_like(g, -math.inf)
        for s, scores in blocks():
            col = torch.logaddexp(col, torch.logsumexp(scores + f[..., s : s + block, None], dim=-2))
        g = -col
        f_next = normalise_rows(g)
        moved = (f_next - f).abs().max().item()
        f = f_next
        if moved < tol:
            break
    out = [torch.exp(scores + f[..., s : s + block, None] + g.unsqueeze(-2)) @ v for s, scores in blocks()]
    return torch.cat(out, dim=-2)
