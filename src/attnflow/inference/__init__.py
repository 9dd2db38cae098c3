"""Attention as inference (seed 001): exchangeable latent-variable worlds with exact Bayes references,
softmax attention as a conditional-mean estimator, and learning it by ERM.

See ``docs/inference.md`` for the definitions and the experiments built on them.
"""

from attnflow.inference.estimator import (
    AttentionParameters,
    ErrorCurve,
    attend,
    attention_estimator,
    error_curve,
)
from attnflow.inference.learning import (
    AttentionLayer,
    TrainingResult,
    condition_number,
    fit,
    fit_linear_head,
    masked_token_loss,
    parameter_distance,
    pretext_matrix,
    probe_features,
    supervised_loss,
    train_erm,
)
from attnflow.inference.worlds import (
    GaussianPosterior,
    GaussianWorld,
    MixtureWorld,
    RegressionWorld,
    TokenSets,
    World,
    masked_tokens,
)

__all__ = [
    "AttentionLayer",
    "AttentionParameters",
    "ErrorCurve",
    "GaussianPosterior",
    "GaussianWorld",
    "MixtureWorld",
    "RegressionWorld",
    "TokenSets",
    "TrainingResult",
    "World",
    "attend",
    "attention_estimator",
    "condition_number",
    "error_curve",
    "fit",
    "fit_linear_head",
    "masked_token_loss",
    "masked_tokens",
    "parameter_distance",
    "pretext_matrix",
    "probe_features",
    "supervised_loss",
    "train_erm",
]
