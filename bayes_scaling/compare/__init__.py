"""Analysis: comparing architectures (groups) and laws (PSIS-LOO, stacking)."""

from . import architectures, model_averaging
from .architectures import *  # noqa: F401,F403
from .model_averaging import *  # noqa: F401,F403

__all__ = [
    *architectures.__all__,
    *model_averaging.__all__,
]
