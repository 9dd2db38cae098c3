"""Vector fields that move token clouds: self-attention as an interacting particle system, and the
normalisation schemes around it."""

from attnflow.dynamics.attention import GEOMETRIES, VARIANTS, FeedForward, SelfAttention, Weight
from attnflow.dynamics.normalization import NORMALIZATIONS, Normalized

__all__ = ["GEOMETRIES", "NORMALIZATIONS", "VARIANTS", "FeedForward", "Normalized", "SelfAttention", "Weight"]
