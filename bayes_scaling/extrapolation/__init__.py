"""Analysis: honest extrapolation (leave-future-out calibration of the band)."""

from . import leave_future_out
from .leave_future_out import *  # noqa: F401,F403

__all__ = [
    *leave_future_out.__all__,
]
