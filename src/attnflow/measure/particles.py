"""Hidden states as a particle system (seed 002): the cloud's statistics per layer, the self-attention
step that best explains each layer's token motion, and how far a causal model's context vector travels.

Every function takes a :class:`~attnflow.Trajectory`, or anything with a ``trajectory()`` method that
returns one (an :class:`attnflow.lm.Recording`: its layer states with the final norm). No n×n matrix
is formed.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from typing import Any

import numpy as np
import torch
import xarray as xr
from scipy.optimize import minimize_scalar

from attnflow._validate import check_pairs, check_trajectory, finite_number, positive_int
from attnflow.dynamics import SelfAttention
from attnflow.integrate import simulate
from attnflow.integrate.solvers import small_problem_threads
from attnflow.measure.clusters import clusters
from attnflow.measure.energy import energy
from attnflow.measure.pairs import cosine_histogram
from attnflow.measure.rank import effective_rank
from attnflow.random import Seed, spawn, torch_generator
from attnflow.trajectory import Trajectory


def as_trajectory(data: Any) -> Any:
    """``data`` itself, or its ``trajectory()`` when it records one (an :class:`attnflow.lm.Recording`)."""
    if not isinstance(data, Trajectory) and callable(getattr(data, "trajectory", None)):
        return data.trajectory()
    return data


def layer_state(traj: Trajectory, layer: int) -> torch.Tensor:
    """The token states ``(n, d)`` of ``traj`` at state index ``layer`` (negative counts from the end).

    Raises:
        ValueError: if ``layer`` is out of range.
    """
    if not -traj.n_states <= layer < traj.n_states:
        raise ValueError(f"layer must be in [{-traj.n_states}, {traj.n_states - 1}], got {layer}")
    return traj.x[layer]


def to_sphere(traj: Trajectory) -> Trajectory:
    """The trajectory with every token state scaled to unit norm, ``z_i = h_i / |h_i|`` (float64, CPU).

    This is the idealisation of the norm layers in seed 002's model (tokens live on the sphere).

    Raises:
        ValueError: a token state is zero (it has no direction).
    """
    traj = check_trajectory(as_trajectory(traj))
    x = traj.x.detach().to(dtype=torch.float64, device="cpu")
    norms = x.norm(dim=-1, keepdim=True)
    if bool((norms == 0).any()):
        raise ValueError("traj has a zero token state, which has no direction on the sphere")
    return replace(traj, x=x / norms, params={**traj.params, "normalised": "unit sphere"})


def particle_measures(
    traj: Trajectory, *, beta: float = 1.0, bins: int = 40, tol: float = 0.05
) -> xr.Dataset:
    """Seed 002's cloud statistics at every layer, on the states scaled onto the unit sphere.

    The energy ``E_β`` (:func:`~attnflow.measure.energy`), the histogram of pairwise cosines
    (:func:`~attnflow.measure.cosine_histogram`), the mean cosine over distinct pairs
    ``(|Σ_i z_i|² − n) / (n(n − 1))``, the number of clusters at linking distance ``tol``
    (:func:`~attnflow.measure.clusters`) and the effective rank (:func:`~attnflow.measure.effective_rank`).

    Args:
        traj: a trajectory over layers (e.g. :func:`attnflow.lm.trace`) or a Recording.
        beta: the β of the energy.
        bins: number of cosine bins on ``[-1, 1]``.
        tol: cluster linking distance on the unit sphere.

    Returns:
        A Dataset over the trajectory's axis with ``energy``, ``pair_fraction`` (axis × cosine),
        ``mean_cosine``, ``clusters`` and ``effective_rank``.
    """
    traj = check_pairs(as_trajectory(traj))
    sphere = to_sphere(traj)
    n = traj.n_tokens
    total = sphere.x.sum(dim=1)  # Σ_ij ⟨z_i, z_j⟩ = |Σ_i z_i|², and the n diagonal terms are 1
    mean_cosine = ((total * total).sum(-1) - n) / (n * (n - 1))
    return xr.Dataset(
        {
            "energy": energy(sphere, beta),
            "pair_fraction": cosine_histogram(sphere, bins),
            "mean_cosine": ((traj.axis,), mean_cosine.numpy()),
            "clusters": clusters(sphere, tol)["count"],
            "effective_rank": effective_rank(sphere),
        },
        attrs={"beta": beta, "tol": tol},
    )


def _motion(z0: torch.Tensor, beta: float, causal: bool) -> torch.Tensor:
    """The self-attention velocity ``P_z(Σ_j A_ij z_j)`` (Q = K = V = I) at ``z0``."""
    return SelfAttention(beta, causal=causal)(0.0, z0)


def _explained(delta: torch.Tensor, velocity: torch.Tensor) -> tuple[float, float]:
    """Best step ``τ ≥ 0`` for ``delta ≈ τ · velocity`` and the fraction of ``|delta|²`` it explains."""
    vv = float((velocity * velocity).sum())
    total = float((delta * delta).sum())
    if vv == 0 or total == 0:
        return 0.0, 0.0
    tau = max(0.0, float((delta * velocity).sum()) / vv)
    residual = float(((delta - tau * velocity) ** 2).sum())
    return tau, 1.0 - residual / total


def _ideal_layer(z0: torch.Tensor, weights: dict[str, torch.Tensor], causal: bool) -> torch.Tensor:
    """The motion ``z' − z`` of one Euler step of SA on the sphere with identity-plus-low-rank weights.

    ``Q = [I; Q_r]`` and ``K = [I; K_r]`` (so scores are ``β(⟨z_i, z_j⟩ + ⟨Q_r z_i, K_r z_j⟩)``) and
    ``V = τ I + B Cᵀ``; the step is :func:`attnflow.simulate` with ``grad=True``, so it is differentiable
    in every weight.
    """
    eye = torch.eye(z0.shape[-1], dtype=z0.dtype)
    field = SelfAttention(
        weights["beta"],
        causal=causal,
        Q=torch.cat([eye, weights["Q"]]),
        K=torch.cat([eye, weights["K"]]),
        V=weights["tau"] * eye + weights["B"] @ weights["C"].T,
        backend="sdpa",
    )
    return simulate(field, z0, t_end=1.0, dt=1.0, method="euler", grad=True).final - z0


def _unexplained(delta: torch.Tensor, motion: torch.Tensor) -> torch.Tensor:
    """``|Δ − m|² / |Δ|²`` (1 − the explained fraction)."""
    return ((delta - motion) ** 2).sum() / (delta * delta).sum()


def _fit_low_rank(
    z0: torch.Tensor,
    z1: torch.Tensor,
    beta: float,
    tau: float,
    rank: int,
    causal: bool,
    iterations: int,
    seed: Seed,
) -> dict[str, torch.Tensor]:
    """Weights of the identity-plus-rank-``rank`` layer that best explain ``z1 − z0`` (L-BFGS from β, τ).

    The fit runs in an orthonormal basis ``U`` of the span of both states (at most ``2n`` of the ``d``
    dimensions): ``Q_r``, ``K_r`` and ``C`` only ever meet the tokens, so only their parts in that span
    are trained, and ``B`` is kept in it (a part outside only adds motion that the data lack). The
    returned weights are mapped back to ``R^d`` (``Q_r Uᵀ``, ``U B``, ...), with zero outside the span.
    """
    singular_vectors, singular_values, _ = torch.linalg.svd(torch.cat([z0, z1]).T, full_matrices=False)
    basis = singular_vectors[:, singular_values > singular_values[0] * 1e-10]
    y0, y1 = z0 @ basis, z1 @ basis
    k = basis.shape[1]
    generator = torch_generator(seed)
    # Small random low-rank factors: at exactly zero the bilinear terms have zero gradient.
    scale = 0.1 / k**0.5
    weights = {
        "beta": torch.tensor(beta, dtype=z0.dtype),
        "tau": torch.tensor(tau, dtype=z0.dtype),
        **{
            name: scale * torch.randn(shape, generator=generator, dtype=z0.dtype)
            for name, shape in (("Q", (rank, k)), ("K", (rank, k)), ("B", (k, rank)), ("C", (k, rank)))
        },
    }
    for w in weights.values():
        w.requires_grad_()
    optimiser = torch.optim.LBFGS(
        list(weights.values()), max_iter=iterations, history_size=20, line_search_fn="strong_wolfe"
    )

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        loss = _unexplained(y1 - y0, _ideal_layer(y0, weights, causal))
        loss.backward()
        return loss

    optimiser.step(closure)
    fitted = {name: w.detach() for name, w in weights.items()}
    return {
        "beta": fitted["beta"],
        "tau": fitted["tau"],
        "Q": fitted["Q"] @ basis.T,
        "K": fitted["K"] @ basis.T,
        "B": basis @ fitted["B"],
        "C": basis @ fitted["C"],
    }


def fit_dynamics(
    traj: Trajectory,
    *,
    causal: bool | None = None,
    beta_range: tuple[float, float] = (-10.0, 50.0),
    grid: int = 61,
    rank: int | None = None,
    heldout: Any = None,
    iterations: int = 200,
    seed: Seed = 0,
) -> xr.Dataset:
    """For every step between consecutive states, the SA step that best explains the tokens' motion.

    With ``z_i = h_i/|h_i|`` the states on the unit sphere and ``Δ_i = z_i' − z_i`` the observed
    motion of token ``i`` from one state to the next, the model motion is one explicit Euler step of
    seed 002's self-attention dynamics with ``Q = K = V = I``:
    ``m_i(β) = P_{z_i}(Σ_j A_ij(β) z_j)``, ``A_ij = softmax_j(β⟨z_i, z_j⟩)`` (over ``j ≤ i`` when
    causal), ``P_z y = y − ⟨z, y⟩z``. For each β the step length is the least-squares
    ``τ(β) = max(0, ⟨Δ, m⟩ / ⟨m, m⟩)`` (Frobenius inner products over all tokens), and β maximises the
    explained fraction ``1 − |Δ − τ m|² / |Δ|²`` (equal to ``cos²∠(Δ, m)`` when ``τ > 0``; 0 when the
    best step is no move). The search is a grid over ``beta_range`` refined by a bounded scalar
    minimisation around the best grid point. The attention runs blocked (no n×n matrix).

    With ``rank = r`` the weights are also fitted: the layer is one Euler step of SA on the sphere,
    retracted (:func:`attnflow.simulate`, ``grad=True``), with ``Q = [I; Q_r]``, ``K = [I; K_r]``
    (scores ``β(⟨z_i, z_j⟩ + ⟨Q_r z_i, K_r z_j⟩)``) and ``V = τI + B Cᵀ``, ``Q_r, K_r`` of shape
    ``(r, d)`` and ``B, C`` of shape ``(d, r)``; it contains the identity model (at zero low-rank
    factors). Starting from the fitted β and τ and small random factors, L-BFGS minimises
    ``|Δ − (z' − z)|² / |Δ|²`` by autograd through the step, in the span of the two states (the
    weights' parts outside it are zero).

    Args:
        traj: a trajectory (over layers from :func:`attnflow.lm.trace`, or any flow) or a Recording;
            ``traj[::2]`` of a ``sublayers=True`` trace fits whole blocks, the full one each sublayer.
        causal: use the causal mask; default ``traj.params["causal"]`` (``False`` when absent).
        beta_range: the interval searched for β (β < 0 is the repulsive regime).
        grid: number of grid points in ``beta_range``.
        rank: also fit identity-plus-rank-``rank`` weights (``None``: only β and τ).
        heldout: a second trajectory or Recording with the same states (e.g. the same model on another
            text): the fitted layers are scored on its motion too.
        iterations: L-BFGS iterations per step of the low-rank fit.
        seed: seeds the low-rank factors' start (one child per step).

    Returns:
        A Dataset over ``step`` (``T − 1`` entries; coordinates ``start`` and ``end`` are the states'
        times) with ``beta``, ``tau`` (step length), ``explained`` (fraction in ``[0, 1]``) and
        ``motion`` (``|Δ|``, Frobenius, on the sphere); with ``heldout``, ``heldout_explained`` (the same
        β and τ on its motion); with ``rank``, ``explained_low_rank`` (``1 − |Δ − (z' − z)|²/|Δ|²``)
        and, with ``heldout``, ``heldout_explained_low_rank``. Held-out fractions can be negative (the
        model moves tokens the wrong way).

    Raises:
        ValueError: for fewer than two states or two tokens, a bad range, or a ``heldout`` whose states
            or dimension differ.
    """
    traj = check_pairs(as_trajectory(traj))
    if traj.n_states < 2:
        raise ValueError(f"traj must hold at least two states to have a motion, got {traj.n_states}")
    low, high = (finite_number("beta_range", b) for b in beta_range)
    if not low < high:
        raise ValueError(f"beta_range must be (low, high) with low < high, got {beta_range}")
    grid = positive_int("grid", grid, minimum=3)
    if rank is not None:
        rank = positive_int("rank", rank)
        iterations = positive_int("iterations", iterations)
        step_seeds = spawn(seed, traj.n_states - 1)
    causal = bool(traj.params.get("causal", False)) if causal is None else bool(causal)
    z = to_sphere(traj).x
    z_heldout = None
    if heldout is not None:
        held = check_pairs(as_trajectory(heldout), "heldout")
        if held.n_states != traj.n_states or held.dim != traj.dim:
            raise ValueError(
                f"heldout must have the states and dimension of traj ({traj.n_states} × d={traj.dim}), "
                f"got {held.n_states} × d={held.dim}"
            )
        z_heldout = to_sphere(held).x
    betas = np.linspace(low, high, grid)
    columns: dict[str, list[float]] = {}
    # The fits' backward passes run outside simulate: small problems get one thread here too.
    with small_problem_threads(z[0]):
        for index, (z0, z1) in enumerate(itertools.pairwise(z)):
            delta = z1 - z0

            def loss(beta: float, z0: torch.Tensor = z0, delta: torch.Tensor = delta) -> float:
                return -_explained(delta, _motion(z0, float(beta), causal))[1]

            scores = [loss(b) for b in betas]
            best = int(np.argmin(scores))
            lo, hi = betas[max(best - 1, 0)], betas[min(best + 1, grid - 1)]
            refined = minimize_scalar(loss, bounds=(lo, hi), method="bounded", options={"xatol": 1e-5})
            beta = float(refined.x) if refined.fun <= scores[best] else float(betas[best])
            tau, explained = _explained(delta, _motion(z0, beta, causal))
            row = {"beta": beta, "tau": tau, "explained": explained, "motion": float(delta.norm())}
            if z_heldout is not None:
                h0, h_delta = z_heldout[index], z_heldout[index + 1] - z_heldout[index]
                row["heldout_explained"] = 1.0 - float(_unexplained(h_delta, tau * _motion(h0, beta, causal)))
            if rank is not None:
                weights = _fit_low_rank(z0, z1, beta, tau, rank, causal, iterations, step_seeds[index])
                with torch.no_grad():
                    row["explained_low_rank"] = 1.0 - float(
                        _unexplained(delta, _ideal_layer(z0, weights, causal))
                    )
                    if z_heldout is not None:
                        motion = _ideal_layer(h0, weights, causal)
                        row["heldout_explained_low_rank"] = 1.0 - float(_unexplained(h_delta, motion))
            for name, value in row.items():
                columns.setdefault(name, []).append(value)
    attrs: dict[str, Any] = {
        "causal": causal,
        "beta_range": [low, high],
        "model": "SA, Q=K=V=I, one Euler step",
    }
    if rank is not None:
        attrs.update(rank=rank, iterations=iterations, low_rank_model="SA, Q=[I;Q_r], K=[I;K_r], V=τI+BCᵀ")
    return xr.Dataset(
        {name: ("step", np.array(values)) for name, values in columns.items()},
        coords={
            "step": np.arange(traj.n_states - 1),
            "start": ("step", traj.times[:-1].numpy()),
            "end": ("step", traj.times[1:].numpy()),
        },
        attrs=attrs,
    )


def context_travel(traj: Trajectory, layer: int = -1) -> xr.Dataset:
    """Distance travelled by the context vector as the text is read token by token.

    In a causal model, the state of token ``t`` at a layer is the context vector of the prefix
    ``1..t`` (it sees nothing later), so one trace gives the whole path ``c_1, …, c_n``; for other
    trajectories this is the path through the tokens in label order.

    Args:
        traj: a trajectory over layers (:func:`attnflow.lm.trace` of a causal model) or a Recording.
        layer: which state is the context vector (index into the states; the default, the last, is
            after the final norm for a trace).

    Returns:
        A Dataset over ``context_length`` ``1..n`` with ``step`` (``|c_t − c_{t−1}|``, 0 at t = 1),
        ``distance`` (cumulative path length), ``displacement`` (``|c_t − c_1|``) and ``cosine_step``
        (cosine between consecutive context vectors, 1 at t = 1).

    Raises:
        ValueError: if ``layer`` is out of range.
    """
    traj = check_trajectory(as_trajectory(traj))
    c = layer_state(traj, layer).detach().to(dtype=torch.float64, device="cpu")
    step = torch.cat([torch.zeros(1, dtype=c.dtype), (c[1:] - c[:-1]).norm(dim=-1)])
    unit = c / c.norm(dim=-1, keepdim=True)
    cosine = torch.cat([torch.ones(1, dtype=c.dtype), (unit[1:] * unit[:-1]).sum(-1)])
    return xr.Dataset(
        {
            "step": ("context_length", step.numpy()),
            "distance": ("context_length", step.cumsum(0).numpy()),
            "displacement": ("context_length", (c - c[0]).norm(dim=-1).numpy()),
            "cosine_step": ("context_length", cosine.numpy()),
        },
        coords={
            "context_length": np.arange(1, traj.n_tokens + 1),
            "label": ("context_length", list(traj.labels)),
        },
        attrs={"model": str(traj.params.get("model", "")), "layer": float(traj.times[layer])},
    )


__all__ = ["context_travel", "fit_dynamics", "layer_state", "particle_measures", "to_sphere"]
