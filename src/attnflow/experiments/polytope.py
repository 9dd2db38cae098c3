"""Seed 002 in Euclidean space: with V = I the rescaled tokens converge to the vertices of a polytope.

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

from attnflow.experiments._clustering import SOURCE
from attnflow.experiments.base import Experiment, Outcome, register
from attnflow.measure.fits import is_extreme_point


def _polytope_figure(z: np.ndarray, limits: np.ndarray, path: Path, title: str) -> None:
    from scipy.spatial import ConvexHull

    from attnflow.viz.figure import finish, new_figure

    fig = new_figure(5.2, 5.0)
    ax = fig.add_subplot()
    for i in range(z.shape[1]):
        ax.plot(z[:, i, 0], z[:, i, 1], color="0.6", lw=0.7)
    ax.plot(z[0, :, 0], z[0, :, 1], "o", ms=3, color="tab:blue", label="z_i(0) = x_i(0)")
    if limits.shape[0] >= 3:
        hull = ConvexHull(limits)
        ring = np.append(hull.vertices, hull.vertices[0])
        ax.fill(limits[ring, 0], limits[ring, 1], color="tab:orange", alpha=0.12, lw=0)
        ax.plot(limits[ring, 0], limits[ring, 1], color="tab:orange", lw=1.2, label="hull of the limits")
    ax.plot(limits[:, 0], limits[:, 1], "*", ms=12, color="tab:red", label="limits of z_i")
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    ax.set_title(title)
    ax.legend(frameon=False, fontsize=8)
    finish(fig, path)


def _polytope(params: Mapping[str, Any], out: Path) -> Outcome:
    from attnflow.dynamics import SelfAttention
    from attnflow.integrate import simulate
    from attnflow.measure import cluster_labels

    field = SelfAttention(beta=params["beta"], variant="SA", geometry="euclidean")
    runs, extreme, total, worst_motion = 0, 0, 0, 0.0
    limit_counts: dict[str, list[int]] = {}
    figures = []
    for d in params["dims"]:
        gen = torch.Generator().manual_seed(params["seed"])
        x0 = torch.randn(params["seeds"], params["n"], d, generator=gen, dtype=torch.float64)
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
            runs += 1
            limit_counts[f"d={d}"].append(int(limits.shape[0]))
            if d == 2 and k == 0:
                figures.append(out / "polytope_d2.png")
                _polytope_figure(
                    z, limits, figures[-1], f"rescaled tokens z = e^(−t) x, n = {params['n']}, V = I"
                )
    motion_tol = params["motion_tolerance"]
    return Outcome(
        prediction="every limit of z_i = e^{−t} x_i is an extreme point (vertex) of the convex hull of the "
        "limits",
        measured=f"{extreme} of {total} distinct limits are extreme points ({runs} runs); the largest "
        f"final speed of z is {worst_motion:.2g}",
        agrees=extreme == total and worst_motion <= motion_tol,
        tolerance=f"all limits extreme (linear-programming test; limits closer than "
        f"{params['limit_tol']:g} merged); "
        f"converged: final speed |ż| ≤ {motion_tol:g}",
        values={
            "distinct_limits": limit_counts,
            "extreme": extreme,
            "total": total,
            "final_speed": worst_motion,
        },
        figures=figures,
        notes="Softmax (SA) normalisation, Q = K = I: with unnormalised weights e^{β⟨x_i,x_j⟩} the Euclidean "
        "dynamics blow up in finite time, since the tokens' norms grow.",
    )


register(
    Experiment(
        name="euclidean-polytope",
        title="Euclidean dynamics with V = I: rescaled tokens converge to the vertices of a polytope",
        source=SOURCE,
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
        runner=_polytope,
    )
)
