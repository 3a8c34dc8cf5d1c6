"""Analysis: simulation-based calibration of the fits (batched)."""

from . import sbc
from .sbc import *  # noqa: F401,F403

__all__ = [
    *sbc.__all__,
]
