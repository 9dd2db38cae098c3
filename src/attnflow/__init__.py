"""attnflow: Transformers as flows that move a cloud of token vectors through embedding space."""

from attnflow.trajectory import Trajectory

__version__ = "0.1.0"

__all__ = ["Trajectory", "__version__"]
