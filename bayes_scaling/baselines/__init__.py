"""Classical (non-Bayesian) baselines: Chinchilla Approaches 2 and 3."""

from . import classical
from .classical import *  # noqa: F401,F403

__all__ = [
    *classical.__all__,
]
