"""Merge-aware integration: agreement with a plain fine-step run, recorded merges, long plateaus."""

import math

import pytest
import torch

from attnflow import SelfAttention, init, simulate
from attnflow.integrate.collapse import integrate_collapsing

BETA, HORIZON, SPREAD = 1.0, 0.5, 1e-10
SAVES = [0.1, 0.2, 0.3, 0.4, 0.5]
#: Lipschitz constant of the SA field on the sphere in the max-over-tokens norm: with unit tokens,
#: |δ(βs_ij)| ≤ 2βε, so the softmax-weighted mean m_i moves by ≤ ε + 4βε·2 (centred score changes ≤ 4βε
#: times |x_j − m_i| ≤ 2), and the tangent projection m − ⟨x,m⟩x by ≤ 2|δm_i| + 2ε: L ≤ 4 + 16β.
LIPSCHITZ = 4 + 16 * BETA
#: Both integrators run far below this (dopri5 at rtol 1e-11, RK4 at dt = 1e-3: error ~ dt⁴ ≈ 1e-12).
INTEGRATOR_ALLOWANCE = 1e-8


def _clustered_start(seed: int = 0) -> tuple[torch.Tensor, list[int]]:
    """Six centres with 1, 2, 3, 4, 2, 3 members, each member within SPREAD of its centre."""
    gen = torch.Generator().manual_seed(seed)
    centres = init.uniform_sphere(6, 3, seed=seed, dtype=torch.float64)
    sizes = [1, 2, 3, 4, 2, 3]
    x = centres.repeat_interleave(torch.tensor(sizes), dim=0)
    x = x + SPREAD / 3 * torch.rand(x.shape, generator=gen, dtype=torch.float64)
    return x / x.norm(dim=-1, keepdim=True), sizes


def test_merged_run_matches_plain_fine_step_run():
    x0, sizes = _clustered_start()
    field = SelfAttention(BETA)
    merged = integrate_collapsing(field, x0, SAVES, merge_tol=1e-7, rtol=1e-11, atol=1e-13)
    plain = simulate(field, x0, HORIZON, 1e-3, method="rk4", save_every=100)
    assert merged.params["clusters"] == 6
    # Each token starts at most its cluster's diameter (≤ SPREAD) from its representative's start; the
    # merged mean adds at most as much again: 2·SPREAD, grown by at most e^{L t} (Gronwall).
    allowed = 2 * SPREAD * math.exp(LIPSCHITZ * HORIZON) + INTEGRATOR_ALLOWANCE
    gap = (merged.x - plain.x).norm(dim=-1).max().item()
    assert gap <= allowed, (gap, allowed)

    # A rival that forgets the masses (each representative weighs one) is far outside the same bound.
    one_each = torch.cumsum(torch.tensor(sizes), 0) - 1
    forgetful = integrate_collapsing(field, x0[one_each], SAVES)
    assert (forgetful.final - plain.final[one_each]).norm(dim=-1).max().item() > 100 * allowed


def test_merges_are_recorded_with_time_and_members():
    x0, sizes = _clustered_start(seed=1)
    traj = integrate_collapsing(SelfAttention(BETA), x0, [0.1])
    starts = [sum(sizes[:j]) for j in range(len(sizes))]
    groups = sorted([token for cluster in m["clusters"] for token in cluster] for m in traj.params["merges"])
    assert groups == [list(range(s, s + k)) for s, k in zip(starts, sizes, strict=True) if k > 1]
    assert all(m["time"] == 0.0 for m in traj.params["merges"])


def test_two_close_tokens_merge_when_they_collapse():
    angles = torch.tensor([0.0, 0.05, 2.0], dtype=torch.float64)
    x0 = torch.stack([angles.cos(), angles.sin()], dim=-1)
    field, tol = SelfAttention(4.0), 1e-7
    traj = integrate_collapsing(field, x0, [40.0], merge_tol=tol)
    (merge,) = traj.params["merges"]
    assert merge["clusters"] == [[0], [1]] and merge["time"] > 0
    # The plain run puts the pair closer than merge_tol at the recorded time and not much before it.
    t = merge["time"]
    plain = simulate(field, x0, t, t / 2000, method="rk4", save_every=100)
    distance = (plain.x[:, 0] - plain.x[:, 1]).norm(dim=-1)
    assert distance[-1] < 1.01 * tol
    assert distance[plain.times < 0.8 * t].min() > tol


def test_plateau_is_crossed_in_few_steps():
    # β = 8 on the circle: the clusters that form by t ≈ 30 persist for times ~e^β ≈ 3000.
    x0 = init.uniform_sphere(24, 2, seed=3, dtype=torch.float64)
    traj = integrate_collapsing(SelfAttention(8.0), x0, [1000.0, 2000.0, 3000.0])
    assert traj.params["clusters"] < 24 and traj.params["steps"] < 1000  # fixed dt = 0.1 needs 30000
    assert traj.x.shape == (4, 24, 2)


def test_bad_arguments_are_named():
    x0 = init.uniform_sphere(4, 2, seed=0, dtype=torch.float64)
    with pytest.raises(ValueError, match="field"):
        integrate_collapsing(SelfAttention(1.0, geometry="euclidean"), x0, [1.0])
    with pytest.raises(ValueError, match="x0"):
        integrate_collapsing(SelfAttention(1.0), x0.unsqueeze(0), [1.0])
    with pytest.raises(ValueError, match="times"):
        integrate_collapsing(SelfAttention(1.0), x0, [1.0, 0.5])
    with pytest.raises(ValueError, match="merge_tol"):
        integrate_collapsing(SelfAttention(1.0), x0, [1.0], merge_tol=0.0)
