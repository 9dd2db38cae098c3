"""An interactive 3-D token cloud for notebooks (Jupyter, marimo): :func:`show`.

The widget is an anywidget whose front end is the same three.js renderer as ``attnflow explore``,
built into the package (no CDN). The cloud's states travel once, as float32 bytes; the slider moves
through time (or layers) in the browser, and the ``frame`` trait follows it both ways.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from attnflow._validate import check_trajectory
from attnflow.trajectory import Trajectory

#: Above this many floats the widget refuses (a notebook holds the whole cloud in the page).
MAX_FLOATS = 30_000_000


def _widget_class() -> type:
    try:
        import anywidget
        import traitlets
    except ImportError:
        raise ImportError("attnflow.viz.show needs anywidget: pip install 'attnflow[explore]'") from None
    asset = Path(str(resources.files("attnflow.viz") / "assets" / "frontend" / "widget.js"))
    if not asset.exists():
        raise FileNotFoundError(
            f"the widget front end is not built ({asset} is missing): run `make assets` "
            "(needs Node.js and npm) or install attnflow from a wheel"
        )

    class CloudWidget(anywidget.AnyWidget):
        """A token cloud over time with a slider (see :func:`attnflow.viz.show`)."""

        _esm = asset
        points = traitlets.Bytes().tag(sync=True)
        shape = traitlets.List(traitlets.Int()).tag(sync=True)
        times = traitlets.List(traitlets.Float()).tag(sync=True)
        axis = traitlets.Unicode("t").tag(sync=True)
        frame = traitlets.Int(0).tag(sync=True)

    return CloudWidget


def display_points(x: np.ndarray, seed: int = 0) -> np.ndarray:
    """States ``(T, n, d)`` as ``(T, n, k)`` display points: k = d for d ≤ 3, else a fixed random
    3-D projection of the states, put back on the unit sphere."""
    if x.shape[-1] <= 3:
        return x
    basis, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((x.shape[-1], 3)))
    projected = x @ basis
    return projected / np.linalg.norm(projected, axis=-1, keepdims=True).clip(1e-12)


def show(traj: Trajectory, frame: int = -1) -> Any:
    """An interactive 3-D view of ``traj`` with a slider over its states (a notebook widget).

    Args:
        traj: the trajectory (tokens on the circle, the sphere, or in R^d: d > 3 is projected).
        frame: the state shown first (default: the last).

    Raises:
        ImportError: anywidget is not installed (``pip install 'attnflow[explore]'``).
        ValueError: the cloud is too large to send to a page, or ``frame`` is out of range.
    """
    traj = check_trajectory(traj, "traj")
    x = traj.x.detach().cpu().double().numpy()
    if x.ndim != 3:
        raise ValueError("show draws one run: pass a single Trajectory, not a batch")
    if x.size > MAX_FLOATS:
        raise ValueError(
            f"traj has {x.size:,} numbers, more than a page can hold ({MAX_FLOATS:,}); select fewer states "
            "(traj.at(...)) or tokens"
        )
    states = x.shape[0]
    if not -states <= frame < states:
        raise ValueError(f"frame must be in [{-states}, {states - 1}], got {frame}")
    points = np.ascontiguousarray(display_points(x), dtype=np.float32)
    widget = _widget_class()(
        points=points.tobytes(),
        shape=list(points.shape),
        times=[float(t) for t in traj.times],
        axis=traj.axis,
        frame=frame % states,
    )
    return widget
