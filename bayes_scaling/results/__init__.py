"""Layer 6, results: the fit functions and their results types (ScalingFit, FitBatch,
LearningCurveFit, DownstreamFit, HyperparameterFit, CriticalBatchFit)."""

from . import batch, chained, downstream, hyperparams, learning_curves, loading, scaling_fit
from .batch import *  # noqa: F401,F403
from .chained import *  # noqa: F401,F403
from .downstream import *  # noqa: F401,F403
from .hyperparams import *  # noqa: F401,F403
from .learning_curves import *  # noqa: F401,F403
from .scaling_fit import *  # noqa: F401,F403

load = loading.load  # the one loader (every results type), not ScalingFit's or hyperparams'

__all__ = sorted({*hyperparams.__all__, *downstream.__all__, *chained.__all__,
                  *learning_curves.__all__, *batch.__all__, *scaling_fit.__all__,
                  *loading.__all__})
