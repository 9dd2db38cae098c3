"""Path worlds: languages with an exact path law, small sequence models, training and evaluation.

Seed 000 says that training learns a law over paths (token sequences) and that context only narrows
which paths are sampled. On real text the path law is unknown; on these synthetic worlds it is exact,
so the model's law can be compared with the truth token by token and path by path.
"""

from attnflow.paths.models import (
    AGGREGATING_MIXERS,
    ARCHITECTURES,
    FILTERING_MIXERS,
    HF_FAMILIES,
    MIXERS,
    ModelConfig,
    SequenceModel,
    SequenceOutput,
    build_model,
    mixer_shares,
    next_token_log_probs,
    trace_model,
)
from attnflow.paths.train import (
    ContextUse,
    Evaluation,
    TrainConfig,
    TrainResult,
    context_use,
    evaluate,
    load_checkpoint,
    load_history,
    position_loss,
    sample_from_model,
    save_checkpoint,
    train,
)
from attnflow.paths.worlds import (
    PCFG,
    WORLDS,
    HiddenMarkov,
    InContextMarkov,
    MarkovChain,
    World,
    make_world,
)

__all__ = [
    "AGGREGATING_MIXERS",
    "ARCHITECTURES",
    "FILTERING_MIXERS",
    "HF_FAMILIES",
    "MIXERS",
    "PCFG",
    "WORLDS",
    "ContextUse",
    "Evaluation",
    "HiddenMarkov",
    "InContextMarkov",
    "MarkovChain",
    "ModelConfig",
    "SequenceModel",
    "SequenceOutput",
    "TrainConfig",
    "TrainResult",
    "World",
    "build_model",
    "context_use",
    "evaluate",
    "load_checkpoint",
    "load_history",
    "make_world",
    "mixer_shares",
    "next_token_log_probs",
    "position_loss",
    "sample_from_model",
    "save_checkpoint",
    "trace_model",
    "train",
]
