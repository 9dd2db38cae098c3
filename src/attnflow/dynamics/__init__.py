"""Vector fields that move token clouds: self-attention as an interacting particle system."""

from attnflow.dynamics.attention import GEOMETRIES, VARIANTS, FeedForward, SelfAttention, Weight

__all__ = ["GEOMETRIES", "VARIANTS", "FeedForward", "SelfAttention", "Weight"]
