"""Time integration of token-moving vector fields: ``simulate(field, x0, t_end, dt) -> Trajectory``, and
``integrate_sde`` for the noisy dynamics (Euler–Maruyama with retraction)."""

from attnflow.integrate.collapse import integrate_collapsing
from attnflow.integrate.solvers import METHODS, VectorField, simulate
from attnflow.integrate.stochastic import integrate_sde

__all__ = ["METHODS", "VectorField", "integrate_collapsing", "integrate_sde", "simulate"]
