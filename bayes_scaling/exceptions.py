"""Every warning the library emits, under one base :class:`BayesScalingWarning`.

The bottom layer: any module may import it. Filter all of the library's warnings
with ``warnings.simplefilter("ignore", bs.BayesScalingWarning)``.
"""

from __future__ import annotations

__all__ = [
    "BayesScalingWarning",
    "SamplingWarning", "DivergenceWarning", "ConvergenceWarning", "TreeDepthWarning",
    "PrecisionWarning",
    "AllocationWarning", "RegimeWarning", "PriorDominatedWarning", "PriorDataConflictWarning",
    "ParetoKWarning", "DesignWarning", "InfeasibleTargetWarning", "SigmoidExtrapolationWarning", "AccountingWarning",
]


class BayesScalingWarning(UserWarning):
    """Base class of every warning bayes_scaling emits."""


class SamplingWarning(BayesScalingWarning):
    """Base class of the sampler-problem warnings."""


class DivergenceWarning(SamplingWarning):
    """NUTS reported divergent transitions."""


class ConvergenceWarning(SamplingWarning):
    """R-hat too high or effective sample size too low."""


class TreeDepthWarning(SamplingWarning):
    """Many iterations hit the maximum tree depth."""


class PrecisionWarning(SamplingWarning):
    """The float32 potential of mixed precision strayed from float64: the fit ran again in float64."""


class AllocationWarning(BayesScalingWarning):
    """Compute-optimal allocation at the edge of the search window."""


class RegimeWarning(BayesScalingWarning):
    """Residuals bend at the ends of the data: some runs may lie outside the power-law
    regime (near-random start, saturation). See :func:`bayes_scaling.power_law_regime`."""


class PriorDominatedWarning(BayesScalingWarning):
    """A requested quantity is determined mostly by the prior, not by the runs.
    See :func:`bayes_scaling.checks.prediction_contraction`."""


class PriorDataConflictWarning(BayesScalingWarning):
    """The runs contradict an informative prior (e.g. a literature prior): the posterior
    is a compromise neither supports. See :func:`bayes_scaling.priors.prior_data_conflict`."""


class InfeasibleTargetWarning(BayesScalingWarning):
    """The target loss is at or below the law's floor in some posterior draws."""


class DesignWarning(BayesScalingWarning):
    """The importance weights behind an expected width collapsed (low effective sample size)."""


class ParetoKWarning(BayesScalingWarning):
    """Some runs have high Pareto-k: the PSIS-LOO estimate for them is unreliable."""


class SigmoidExtrapolationWarning(BayesScalingWarning):
    """The predicted loss lies outside the losses the sigmoid was fitted to: step two is
    extrapolated, and its band assumes the sigmoid's form holds there."""


class AccountingWarning(BayesScalingWarning):
    """A parameter/FLOP convention counts something twice or not at all."""
