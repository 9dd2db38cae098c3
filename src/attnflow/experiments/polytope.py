"""Euclidean space with V = I and QᵀK ≻ 0: the rescaled tokens converge to a finite set on a polytope.

Without the sphere constraint and with ``V = I``, ``ẋ_i = Σ_j A_ij x_j`` (softmax ``A``) makes every token
grow like ``e^t``. In the rescaled variables ``z_i = e^{−t} x_i``, ``ż_i = Σ_j A_ij (z_j − z_i)`` with
attention scores ``β e^{2t}⟨Q z_i, K z_j⟩``: the attention hardens over time and each ``z_i`` converges.
The theorem (Geshkovski, Letrouit, Polyanskiy & Rigollet, arXiv:2305.05465, case V = I_d, assuming
QᵀK ≻ 0) says the limits form a finite set ``S`` with ``vertices(K) ⊆ S ⊆ ∂K ∪ {0}``, ``K`` a convex
polytope: a limit may sit on a face of ``K`` or at the origin, not only at a vertex. The first inclusion
holds for ``K = conv S`` by construction, so what can fail is the second: a limit inside ``K`` away from 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from attnflow.experiments.base import Experiment, Verdict, status_of
from attnflow.experiments.papers import EMERGENCE_OF_CLUSTERS
from attnflow.measure.fits import is_extreme_point


def _compute(params: Mapping[str, Any]) -> dict[str, Any]:
    from attnflow.dynamics import SelfAttention
    from attnflow.integrate import simulate
    from attnflow.measure import cluster_labels
    from attnflow.random import torch_generator

    tol = params["limit_tol"]
    counts = {"vertex": 0, "face": 0, "origin": 0, "interior": 0}
    worst_motion = 0.0
    limit_counts: dict[str, list[int]] = {}
    shown: dict[str, np.ndarray] = {}
    for d in params["dims"]:
        key = params["key_scale"] * torch.eye(d, dtype=torch.float64)
        field = SelfAttention(beta=params["beta"], variant="SA", geometry="euclidean", K=key)
        # Gaussian starts in R^d, which no Simulation start draws; the root seed for every d.
        x0 = torch.randn(
            params["seeds"], params["n"], d, generator=torch_generator(params["seed"]), dtype=torch.float64
        )
        trajs = simulate(
            field, x0, t_end=params["t_end"], dt=params["dt"], method="rk4", save_every=params["save_every"]
        )
        limit_counts[f"d={d}"] = []
        for k, traj in enumerate(trajs):
            z = (traj.x * torch.exp(-traj.times).unsqueeze(-1).unsqueeze(-1)).numpy()
            # Convergence: the speed of z over the last saved interval.
            interval = float(traj.times[-1] - traj.times[-2])
            worst_motion = max(worst_motion, float(np.linalg.norm(z[-1] - z[-2], axis=1).max()) / interval)
            labels = cluster_labels(z[-1], tol=tol)
            limits = np.array([z[-1][labels == q].mean(axis=0) for q in range(labels.max() + 1)])
            for place in limit_places(limits, tol):
                counts[place] += 1
            limit_counts[f"d={d}"].append(int(limits.shape[0]))
            if d == 2 and k == 0:
                shown = {"z": z, "limits": limits}
    # The hypothesis: the symmetric part of QᵀK (Q = I here) must be positive definite.
    qk = params["key_scale"] * np.eye(max(params["dims"]))
    values: dict[str, Any] = {
        "distinct_limits": limit_counts,
        "limits": counts,
        "final_speed": worst_motion,
        "qk_min_eigenvalue": float(np.linalg.eigvalsh((qk + qk.T) / 2).min()),
    }
    if shown:
        values["figure"] = {"polytope_d2": shown}
    return values


def limit_places(limits: np.ndarray, tol: float) -> list[str]:
    """Where each limit sits with respect to ``K = conv(limits)``: ``"vertex"``, ``"face"`` (on ∂K, not a
    vertex), ``"origin"`` (within ``tol`` of 0) or ``"interior"`` (inside K, farther than ``tol`` from ∂K).

    When the limits span fewer than ``d`` dimensions, ``K`` has no interior in R^d and every limit is on ∂K.
    """
    from scipy.spatial import ConvexHull

    centred = limits - limits.mean(axis=0)
    full = limits.shape[0] > limits.shape[1] and np.linalg.matrix_rank(centred, tol=tol) == limits.shape[1]
    # Facet inequalities a·p + b ≤ 0 with unit normals a: the signed distance of p to each facet.
    facets = ConvexHull(limits).equations if full else None
    places = []
    for q, point in enumerate(limits):
        if np.linalg.norm(point) <= tol:
            places.append("origin")
        elif is_extreme_point(limits, q, atol=tol):
            places.append("vertex")
        elif facets is None or np.max(facets[:, :-1] @ point + facets[:, -1]) >= -tol:
            places.append("face")
        else:
            places.append("interior")
    return places


def _verdict(params: Mapping[str, Any], values: Mapping[str, Any]) -> Verdict:
    counts = {place: int(values[f"limits.{place}"]) for place in ("vertex", "face", "origin", "interior")}
    total = sum(counts.values())
    worst_motion, qk_min = values["final_speed"], values["qk_min_eigenvalue"]
    runs = params["seeds"] * len(params["dims"])
    motion_tol = params["motion_tolerance"]
    if qk_min <= 0:
        status, why = "inconclusive", f"outside the theorem's hypothesis: λ_min(QᵀK) = {qk_min:.3g} ≤ 0. "
    elif worst_motion > motion_tol:
        status, why = "inconclusive", "not converged by t_end: a longer t_end would decide. "
    else:
        status, why = status_of(counts["interior"] == 0), ""
    return Verdict(
        status=status,
        prediction="with V = I and QᵀK ≻ 0, z_i = e^{−t} x_i converges, and the limits form a finite set S "
        "with vertices(K) ⊆ S ⊆ ∂K ∪ {0}, K = conv S: no limit lies inside K away from 0",
        measured=f"{total} distinct limits over {runs} runs: {counts['vertex']} vertices, {counts['face']} "
        f"on a face (not a vertex), {counts['origin']} at 0, {counts['interior']} inside K; largest final "
        f"speed of z {worst_motion:.2g}; λ_min(QᵀK) = {qk_min:.3g}",
        tolerance=f"no interior limit, judged at distance {params['limit_tol']:g} (limits closer than that "
        f"are merged, so facet distances below it are not resolved); converged when |ż| ≤ {motion_tol:g} "
        "(below that the limits move less than limit_tol over the rest of the run, since |ż| decays "
        "exponentially)",
        notes=why + "Softmax (SA) normalisation, Q = I, K = key_scale·I, V = I: with unnormalised weights "
        "e^{β⟨x_i,x_j⟩} the Euclidean dynamics blow up in finite time, since the tokens' norms grow. The "
        "earlier version demanded every limit be a vertex, more than the theorem says.",
    )


def _figures(params: Mapping[str, Any], values: Mapping[str, Any], out: Path) -> list[Path]:
    from attnflow.viz.claims import plot_polytope

    if "figure.polytope_d2.z" not in values:
        return []
    figures = [out / "polytope_d2.png"]
    plot_polytope(
        values["figure.polytope_d2.z"],
        values["figure.polytope_d2.limits"],
        path=figures[0],
        title=f"rescaled tokens z = e^(−t) x, n = {params['n']}, V = I",
    )
    return figures


EUCLIDEAN_POLYTOPE = Experiment(
    name="euclidean-polytope",
    title="Euclidean dynamics with V = I: rescaled tokens converge to a finite set on a polytope",
    citation=EMERGENCE_OF_CLUSTERS.at(
        "the theorem of the case V = I_d (hypothesis QᵀK ≻ 0): the rescaled tokens converge to a finite set "
        "S with vertices of K ⊆ S ⊆ ∂K ∪ {0}, K a convex polytope",
        checked="the V = I_d case and the convex polytope checked against the abstract and summary of "
        "arXiv:2305.05465v6 (stored copies); the exact statement and its theorem number were not checked "
        "against the body text",
    ),
    claim="In R^d with V = I and QᵀK ≻ 0, the rescaled tokens z_i = e^{−t} x_i converge to a finite set "
    "S with vertices(K) ⊆ S ⊆ ∂K ∪ {0} for a convex polytope K.",
    defaults={
        "n": 32,
        "dims": [2, 3],
        "beta": 1.0,
        "key_scale": 1.0,
        "seeds": 8,
        "seed": 0,
        "t_end": 15.0,
        "dt": 0.01,
        "save_every": 20,
        "limit_tol": 1e-3,
        "motion_tolerance": 1e-3,
    },
    quick={"n": 16, "seeds": 3, "t_end": 12.0, "dt": 0.02, "save_every": 10},
    compute=_compute,
    verdict=_verdict,
    figures=_figures,
)
