"""Figures of token flows (matplotlib, no pyplot state) and the self-contained HTML report.

Every plotting function returns a ``matplotlib.figure.Figure`` and saves it when given ``path``.
"""

from attnflow.viz.clouds import animate_cloud, plot_cloud, plot_trajectories
from attnflow.viz.density import draw_density, plot_density
from attnflow.viz.lm import (
    plot_attention_patterns,
    plot_attention_shares,
    plot_dynamics_fit,
    plot_head_outputs,
    plot_layer_measures,
    plot_lens,
    plot_lens_curves,
    plot_trace,
)
from attnflow.viz.paths import plot_kl_history
from attnflow.viz.series import plot_cosine_histograms, plot_energy, plot_phase_diagram, plot_staircase
from attnflow.viz.widget import show

__all__ = [
    "animate_cloud",
    "draw_density",
    "plot_attention_patterns",
    "plot_attention_shares",
    "plot_cloud",
    "plot_cosine_histograms",
    "plot_density",
    "plot_dynamics_fit",
    "plot_energy",
    "plot_head_outputs",
    "plot_kl_history",
    "plot_layer_measures",
    "plot_lens",
    "plot_lens_curves",
    "plot_phase_diagram",
    "plot_staircase",
    "plot_trace",
    "plot_trajectories",
    "show",
]
