"""Layer 6, results: fit functions and their results types."""

# scaling_fit last: its ``load`` is the package's (hyperparams.load stays in its module).
from . import batch, downstream, hyperparams, learning_curves, scaling_fit
from .batch import *  # noqa: F401,F403
from .downstream import *  # noqa: F401,F403
from .hyperparams import *  # noqa: F401,F403
from .learning_curves import *  # noqa: F401,F403
from .scaling_fit import *  # noqa: F401,F403

__all__ = sorted(set([
    *hyperparams.__all__,
    *downstream.__all__,
    *learning_curves.__all__,
    *batch.__all__,
    *scaling_fit.__all__,
]))
