"""Sampler and fit diagnostics turned into warnings with advice.

Thresholds follow Vehtari et al. (2021): rank-normalised split R-hat above
1.01 or a bulk/tail ESS below 100 per chain make posterior summaries unreliable;
any divergent transition means NUTS could not explore part of the posterior.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .._lazy import lazy_import
from ..exceptions import (
    AllocationWarning,
    ConvergenceWarning,
    DivergenceWarning,
    PriorDataConflictWarning,
    PriorDominatedWarning,
    RegimeWarning,
    SamplingWarning,
    TreeDepthWarning,
)

array_stats = lazy_import("arviz_stats.base", "array_stats")

__all__ = [
    "SamplingWarning", "DivergenceWarning", "ConvergenceWarning", "TreeDepthWarning",
    "AllocationWarning", "RegimeWarning", "PriorDominatedWarning", "PriorDataConflictWarning",
    "check_fit", "check_sampling", "RHAT_THRESHOLD", "MIN_ESS_PER_CHAIN",
]

RHAT_THRESHOLD = 1.01
MIN_ESS_PER_CHAIN = 100


def _warn(message: str, category: type[Warning], stacklevel: int = 4) -> None:
    # 4: user code -> fit() -> check -> _warn -> warnings.warn
    warnings.warn(message, category, stacklevel=stacklevel)


def checked_names(law_params: Sequence[str], posterior_vars: Sequence[str]) -> list[str]:
    """Variables whose mixing is checked: the law's parameters, the noise parameters and
    the population mean/spread of pooled groups (whose funnels show trouble first)."""
    return list(law_params) + [n for n in posterior_vars
                               if n in ("sigma", "nu") or n.endswith(("_mu", "_tau"))]


def sampling_numbers(samples: Mapping[str, np.ndarray], diverging: np.ndarray,
                     ) -> dict[str, np.ndarray]:
    """Divergences, worst R-hat and ESS of a batch of fits, vectorised.

    Parameters
    ----------
    samples : mapping
        ``name -> array (fits, chains, draws, *extra)``.
    diverging : array (fits, chains, draws)

    Returns
    -------
    dict of arrays over fits: ``divergences``, ``max_rhat`` (NaN for one chain),
    ``min_ess_bulk``, ``min_ess_tail``, ``worst_rhat`` (name of the worst variable)
    and ``ok`` (no divergence, R-hat <= 1.01, ESS >= 100 per chain).
    """
    names = list(samples)
    num_fits, chains = diverging.shape[:2]

    def per_fit(values: np.ndarray, reduce) -> np.ndarray:
        return reduce(np.reshape(values, (num_fits, -1)), axis=1)

    rhat = np.stack([per_fit(array_stats.rhat(samples[n], chain_axis=1, draw_axis=2), np.max)
                     for n in names])
    bulk = np.stack([per_fit(array_stats.ess(samples[n], chain_axis=1, draw_axis=2,
                                             method="bulk"), np.min) for n in names])
    tail = np.stack([per_fit(array_stats.ess(samples[n], chain_axis=1, draw_axis=2,
                                             method="tail", prob=0.05), np.min)
                     for n in names])
    divergences = diverging.sum(axis=(1, 2))
    max_rhat = rhat.max(axis=0) if chains > 1 else np.full(num_fits, np.nan)
    min_bulk, min_tail = bulk.min(axis=0), tail.min(axis=0)
    ok = (divergences == 0) & (np.minimum(min_bulk, min_tail) >= MIN_ESS_PER_CHAIN * chains)
    if chains > 1:
        ok &= max_rhat <= RHAT_THRESHOLD
    return {"divergences": divergences, "max_rhat": max_rhat, "min_ess_bulk": min_bulk,
            "min_ess_tail": min_tail, "worst_rhat": np.asarray(names)[rhat.argmax(axis=0)],
            "ok": ok}


def check_fit(result: Any) -> dict[str, float]:  # a ScalingFit (results layer, above)
    """Warn about divergences, R-hat, ESS and tree depth; return the numbers checked."""
    names = checked_names(result.law.param_names,
                          list(result.posterior["posterior"].data_vars))
    return check_sampling(result.posterior, names, max_tree_depth=result.sampler.max_tree_depth,
                          _stacklevel=5)


def check_sampling(tree: Any, names: Sequence[str], *, max_tree_depth: int,
                   _stacklevel: int = 4) -> dict[str, float]:
    """:func:`check_fit` for any NUTS posterior (``posterior`` and ``sample_stats`` groups).

    Models outside :class:`~bayes_scaling.fit.ScalingFit` (downstream accuracy,
    hyperparameter laws, learning curves) check their own variables ``names``.
    """
    stats = tree["sample_stats"]
    chains = int(stats.sizes["chain"])
    depth_hits = float(np.mean(stats["tree_depth"].values >= max_tree_depth))
    posterior = tree["posterior"]
    numbers = sampling_numbers({n: posterior[n].values[None] for n in names},
                               stats["diverging"].values[None])
    num_div = int(numbers["divergences"][0])
    max_rhat = float(numbers["max_rhat"][0])
    min_bulk, min_tail = float(numbers["min_ess_bulk"][0]), float(numbers["min_ess_tail"][0])
    if num_div:
        _warn(
            f"{num_div} divergent transitions after warm-up: the posterior has regions NUTS "
            "could not explore, so intervals may be biased. Increase target_accept (e.g. 0.95 "
            "or 0.99), check for runs outside the power-law regime, or use tighter priors.",
            DivergenceWarning, _stacklevel,
        )
    if chains > 1 and max_rhat > RHAT_THRESHOLD:
        worst = numbers["worst_rhat"][0]
        _warn(
            f"R-hat of {worst} is {max_rhat:.3f} > {RHAT_THRESHOLD}: chains disagree. Run more "
            "warm-up and draws, or check for a multimodal posterior (e.g. E against the "
            "offsets when the data do not reach saturation).",
            ConvergenceWarning, _stacklevel,
        )
    if min(min_bulk, min_tail) < MIN_ESS_PER_CHAIN * chains:
        _warn(
            f"low effective sample size (bulk {min_bulk:.0f}, tail {min_tail:.0f}; want at least "
            f"{MIN_ESS_PER_CHAIN * chains}): interval ends are noisy. Increase draws.",
            ConvergenceWarning, _stacklevel,
        )
    if depth_hits > 0.05:
        _warn(
            f"{depth_hits:.0%} of iterations hit the maximum tree depth "
            f"({max_tree_depth}): sampling is inefficient. Raise max_tree_depth "
            "or reconsider the priors/parameterisation.",
            TreeDepthWarning, _stacklevel,
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


