"""Analysis: checks of a fit (outliers, regimes, prior sensitivity, contraction)."""

from . import outliers, regime_ends, regimes, sensitivity
from .outliers import *  # noqa: F401,F403
from .regime_ends import *  # noqa: F401,F403
from .regimes import *  # noqa: F401,F403
from .sensitivity import *  # noqa: F401,F403

__all__ = [
    *outliers.__all__,
    *regime_ends.__all__,
    *sensitivity.__all__,
    *regimes.__all__,
]
