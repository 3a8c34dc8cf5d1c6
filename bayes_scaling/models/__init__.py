"""Layer 4, models: every NumPyro model of the scaling law (its likelihood, groups),
the checks and keyword arguments of a fit's model, the prior predictive and simulation."""

from . import (
    downstream,
    groups,
    hyperparams,
    learning_curves,
    likelihood,
    predictive,
    scaling,
    setup,
    simulation,
)
from .downstream import *  # noqa: F401,F403
from .groups import *  # noqa: F401,F403
from .hyperparams import *  # noqa: F401,F403
from .learning_curves import *  # noqa: F401,F403
from .likelihood import *  # noqa: F401,F403
from .predictive import *  # noqa: F401,F403
from .scaling import *  # noqa: F401,F403
from .setup import *  # noqa: F401,F403
from .simulation import *  # noqa: F401,F403

__all__ = [*likelihood.__all__, *scaling.__all__, *learning_curves.__all__, *downstream.__all__,
           *hyperparams.__all__, *groups.__all__, *setup.__all__, *predictive.__all__,
           *simulation.__all__]
