"""Figures of fits, groups and priors."""

from . import groups, hyperparams, plotting, priors  # noqa: F401  (hyperparams registers its figures)
from .groups import *  # noqa: F401,F403
from .plotting import *  # noqa: F401,F403
from .priors import *  # noqa: F401,F403

__all__ = [
    *plotting.__all__,
    *groups.__all__,
    *priors.__all__,
]
