"""PSIS-LOO comparison of fits of the same runs: the one implementation.

:func:`bayes_scaling.compare_models` (structures, e.g. shared vs separate
exponents) and :func:`bayes_scaling.compare_laws` (laws) both rank with
:func:`loo_compare`, with one Pareto-k limit and one warning.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from .._lazy import lazy_import
from ..exceptions import ParetoKWarning

azs = lazy_import("arviz_stats")
pd = lazy_import("pandas")

if TYPE_CHECKING:
    from ..results.scaling_fit import ScalingFit

__all__ = ["loo_compare", "PARETO_K_THRESHOLD", "with_log_likelihood"]

#: Pareto-k above which a run's importance weights are unreliable (Vehtari et al. 2024);
#: ArviZ's sample-size threshold ``min(1 - 1/log10 S, 0.7)`` applies when lower.
PARETO_K_THRESHOLD = 0.7


def check_same_runs(fits: Mapping[str, ScalingFit]) -> None:
    """Raise unless every fit saw the same runs (same losses and sizes, same order)."""
    names = list(fits)
    base = fits[names[0]].posterior["constant_data"]
    for name in names[1:]:
        other = fits[name].posterior["constant_data"]
        if other["loss"].shape != base["loss"].shape:
            raise ValueError(f"fit {name!r} has {other['loss'].size} runs, {names[0]!r} has "
                             f"{base['loss'].size}: it was fitted to different runs (LOO compares "
                             "fits of the same runs)")
        for column in ("loss", "N", "D", "C"):
            if column in base and column in other and not np.allclose(
                    np.asarray(base[column].values), np.asarray(other[column].values),
                    rtol=1e-9):
                raise ValueError(f"fit {name!r} was fitted to different runs than "
                                 f"{names[0]!r} (column {column!r} differs): LOO compares "
                                 "fits of the same runs in the same order")


def with_log_likelihood(fit: Any) -> Any:
    """The fit's DataTree with its pointwise log-likelihood (computed on demand when it can be)."""
    if hasattr(fit, "log_likelihood_tree"):
        return fit.log_likelihood_tree()
    return fit.posterior


def loo_compare(fits: Mapping[str, ScalingFit], *, method: str = "stacking",
                pareto_k_threshold: float = PARETO_K_THRESHOLD, caller: str = "loo_compare",
                stacklevel: int = 3) -> pd.DataFrame:
    """Rank fits of the same runs by PSIS-LOO (:func:`arviz_stats.loo`, ``compare``).

    Returns :func:`arviz_stats.compare`'s table (index: fit names, best first)
    plus ``pareto_k_high`` (runs above the limit) and ``pareto_k_max``;
    ``attrs["dominant"]`` is the best fit's name when its ELPD lead over every
    other fit exceeds 2 standard errors of the difference, else ``None``.
    A :class:`ParetoKWarning` names the fits and runs above the limit.
    """
    if not isinstance(fits, Mapping) or len(fits) < 2:
        raise ValueError(f"{caller} needs a mapping of at least two {{name: fit}}")
    for name, f in fits.items():
        if "log_likelihood" not in with_log_likelihood(f).children:
            raise ValueError(f"fit {name!r} has no log_likelihood group")
    check_same_runs(fits)
    elpds, high, kmax, limit = {}, {}, {}, {}
    for name, f in fits.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # replaced by one warning below
            elpd = azs.loo(with_log_likelihood(f), pointwise=True, var_name="log_loss")
        k = np.asarray(elpd.pareto_k.values)
        limit[name] = min(pareto_k_threshold, float(elpd.good_k))
        high[name], kmax[name] = np.flatnonzero(k > limit[name]), float(np.max(k))
        elpds[name] = elpd
    flagged = {n: b for n, b in high.items() if b.size}
    if flagged:
        total = {n: int(np.asarray(elpds[n].pareto_k.values).size) for n in flagged}
        detail = "; ".join(
            f"fit {n!r}: {b.size} of {total[n]} runs have Pareto k above {limit[n]:.2f} "
            f"(positions {b[:8].tolist()}{', ...' if b.size > 8 else ''}; max {kmax[n]:.2f})"
            for n, b in flagged.items())
        warnings.warn(
            f"{detail}. PSIS-LOO is unreliable for these runs, so the ranking and weights may "
            "favour the wrong model. Look at them (bayes_scaling.checks.outlier_report: "
            "outliers, runs outside the power-law regime), refit with "
            "likelihood='student_t', or use K-fold cross-validation.",
            ParetoKWarning, stacklevel=stacklevel)
    table = azs.compare(elpds, method=method, round_to="none")
    table["pareto_k_high"] = [int(high[n].size) for n in table.index]
    table["pareto_k_max"] = [kmax[n] for n in table.index]
    others = table.iloc[1:]
    leads = np.abs(np.asarray(others["elpd_diff"], dtype=float)) > 2 * np.asarray(
        others["dse"], dtype=float)
    table.attrs["dominant"] = str(table.index[0]) if np.all(leads) else None
    return table
