"""Analysis: comparing architectures (groups), laws (PSIS-LOO, stacking) and
parameter/FLOP conventions."""

from . import architectures, conventions, model_averaging
from .architectures import *  # noqa: F401,F403
from .conventions import *  # noqa: F401,F403
from .model_averaging import *  # noqa: F401,F403

__all__ = [*architectures.__all__, *model_averaging.__all__, *conventions.__all__]
