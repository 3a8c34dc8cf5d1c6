"""Comparing scaling laws fitted to the same runs, and averaging their predictions.

:func:`compare_laws`
    PSIS-LOO (``arviz_stats.loo``) of each fit's pointwise log-likelihood and
    the ranking with stacking weights (``arviz_stats.compare``). Laws with
    different inputs (``chinchilla`` of N and D, ``power_law_C`` of C) are
    comparable as long as they were fitted to the same runs: the likelihood is
    of the same observed log-losses.
:func:`stacked_predict`
    model-averaged predictive bands: a mixture of the fits' posterior draws in
    proportion to the stacking weights, for when no single law dominates.

(Group structures of one law are compared by
:func:`bayes_scaling.compare.compare_models`; this module compares laws.)

References
----------
Vehtari, Gelman & Gabry (2017), "Practical Bayesian model evaluation using
leave-one-out cross-validation and WAIC". Yao, Vehtari, Simpson & Gelman (2018),
"Using stacking to average Bayesian predictive distributions".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import jax
import numpy as np

from .._lazy import lazy_import
from .._predictive import predictive_table
from ..data.sizes import complete_sizes
from ..exceptions import ParetoKWarning
from .loo import PARETO_K_THRESHOLD, loo_compare

pd = lazy_import("pandas")

if TYPE_CHECKING:
    from ..results.scaling_fit import ScalingFit

__all__ = ["compare_laws", "stacked_predict", "ParetoKWarning"]

def compare_laws(fits: Mapping[str, ScalingFit], *, method: str = "stacking",
                 pareto_k_threshold: float = PARETO_K_THRESHOLD) -> pd.DataFrame:
    """Rank laws fitted to the same runs by PSIS-LOO, with stacking weights.

    Parameters
    ----------
    fits : mapping of name -> ScalingFit
        At least two fits of the same runs (checked: losses and the ``N``,
        ``D``, ``C`` columns they share), e.g. ``{"chinchilla": ...,
        "kaplan": ..., "power_law_C": ...}``.
    method : {"stacking", "BB-pseudo-BMA", "pseudo-BMA"}
        Weights of :func:`arviz_stats.compare`.
    pareto_k_threshold : float, default 0.7
        Runs with Pareto-k above it (or above ArviZ's sample-size threshold
        ``min(1 - 1/log10 S, 0.7)``, whichever is lower) trigger a
        :class:`ParetoKWarning`.

    Returns
    -------
    pandas.DataFrame
        :func:`arviz_stats.compare`'s table (index: fit names, best first;
        ``rank``, ``elpd``, ``p``, ``elpd_diff``, ``weight``, ``se``, ``dse``,
        ...) plus ``law``, ``pareto_k_max`` and ``pareto_k_high`` (runs above
        the threshold). ``attrs["dominant"]`` is the best fit's name when its
        ELPD lead over every other fit exceeds 2 standard errors of the
        difference, else ``None`` (then average with :func:`stacked_predict`).

    Warns
    -----
    ParetoKWarning
        Naming the fits and runs with high Pareto-k, with advice.

    Examples
    --------
    >>> import numpy as np, bayes_scaling as bs
    >>> design = bs.iso_flop_design(np.geomspace(1e18, 1e21, 6), runs_per_budget=10,
    ...                             tokens_per_param=(2.0, 400.0))
    >>> runs = bs.simulate("chinchilla", bs.EXAMPLE_TRUTH, N=design["N"], D=design["D"], seed=1)
    >>> fits = {law: bs.fit(runs, law=law, chains=2, draws=400, warmup=400)  # short runs
    ...         for law in ("chinchilla", "kaplan")}
    >>> table = compare_laws(fits)   # best first; weights, elpd differences, Pareto-k
    >>> sorted(table.index)
    ['chinchilla', 'kaplan']
    """
    table = loo_compare(fits, method=method, pareto_k_threshold=pareto_k_threshold,
                        caller="compare_laws")
    table.insert(table.columns.get_loc("pareto_k_high"), "law",
                 [repr(fits[n].law) for n in table.index])
    return table


def stacked_predict(
    fits: Mapping[str, ScalingFit],
    weights: Mapping[str, float] | None = None,
    *,
    N: Any = None,  # noqa: N803 - the field's notation
    D: Any = None,  # noqa: N803
    C: Any = None,  # noqa: N803
    level: float | None = None,
    seed: int = 0,
    num_draws: int | None = None,
) -> pd.DataFrame:
    """Model-averaged predictive bands: a weighted mixture of the fits' posterior draws.

    Each fit predicts at its own inputs (two of ``N``, ``D``, ``C`` are enough:
    a law of compute gets ``C = k N D``, a law of N and D gets ``D = C/(k N)``).
    ``num_draws`` mixture draws are split between the fits by a multinomial
    draw with probabilities ``weights``; each fit contributes that many of its
    posterior draws (sampled without replacement when it has enough) with its
    own observation noise for the predictive band.

    Parameters
    ----------
    fits : mapping of name -> ScalingFit
    weights : mapping of name -> float, optional
        Non-negative mixture weights (normalised); default: the stacking weights
        of :func:`compare_laws`.
    N, D, C : float or array
        Where to predict (broadcast).
    level : float, optional
        Interval mass (default: the first fit's, 0.9).
    seed : int, default 0
        Seeds the split between fits, the draw selection and the noise.
    num_draws : int, optional
        Mixture draws (default: the smallest number of draws among the fits).

    Returns
    -------
    pandas.DataFrame
        Like :meth:`ScalingFit.predict`: ``N``, ``D``, ``C`` (where known),
        ``mean``, ``median``, ``lower``/``upper`` (band of the averaged curve),
        ``pred_lower``/``pred_upper`` (predictive band of a new run), ``level``;
        ``attrs["weights"]`` and ``attrs["draws_per_fit"]``.
    """

    if not isinstance(fits, Mapping) or not fits:
        raise ValueError("stacked_predict needs a mapping of {name: fit}")
    names = list(fits)
    if weights is None:
        weights = compare_laws(fits)["weight"].to_dict() if len(fits) > 1 else {names[0]: 1.0}
    unknown = set(weights) - set(names)
    if unknown:
        raise ValueError(f"weights name fits that are not given: {sorted(unknown)}")
    w = np.array([float(weights.get(n, 0.0)) for n in names])
    if np.any(~np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise ValueError(f"weights must be non-negative with a positive sum, got {dict(weights)}")
    w = w / w.sum()
    first = fits[names[0]]
    level = first.level if level is None else level
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    total = min(f.num_draws for f in fits.values()) if num_draws is None else int(num_draws)
    if total < 1:
        raise ValueError(f"num_draws must be positive, got {num_draws!r}")
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(total, w)
    noise_keys = jax.random.split(jax.random.PRNGKey(seed), len(names))  # one key per fit
    curves, observed = [], []
    for i, (name, count) in enumerate(zip(names, counts, strict=True)):
        if count == 0:
            continue
        f = fits[name]
        curve = f.predict_draws(N=N, D=D, C=C)  # (S_f, P), the fit's own inputs
        noise = f.noise_draws(curve.shape, noise_keys[i])
        pick = rng.choice(curve.shape[0], size=count, replace=count > curve.shape[0])
        curves.append(curve[pick])
        observed.append(np.log(curve[pick]) + noise[pick])
    curve, log_obs = np.concatenate(curves), np.concatenate(observed)
    sizes = complete_sizes(N, D, C, first.runs.flops_factor)
    out = predictive_table({k: np.ravel(v) for k, v in zip("NDC", sizes, strict=True)
                            if v is not None}, curve, log_obs, level, log_observed=True)
    out.attrs["weights"] = dict(zip(names, w.tolist(), strict=True))
    out.attrs["draws_per_fit"] = dict(zip(names, counts.tolist(), strict=True))
    return out
