"""The one randomness policy: a user-facing ``seed``, children spawned, never offset.

Every function that draws takes ``seed``: a non-negative int or a :class:`numpy.random.SeedSequence`.
A root int seeds the generator directly (``torch.Generator().manual_seed(seed)``,
``numpy.random.default_rng(seed)``), so a seed means the same numbers on every device and release.
When one computation needs several independent streams (the start and the random weights of a run,
the replicates of a sweep, the training and the evaluation data), it derives them with
:func:`spawn`, i.e. ``numpy.random.SeedSequence(seed).spawn(k)``: children are independent of each
other and of every other root seed by construction, where offsets such as ``seed + 1`` make
neighbouring seeds share streams. Stored results name the policy (:data:`SEED_POLICY`).
"""

from __future__ import annotations

import numbers
from typing import Union

import numpy as np
import torch

#: Stored next to every seed in saved results: how that seed becomes random numbers.
SEED_POLICY = "attnflow-seed/1: root int seeds torch/NumPy directly; children by SeedSequence(seed).spawn(k)"

Seed = Union[int, np.random.SeedSequence]  # noqa: UP007 - a runtime alias on Python 3.10 too


def check_seed(seed: Seed, name: str = "seed") -> Seed:
    """Return ``seed`` if it is a non-negative int or a SeedSequence, else raise naming ``name``."""
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or int(seed) < 0:
        raise TypeError(f"{name} must be a non-negative integer or a numpy SeedSequence, got {seed!r}")
    return int(seed)


def spawn(seed: Seed, k: int) -> list[np.random.SeedSequence]:
    """``k`` independent child seeds of ``seed`` (``SeedSequence(seed).spawn(k)``).

    The same ``seed`` always gives the same children; children of different roots never coincide.
    """
    seed = check_seed(seed)
    root = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    # spawn() advances the parent's counter; a copy keeps spawn(seed, k) a pure function of seed.
    fresh = np.random.SeedSequence(root.entropy, spawn_key=root.spawn_key, pool_size=root.pool_size)
    return fresh.spawn(int(k))


def torch_generator(seed: Seed) -> torch.Generator:
    """A CPU ``torch.Generator`` for ``seed`` (draw on the CPU, then move: same numbers on every device)."""
    seed = check_seed(seed)
    if isinstance(seed, np.random.SeedSequence):
        seed = int(seed.generate_state(1, dtype=np.uint64)[0])
    return torch.Generator().manual_seed(seed)


def numpy_generator(seed: Seed) -> np.random.Generator:
    """A NumPy ``Generator`` for ``seed`` (``numpy.random.default_rng``)."""
    return np.random.default_rng(check_seed(seed))


def child_int(seed: Seed) -> int:
    """An int that stands for a child seed where an API needs a plain int (e.g. a stored parameter)."""
    seed = check_seed(seed)
    if isinstance(seed, np.random.SeedSequence):
        return int(seed.generate_state(1, dtype=np.uint32)[0])
    return seed


__all__ = ["SEED_POLICY", "Seed", "check_seed", "child_int", "numpy_generator", "spawn", "torch_generator"]
