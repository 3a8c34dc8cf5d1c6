"""Analysis: checks of a fit (outliers, regimes, prior sensitivity, contraction)."""

from . import posterior, regimes
from .posterior import *  # noqa: F401,F403
from .regimes import *  # noqa: F401,F403

__all__ = [
    *posterior.__all__,
    *regimes.__all__,
]
