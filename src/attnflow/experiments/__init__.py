"""Named experiments that check the source documents' claims, each with a verdict.

Every public module of this package defines experiments and adds them with :func:`register`;
importing the package imports them all, so :func:`available` lists every experiment.
"""

import sys

from attnflow._plugins import import_submodules
from attnflow.experiments.base import (
    Experiment,
    ExperimentResult,
    Outcome,
    available,
    get,
    register,
    unregister,
)

__all__ = ["Experiment", "ExperimentResult", "Outcome", "available", "get", "register", "unregister"]

import_submodules(sys.modules[__name__])
