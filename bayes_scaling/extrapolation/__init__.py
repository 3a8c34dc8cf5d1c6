"""Analysis: honest extrapolation (the discrepancy beyond the data, its field prior, and
leave-future-out calibration of the band)."""

from . import allocation_field, discrepancy, field, leave_future_out  # noqa: F401  (bs.extrapolation.field)
from .discrepancy import *  # noqa: F401,F403
from .leave_future_out import *  # noqa: F401,F403

__all__ = [
    *leave_future_out.__all__,
    *discrepancy.__all__,
]
