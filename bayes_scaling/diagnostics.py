"""Sampler and fit diagnostics turned into warnings with advice.

Thresholds follow Vehtari et al. (2021): rank-normalised split R-hat above
1.01 or a bulk/tail ESS below 100 per chain make posterior summaries unreliable;
any divergent transition means NUTS could not explore part of the posterior.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import arviz_stats as azs
import numpy as np

if TYPE_CHECKING:
    from .fit import ScalingFit

__all__ = [
    "SamplingWarning", "DivergenceWarning", "ConvergenceWarning", "TreeDepthWarning",
    "AllocationWarning", "check_fit", "RHAT_THRESHOLD", "MIN_ESS_PER_CHAIN",
]

RHAT_THRESHOLD = 1.01
MIN_ESS_PER_CHAIN = 100


class SamplingWarning(UserWarning):
    """Base class of the sampler-problem warnings."""


class DivergenceWarning(SamplingWarning):
    """NUTS reported divergent transitions."""


class ConvergenceWarning(SamplingWarning):
    """R-hat too high or effective sample size too low."""


class TreeDepthWarning(SamplingWarning):
    """Many iterations hit the maximum tree depth."""


class AllocationWarning(UserWarning):
    """Compute-optimal allocation at the edge of the search window."""


def _warn(message: str, category: type[Warning]) -> None:
    warnings.warn(message, category, stacklevel=4)


def check_fit(result: ScalingFit) -> dict[str, float]:
    """Warn about divergences, R-hat, ESS and tree depth; return the numbers checked."""
    stats = result.posterior["sample_stats"]
    chains = int(stats.sizes["chain"])
    num_div = int(stats["diverging"].values.sum())
    depth_hits = float(np.mean(stats["tree_depth"].values >= result.sampler.max_tree_depth))
    posterior_vars = list(result.posterior["posterior"].data_vars)
    # Law and noise parameters, plus the population mean/spread of pooled groups,
    # whose funnels are where sampling trouble shows first.
    names = list(result.law.param_names) + [
        n for n in posterior_vars if n in ("sigma", "nu") or n.endswith(("_mu", "_tau"))]
    post = result.posterior["posterior"].to_dataset()[names]
    rhat = azs.rhat(post)
    ess_bulk = azs.ess(post, method="bulk")
    ess_tail = azs.ess(post, method="tail")
    max_rhat = float(max(rhat[n].values.max() for n in names)) if chains > 1 else float("nan")
    min_bulk = float(min(ess_bulk[n].values.min() for n in names))
    min_tail = float(min(ess_tail[n].values.min() for n in names))
    if num_div:
        _warn(
            f"{num_div} divergent transitions after warm-up: the posterior has regions NUTS "
            "could not explore, so intervals may be biased. Increase target_accept (e.g. 0.95 "
            "or 0.99), check for runs outside the power-law regime, or use tighter priors.",
            DivergenceWarning,
        )
    if chains > 1 and max_rhat > RHAT_THRESHOLD:
        worst = max(names, key=lambda n: float(rhat[n].values.max()))
        _warn(
            f"R-hat of {worst} is {max_rhat:.3f} > {RHAT_THRESHOLD}: chains disagree. Run more "
            "warm-up and draws, or check for a multimodal posterior (e.g. E against the "
            "offsets when the data do not reach saturation).",
            ConvergenceWarning,
        )
    if min(min_bulk, min_tail) < MIN_ESS_PER_CHAIN * chains:
        _warn(
            f"low effective sample size (bulk {min_bulk:.0f}, tail {min_tail:.0f}; want at least "
            f"{MIN_ESS_PER_CHAIN * chains}): interval ends are noisy. Increase draws.",
            ConvergenceWarning,
        )
    if depth_hits > 0.05:
        _warn(
            f"{depth_hits:.0%} of iterations hit the maximum tree depth "
            f"({result.sampler.max_tree_depth}): sampling is inefficient. Raise max_tree_depth "
            "or reconsider the priors/parameterisation.",
            TreeDepthWarning,
        )
    return {"divergences": num_div, "max_rhat": max_rhat, "min_ess_bulk": min_bulk,
            "min_ess_tail": min_tail, "tree_depth_hits": depth_hits}


def warn_allocation_edge(share: float) -> None:
    """Warn that some draws put the optimum at the edge of the allocation search."""
    _warn(
        f"{share:.1%} of posterior draws have no interior compute-optimal point within "
        "tokens-per-parameter e^-24..e^24: the law keeps improving by shifting compute to one "
        "axis. Treat N_opt/D_opt for those draws as unbounded.",
        AllocationWarning,
    )


class RegimeWarning(UserWarning):
    """Residuals bend at the ends of the data: some runs may lie outside the power-law
    regime (near-random start, saturation). See :func:`bayes_scaling.checks.regime_check`."""


class PriorDominatedWarning(UserWarning):
    """A requested quantity is determined mostly by the prior, not by the runs.
    See :func:`bayes_scaling.checks.prediction_contraction`."""


__all__ += ["RegimeWarning", "PriorDominatedWarning"]
