"""Layer 5, inference: the NUTS driver (batched, sharded), sampling diagnostics,
DataTree assembly and the interval schema of posterior summaries."""

from . import assembly, diagnostics, intervals, nuts
from .assembly import *  # noqa: F401,F403
from .diagnostics import *  # noqa: F401,F403
from .intervals import *  # noqa: F401,F403
from .nuts import *  # noqa: F401,F403

__all__ = [*nuts.__all__, *diagnostics.__all__, *assembly.__all__, *intervals.__all__]
