"""The one place for attnflow's failure types and the messages a user sees.

Bad *input* raises the built-in ``ValueError``/``TypeError`` whose message names the argument (see
``attnflow._validate``); a run that cannot finish raises one of these.
"""

from __future__ import annotations


class AttnflowError(Exception):
    """Base of attnflow's own failures (not raised for bad arguments, which are ValueError/TypeError)."""


class StepLimitError(AttnflowError, RuntimeError):
    """An integration needed more steps than ``max_steps`` allows."""

    def __init__(self, method: str, max_steps: int, where: str) -> None:
        super().__init__(
            f"{method} needs more than max_steps={max_steps} steps {where}; raise max_steps, a larger dt, "
            "or a looser rtol/atol"
        )


class BlowUpError(AttnflowError, FloatingPointError):
    """The state of a run became NaN or infinite."""

    def __init__(self, t: float, hint: str = "") -> None:
        super().__init__(
            f"the state became NaN or infinite at t={t:g}; "
            + (hint or "reduce dt, use float64, or a smaller beta (the USA velocity grows like e^beta)")
        )


__all__ = ["AttnflowError", "BlowUpError", "StepLimitError"]
