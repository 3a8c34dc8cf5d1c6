"""Layer 1, data: the runs table, parameter/FLOP accounting, public data sets."""

from . import accounting, datasets, runs
from .accounting import *  # noqa: F401,F403
from .datasets import *  # noqa: F401,F403
from .runs import *  # noqa: F401,F403

__all__ = [
    *runs.__all__,
    *accounting.__all__,
    *datasets.__all__,
]
