"""Layer 3, priors: prior catalogue (published fits) and prior resolution."""

from . import literature
from .literature import *  # noqa: F401,F403

__all__ = [
    *literature.__all__,
]
