"""Classical (non-Bayesian) baselines: Chinchilla Approaches 2 and 3 and their results."""

from . import approach1, approach2, approach3, classical
from .approach1 import *  # noqa: F401,F403
from .approach2 import *  # noqa: F401,F403
from .approach3 import *  # noqa: F401,F403
from .classical import *  # noqa: F401,F403

__all__ = [*classical.__all__, *approach1.__all__, *approach2.__all__, *approach3.__all__]
