"""Layer 1, data: the runs table, size completion, parameter/FLOP accounting and the
public data sets."""

from . import accounting, datasets, runs, sizes
from .accounting import *  # noqa: F401,F403
from .datasets import *  # noqa: F401,F403
from .runs import *  # noqa: F401,F403
from .sizes import *  # noqa: F401,F403

__all__ = [*runs.__all__, *sizes.__all__, *accounting.__all__, *datasets.__all__]
