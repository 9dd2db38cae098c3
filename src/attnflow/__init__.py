"""attnflow: Transformers as flows that move a cloud of token vectors through embedding space.

```python
import attnflow as af
x0 = af.init.uniform_sphere(n=256, d=3, seed=0)
traj = af.simulate(af.SelfAttention(beta=4.0, variant="SA"), x0, t_end=30.0, dt=0.1, method="rk4")
af.measure.energy(traj, beta=4.0)
```

The core names are imported at once; every subpackage (``af.measure``, ``af.lm``, ``af.meanfield``,
``af.sweep``, ``af.experiments``, ``af.viz`` …) is imported on first use, so ``import attnflow`` stays
fast and never imports transformers.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from attnflow import init
from attnflow.dynamics import FeedForward, SelfAttention
from attnflow.integrate import simulate
from attnflow.io import load
from attnflow.simulation import Simulation
from attnflow.trajectory import DensityTrajectory, Trajectory

__version__ = "0.2.0"

#: Subpackages and modules reachable as attributes, imported on first access (PEP 562).
SUBMODULES = (
    "dynamics",
    "errors",
    "experiments",
    "inference",
    "integrate",
    "io",
    "lm",
    "meanfield",
    "measure",
    "paths",
    "progress",
    "random",
    "simulation",
    "sweep",
    "theory",
    "viz",
)

if TYPE_CHECKING:
    from attnflow import (  # noqa: F401
        dynamics,
        errors,
        experiments,
        inference,
        integrate,
        io,
        lm,
        meanfield,
        measure,
        paths,
        progress,
        random,
        simulation,
        sweep,
        theory,
        viz,
    )


def __getattr__(name: str) -> Any:
    if name in SUBMODULES:
        module = importlib.import_module(f"attnflow.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'attnflow' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *SUBMODULES])


__all__ = [
    "DensityTrajectory",
    "FeedForward",
    "SelfAttention",
    "Simulation",
    "Trajectory",
    "__version__",
    "init",
    "load",
    "simulate",
]
