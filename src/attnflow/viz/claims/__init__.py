"""Figures of the experiments that check the papers' claims, one module per family of experiments.

Each function draws numbers an experiment's ``compute`` step returned (arrays, or trajectories rebuilt
from them), returns the ``Figure`` and saves it when given ``path``.
"""

from attnflow.viz.claims.beyond import plot_probability_grid, plot_retrieval_profile
from attnflow.viz.claims.clustering import (
    plot_clusters_against_beta,
    plot_collapse_residuals,
    plot_distance_to_first_token,
    plot_equiangular_curve,
    plot_fraction_in_one_cluster,
    plot_polytope,
)
from attnflow.viz.claims.dynamics import (
    plot_hardmax_paths,
    plot_mode_growth,
    plot_normalization_band,
    plot_normalization_decay,
)
from attnflow.viz.claims.inference import (
    plot_conditional_mean_error,
    plot_erm_gaps,
)
from attnflow.viz.claims.lm import plot_context_narrows
from attnflow.viz.claims.long_context import plot_long_context_transition
from attnflow.viz.claims.meanfield import plot_mean_field_limit
from attnflow.viz.claims.merges import plot_energy_staircases
from attnflow.viz.claims.paths import (
    plot_entropy_by_context,
    plot_in_context_losses,
    plot_mixers_across_worlds,
    plot_mixers_compared,
    plot_path_law_learning,
)

__all__ = [
    "plot_clusters_against_beta",
    "plot_collapse_residuals",
    "plot_conditional_mean_error",
    "plot_context_narrows",
    "plot_distance_to_first_token",
    "plot_energy_staircases",
    "plot_entropy_by_context",
    "plot_equiangular_curve",
    "plot_erm_gaps",
    "plot_fraction_in_one_cluster",
    "plot_hardmax_paths",
    "plot_in_context_losses",
    "plot_long_context_transition",
    "plot_mean_field_limit",
    "plot_mixers_across_worlds",
    "plot_mixers_compared",
    "plot_mode_growth",
    "plot_normalization_band",
    "plot_normalization_decay",
    "plot_path_law_learning",
    "plot_polytope",
    "plot_probability_grid",
    "plot_retrieval_profile",
]
