"""The notebook widget, executed in a real headless kernel (nbclient), and its model state."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import attnflow as af

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("anywidget")
pytest.importorskip("ipykernel")

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


def test_show_builds_a_widget_with_the_trajectory() -> None:
    traj = af.simulate(af.SelfAttention(4.0), af.init.uniform_sphere(30, 5, seed=1), t_end=1.0, dt=0.1)
    widget = af.viz.show(traj, frame=0)
    states, n, k = widget.shape
    assert (states, n, k) == (traj.n_states, 30, 3)  # d = 5 is projected to 3-D
    points = np.frombuffer(widget.points, dtype=np.float32).reshape(states, n, k)
    assert np.allclose(np.linalg.norm(points, axis=-1), 1, atol=1e-5)
    assert widget.times == pytest.approx(traj.times.tolist()) and widget.frame == 0
    circle = af.viz.show(af.Trajectory(torch.zeros(1), torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])))
    assert circle.shape == [1, 2, 2]
    with pytest.raises(ValueError, match="frame"):
        af.viz.show(traj, frame=99)


def test_the_widget_runs_in_a_notebook_kernel() -> None:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell(
            "import attnflow as af\n"
            "x0 = af.init.uniform_sphere(20, 3, seed=0)\n"
            "traj = af.simulate(af.SelfAttention(4.0), x0, t_end=2.0, dt=0.1)\n"
            "widget = af.viz.show(traj)\n"
            "widget"
        ),
        nbformat.v4.new_code_cell("widget.frame = 3\nprint(widget.shape, widget.frame)"),
    ]
    client = nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3", store_widget_state=True)
    client.execute()
    display = notebook.cells[0].outputs[-1]
    assert WIDGET_MIME in display["data"]
    model_id = display["data"][WIDGET_MIME]["model_id"]
    assert notebook.cells[1].outputs[0]["text"].strip() == "[21, 20, 3] 3"
    state = notebook.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"][model_id][
        "state"
    ]
    assert state["shape"] == [21, 20, 3] and state["frame"] == 3 and len(state["times"]) == 21
    # The front end travels with the notebook (built into the package, no CDN): three.js is inside.
    assert "three.js r" in state["_esm"]
