"""The merge-order experiment: its verdict agrees at a small size, and named rivals disagree."""

import numpy as np
import pytest

from attnflow.experiments.base import flatten_values
from attnflow.experiments.merges import MERGE_ORDER, judge

PARAMS = {**MERGE_ORDER.defaults, "n": 20, "t_end": 1e10, "saves": 240, "seeds": [0, 1]}


@pytest.fixture(scope="module")
def values():
    return flatten_values(MERGE_ORDER.compute(PARAMS))


def _heaviest_pair_first(angles, masses, beta, horizon):
    """Rival: the two heaviest clusters merge, then again, at made-up increasing times."""
    clusters = [(float(m), 1 << a) for a, m in enumerate(masses)]
    merges = []
    for step in range(len(clusters) - 1):
        clusters.sort()
        (ma, a), (mb, b) = clusters.pop(), clusters.pop()
        clusters.append((ma + mb, a | b))
        merges.append((10.0 ** (step + 2), a | b, [a, b]))
    return merges


def test_paper_theory_agrees(values):
    verdict = judge(PARAMS, values)
    assert verdict.status == "agrees", verdict
    assert len(values["merges.time"]) >= 2


def test_heaviest_pair_rival_disagrees(values):
    assert judge(PARAMS, values, predict=_heaviest_pair_first).status == "disagrees"


def test_half_jump_rival_disagrees(values):
    verdict = judge(PARAMS, values, jump=lambda a, b, n: a * b / n**2)
    assert verdict.status == "disagrees" and "energy" in verdict.notes


def test_too_short_a_run_is_inconclusive(values):
    # A run that stops just after its first plateau has no slow merge to judge: no power, no disagreement.
    short = {**PARAMS, "t_end": 1.01 * float(values["plateau.time"].max())}
    empty = {k: (v[:0] if k.startswith("merges.") else v) for k, v in values.items()}
    assert judge(short, empty).status == "inconclusive"


def test_figure_is_drawn(values, tmp_path):
    (path,) = MERGE_ORDER.figures(PARAMS, values, tmp_path)
    assert path.exists() and path.stat().st_size > 0
    assert np.isfinite(values["figure.run0.energy"]).all()
