"""Layer 5, inference: NUTS driver, batched/sharded sampling and sampling diagnostics."""

from . import diagnostics, nuts
from .diagnostics import *  # noqa: F401,F403
from .nuts import *  # noqa: F401,F403

__all__ = [
    *nuts.__all__,
    *diagnostics.__all__,
]
