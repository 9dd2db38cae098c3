"""Named experiments that check the papers' claims, each with a verdict.

Every experiment module defines :class:`Experiment` objects; this package registers them, by name,
in the order below, so :func:`available` lists every experiment. Experiments of your own (e.g. a
sweep spec's ``imports``) call :func:`register`.
"""

from attnflow.experiments.base import (
    STATUSES,
    Citation,
    Evaluation,
    Experiment,
    ExperimentResult,
    Verdict,
    available,
    combine,
    get,
    interval_status,
    register,
    status_of,
    unregister,
)
from attnflow.experiments.clustering import CAUSAL_COLLAPSE, CONE_COLLAPSE, ENERGY_MONOTONE, SINGLE_CLUSTER
from attnflow.experiments.common_noise import COMMON_NOISE_SYNCHRONISES
from attnflow.experiments.equiangular import EQUIANGULAR_CURVE
from attnflow.experiments.hardmax import HARDMAX_STRAIGHT_LINES, LEADERS_DECIDE
from attnflow.experiments.inference import ATTENTION_CONDITIONAL_MEAN, ERM_GENERALISATION
from attnflow.experiments.lm import CONTEXT_NARROWS_PATHS
from attnflow.experiments.lm_frontier import (
    CONCEPT_VECTORS,
    LAYER_COSINES,
    MASSIVE_ACTIVATIONS_SINKS,
    NORMALISATION_AS_SPEED,
)
from attnflow.experiments.lm_heads import HEAD_PHASES
from attnflow.experiments.lm_looped import LOOPED_LAYERS, LOOPED_PLATEAUS
from attnflow.experiments.lm_sinks import SINK_REMOVAL
from attnflow.experiments.long_context import LONG_CONTEXT_TRANSITION
from attnflow.experiments.lost_in_middle import LOST_IN_MIDDLE
from attnflow.experiments.masks import MASKED_RANK_COLLAPSE
from attnflow.experiments.meanfield import MEAN_FIELD_LIMIT
from attnflow.experiments.merges import MERGE_ORDER
from attnflow.experiments.metastable import METASTABLE_CLUSTERS
from attnflow.experiments.noisy import NOISY_THRESHOLD
from attnflow.experiments.normalization import NORMALIZATION_DECAY, NORMALIZATION_RANDOM_WEIGHTS
from attnflow.experiments.paths import CONTEXT_NARROWS, IN_CONTEXT, MIXERS_COMPARED, PATHS_LEARNED
from attnflow.experiments.polytope import EUCLIDEAN_POLYTOPE
from attnflow.experiments.random_values import RANDOM_VALUES_ANTIPODAL
from attnflow.experiments.renyi import CAUSAL_RENYI_CENTRES
from attnflow.experiments.reproduction import provenance, reproduce, write_docs
from attnflow.experiments.timescales import METASTABILITY_TIME_SCALES

#: The registered experiments of attnflow, in the order ``attnflow reproduce`` runs them.
EXPERIMENTS = (
    ENERGY_MONOTONE,
    SINGLE_CLUSTER,
    CAUSAL_COLLAPSE,
    CONE_COLLAPSE,
    EQUIANGULAR_CURVE,
    ATTENTION_CONDITIONAL_MEAN,
    ERM_GENERALISATION,
    CONTEXT_NARROWS_PATHS,
    MEAN_FIELD_LIMIT,
    METASTABLE_CLUSTERS,
    PATHS_LEARNED,
    CONTEXT_NARROWS,
    IN_CONTEXT,
    MIXERS_COMPARED,
    EUCLIDEAN_POLYTOPE,
    LONG_CONTEXT_TRANSITION,
    NORMALIZATION_DECAY,
    NORMALIZATION_RANDOM_WEIGHTS,
    NOISY_THRESHOLD,
    COMMON_NOISE_SYNCHRONISES,
    HARDMAX_STRAIGHT_LINES,
    LAYER_COSINES,
    NORMALISATION_AS_SPEED,
    MASSIVE_ACTIVATIONS_SINKS,
    CONCEPT_VECTORS,
    HEAD_PHASES,
    LOOPED_LAYERS,
    LOOPED_PLATEAUS,
    SINK_REMOVAL,
    MERGE_ORDER,
    MASKED_RANK_COLLAPSE,
    METASTABILITY_TIME_SCALES,
    CAUSAL_RENYI_CENTRES,
    RANDOM_VALUES_ANTIPODAL,
    LOST_IN_MIDDLE,
    LEADERS_DECIDE,
)

for _experiment in EXPERIMENTS:
    register(_experiment)

__all__ = [
    "EXPERIMENTS",
    "STATUSES",
    "Citation",
    "Evaluation",
    "Experiment",
    "ExperimentResult",
    "Verdict",
    "available",
    "combine",
    "get",
    "interval_status",
    "provenance",
    "register",
    "reproduce",
    "status_of",
    "unregister",
    "write_docs",
]
