"""Euclidean space with V = I: the rescaled tokens converge to the vertices of a polytope.

Without the sphere constraint and with ``V = I``, ``ẋ_i = Σ_j A_ij x_j`` (softmax ``A``) makes every token
grow like ``e^t``. In the rescaled variables ``z_i = e^{−t} x_i``, ``ż_i = Σ_j A_ij (z_j − z_i)`` with
attention scores ``β e^{2t}⟨z_i, z_j⟩``: the attention hardens over time and each ``z_i`` converges to a
point; the limits are extreme points of their convex hull (the vertices of a convex polytope).
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

    field = SelfAttention(beta=params["beta"], variant="SA", geometry="euclidean")
    extreme, total, worst_motion = 0, 0, 0.0
    limit_counts: dict[str, list[int]] = {}
    shown: dict[str, np.ndarray] = {}
    for d in params["dims"]:
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
            labels = cluster_labels(z[-1], tol=params["limit_tol"])
            limits = np.array([z[-1][labels == q].mean(axis=0) for q in range(labels.max() + 1)])
            flags = [is_extreme_point(limits, q, atol=params["limit_tol"]) for q in range(limits.shape[0])]
            extreme += sum(flags)
            total += len(flags)
            limit_counts[f"d={d}"].append(int(limits.shape[0]))
            if d == 2 and k == 0:
                shown = {"z": z, "limits": limits}
    values: dict[str, Any] = {
        "distinct_limits": limit_counts,
        "extreme": extreme,
        "total": total,
        "final_speed": worst_motion,
    }
    if shown:
        values["figure"] = {"polytope_d2": shown}
    return values


def _verdict(params: Mapping[str, Any], values: Mapping[str, Any]) -> Verdict:
    extreme, total, worst_motion = values["extreme"], values["total"], values["final_speed"]
    runs = params["seeds"] * len(params["dims"])
    motion_tol = params["motion_tolerance"]
    return Verdict(
        status=status_of(extreme == total and worst_motion <= motion_tol),
        prediction="every limit of z_i = e^{−t} x_i is an extreme point (vertex) of the convex hull of the "
        "limits",
        measured=f"{extreme} of {total} distinct limits are extreme points ({runs} runs); the largest "
        f"final speed of z is {worst_motion:.2g}",
        tolerance=f"all limits extreme (linear-programming test; limits closer than "
        f"{params['limit_tol']:g} merged); "
        f"converged: final speed |ż| ≤ {motion_tol:g}",
        notes="Softmax (SA) normalisation, Q = K = I: with unnormalised weights e^{β⟨x_i,x_j⟩} the Euclidean "
        "dynamics blow up in finite time, since the tokens' norms grow.",
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
    title="Euclidean dynamics with V = I: rescaled tokens converge to the vertices of a polytope",
    citation=EMERGENCE_OF_CLUSTERS.at(
        "the theorem of the case V = I_d (hypothesis QᵀK ≻ 0): the rescaled tokens converge to a finite set "
        "S with vertices of K ⊆ S ⊆ ∂K ∪ {0}, K a convex polytope",
        checked="the V = I_d case and the convex polytope checked against the abstract and summary of "
        "arXiv:2305.05465v6 (stored copies); the exact statement and its theorem number were not checked "
        "against the body text",
    ),
    claim="In R^d with V = I, the rescaled tokens z_i = e^{−tV} x_i converge, and their limits lie on "
    "the boundary of a convex polytope: each is an extreme point of the hull of the limits.",
    defaults={
        "n": 32,
        "dims": [2, 3],
        "beta": 1.0,
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
