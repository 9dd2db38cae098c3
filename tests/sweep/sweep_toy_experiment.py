"""A small, fast experiment registered for the sweep tests (imported through a spec's ``imports``).

Its values are closed forms of its parameters, so a test can check every stored number exactly:
``square = beta**2 * scale``, ``noise`` is a seeded NumPy draw, ``curve`` is ``beta * t`` over a
``time`` coordinate of ``points`` values in [0, 1], and ``fail_above`` makes runs with
``beta > fail_above`` raise (unless the file ``HEAL_MARKER`` exists in the working directory, which
lets a retry succeed).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from attnflow.experiments import Citation, Experiment, Verdict, available, register, status_of

NAME = "sweep-toy"
#: While a file of this name exists in the working directory, no run fails (so a retry can succeed).
HEAL_MARKER = "sweep-toy-heal"


def _compute(params: Mapping[str, Any]) -> dict[str, Any]:
    beta, scale = params["beta"], params["scale"]
    if beta > params["fail_above"] and not Path(HEAL_MARKER).exists():
        raise RuntimeError(f"toy failure at beta={beta}")
    # A pause long enough for the kill test to catch the sweep between commits; results do not depend on it.
    time.sleep(params["pause"])
    t = np.linspace(0.0, 1.0, params["points"])
    noise = np.random.default_rng(params["seed"]).normal()
    return {
        "square": beta**2 * scale,
        "noise": noise,
        "curve": xr.DataArray(beta * t, dims="time", coords={"time": t}),
        "pair": np.array([beta, -beta]),
    }


def _verdict(params: Mapping[str, Any], values: Mapping[str, Any]) -> Verdict:
    return Verdict(
        status_of(params["beta"] <= 2.0), "square = beta² · scale", f"{values['square']:g}", "exact"
    )


TOY = Experiment(
    name=NAME,
    title="sweep test experiment",
    citation=Citation(("A. Tester",), "Sweep tests", 2024),
    claim="square = beta² · scale",
    defaults={
        "beta": 1.0,
        "scale": 1.0,
        "seed": 0,
        "mode": "a",
        "pause": 0.0,
        "fail_above": 1e9,
        "points": 5,
    },
    quick={"scale": 2.0},
    compute=_compute,
    verdict=_verdict,
)


def ensure_registered() -> None:
    """Register the toy experiment in this process unless it already is."""
    if NAME not in available():
        register(TOY)


# Worker processes import this module through a spec's ``imports``, which registers the toy there. The test
# process imports it from conftest, which unregisters it after each test (see the ``toy`` fixture).
ensure_registered()
