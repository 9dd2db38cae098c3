"""Time integration of token-moving vector fields: ``simulate(field, x0, t_end, dt) -> Trajectory``."""

from attnflow.integrate.collapse import integrate_collapsing
from attnflow.integrate.solvers import METHODS, VectorField, simulate

__all__ = ["METHODS", "VectorField", "integrate_collapsing", "simulate"]
