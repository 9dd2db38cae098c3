"""The path-world training figure plots the evaluations it is given."""

import numpy as np
import pytest

from attnflow.paths import Evaluation
from attnflow.viz import plot_kl_history


def _evaluation(step: int, kl_next: float) -> Evaluation:
    flat = np.zeros(4)
    return Evaluation(step, 1.0, 0.9, kl_next, 0.0, 0.0, flat, flat, flat, flat)


def test_kl_history_plots_next_token_kl_against_step(tmp_path):
    evaluations = [_evaluation(0, 1.0), _evaluation(10, 0.1), _evaluation(20, 0.01)]
    fig = plot_kl_history(evaluations, tmp_path / "kl.png", title="run")
    (ax,) = fig.get_axes()
    x, y = ax.get_lines()[0].get_data()
    np.testing.assert_array_equal(x, [0, 10, 20])
    np.testing.assert_array_equal(y, [1.0, 0.1, 0.01])
    assert ax.get_yscale() == "log" and ax.get_title() == "run"
    assert (tmp_path / "kl.png").stat().st_size > 0
    with pytest.raises(ValueError, match="evaluations"):
        plot_kl_history([])
