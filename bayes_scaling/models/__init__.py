"""Layer 4, models: every NumPyro model, its likelihood, groups and simulation."""

from . import groups, scaling, simulation
from .groups import *  # noqa: F401,F403
from .scaling import *  # noqa: F401,F403
from .simulation import *  # noqa: F401,F403

__all__ = [
    *scaling.__all__,
    *groups.__all__,
    *simulation.__all__,
]
