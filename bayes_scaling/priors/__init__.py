"""Layer 3, priors: the prior catalogue (published fits), prior resolution and the
prior-data conflict check."""

from . import conflict, literature, serialize
from .conflict import *  # noqa: F401,F403
from .literature import *  # noqa: F401,F403
from .serialize import *  # noqa: F401,F403

__all__ = [*literature.__all__, *conflict.__all__, *serialize.__all__]
