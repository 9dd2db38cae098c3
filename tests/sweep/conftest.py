"""Fixtures for the sweep tests: the toy experiment, registered only while a test needs it."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from attnflow.experiments import base  # noqa: E402


@pytest.fixture
def toy() -> Iterator[str]:
    """The toy experiment's name; it is unregistered afterwards so that other tests never see it."""
    module = importlib.import_module("sweep_toy_experiment")
    module.ensure_registered()
    yield module.NAME
    base.unregister(module.NAME)


def toy_spec(**changes: Any) -> dict[str, Any]:
    """A small sweep of the toy experiment: beta × mode × 2 seeds, with failures above beta = 2.5."""
    spec: dict[str, Any] = {
        "experiment": "sweep-toy",
        "imports": ["sweep_toy_experiment"],
        "params": {"fail_above": 2.5},
        "grid": {"beta": [0.5, 1.0, 3.0], "mode": ["a", "b"]},
        "seeds": 2,
    }
    spec.update(changes)
    return spec
