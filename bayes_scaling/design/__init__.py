"""Analysis: decisions from a posterior (which runs next, repetition, inference-aware allocation)."""

from . import inference_allocation, repetition, run_design
from .inference_allocation import *  # noqa: F401,F403
from .repetition import *  # noqa: F401,F403
from .run_design import *  # noqa: F401,F403

__all__ = [
    *run_design.__all__,
    *repetition.__all__,
    *inference_allocation.__all__,
]
