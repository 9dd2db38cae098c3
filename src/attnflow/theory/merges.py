"""The slow phase on the circle: clusters as weighted point masses, their merge sequence and energy jumps.

Once the tokens have gathered into tight clusters at angles ``θ_a`` with token counts ``m_a``, the
softmax self-attention dynamics of the tokens is that of ``k`` weighted particles,

    θ̇_a = Σ_b m_b e^{β cos(θ_b − θ_a)} sin(θ_b − θ_a) / Σ_b m_b e^{β cos(θ_b − θ_a)},

(the tangential component of the attention mean, ``P_x y = y − ⟨x, y⟩ x`` on the unit circle). Pairs
that close to within ``merge_gap`` become one particle of their total mass. This module integrates that
reduced system in float64 with SciPy (angles only: it shares no code with the torch field) and returns
the merges in order.

The energy ``E = n⁻² Σ_ij e^{β(⟨x_i,x_j⟩−1)}`` of clusters that coincide internally and are far apart
is ``Σ_a m_a² / n²``; a merge of clusters of masses ``m_a`` and ``m_b`` raises it by
``((m_a + m_b)² − m_a² − m_b²)/n² = 2 m_a m_b / n²`` (:func:`energy_jump`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.integrate import solve_ivp


@dataclass(frozen=True)
class Merge:
    """One merge of the reduced model: its time and the starting clusters on each side."""

    time: float
    sides: tuple[frozenset[int], ...]

    @property
    def clade(self) -> frozenset[int]:
        """Every starting cluster in the merged cluster."""
        return frozenset().union(*self.sides)


def reduced_velocity(angles: np.ndarray, masses: np.ndarray, beta: float) -> np.ndarray:
    """θ̇ of weighted point masses on the circle under softmax self-attention (see the module doc)."""
    diff = angles[None, :] - angles[:, None]  # θ_b − θ_a
    logits = beta * np.cos(diff) + np.log(masses)[None, :]
    weights = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (weights * np.sin(diff)).sum(axis=1) / weights.sum(axis=1)


def merge_sequence(
    angles: Sequence[float],
    masses: Sequence[float],
    beta: float,
    t_end: float,
    merge_gap: float = 1e-4,
) -> list[Merge]:
    """The merges of the reduced model started from clusters at ``angles`` with ``masses``, up to ``t_end``.

    Two particles merge when their angular gap falls below ``merge_gap``; the merged particle sits at the
    mass-weighted circular mean of the two (they are ``merge_gap`` apart, so where in between is
    immaterial at this resolution). Integration: LSODA, rtol 1e-10, atol 1e-12, the merge as a terminal
    event.
    """
    theta = np.asarray(angles, dtype=np.float64)
    mass = np.asarray(masses, dtype=np.float64)
    members = [frozenset([a]) for a in range(theta.size)]
    merges: list[Merge] = []
    t = 0.0
    while theta.size > 1 and t < t_end:

        def gap(_t: float, y: np.ndarray) -> float:
            return _gaps(y).min() - merge_gap

        gap.terminal = True  # type: ignore[attr-defined]
        gap.direction = -1  # type: ignore[attr-defined]
        if gap(t, theta) <= 0:
            hit_time, state = t, theta
        else:
            run = solve_ivp(
                lambda _t, y, m=mass: reduced_velocity(y, m, beta),
                (t, t_end),
                theta,
                method="LSODA",
                rtol=1e-10,
                atol=1e-12,
                events=gap,
            )
            if run.status != 1:
                break
            hit_time, state = float(run.t_events[0][0]), run.y_events[0][0]
        a, b = closest_pair(state)
        merges.append(Merge(hit_time, (members[a], members[b])))
        joined = np.angle(mass[a] * np.exp(1j * state[a]) + mass[b] * np.exp(1j * state[b]))
        keep = [c for c in range(state.size) if c not in (a, b)]
        theta = np.append(state[keep], joined)
        mass = np.append(mass[keep], mass[a] + mass[b])
        members = [members[c] for c in keep] + [members[a] | members[b]]
        t = hit_time
    return merges


def energy_jump(mass_a: float, mass_b: float, n: int) -> float:
    """The rise ``2 m_a m_b / n²`` of ``n⁻² Σ_ij e^{β(⟨x_i,x_j⟩−1)}`` when clusters of m_a, m_b merge."""
    return 2.0 * mass_a * mass_b / n**2


def _gaps(theta: np.ndarray) -> np.ndarray:
    """Angular distances between all pairs, ``inf`` on the diagonal."""
    d = np.abs(np.angle(np.exp(1j * (theta[:, None] - theta[None, :]))))
    d[np.diag_indices(theta.size)] = np.inf
    return d


def closest_pair(angles: Sequence[float]) -> tuple[int, int]:
    """The indices ``(a, b)``, ``a < b``, of the two closest angles on the circle."""
    d = _gaps(np.asarray(angles, dtype=np.float64))
    a, b = np.unravel_index(np.argmin(d), d.shape)
    return int(min(a, b)), int(max(a, b))


__all__ = ["Merge", "closest_pair", "energy_jump", "merge_sequence", "reduced_velocity"]
