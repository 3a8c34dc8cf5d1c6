"""The base of every results type: posterior draws and the one summary schema.

:class:`ScalingFit` (and :class:`LearningCurveFit`), :class:`DownstreamFit` and the
hyperparameter fits inherit from :class:`PosteriorResults`, so ``draws`` and
``summary`` mean the same everywhere: a summary has one row per parameter
(``name`` or ``name[label]`` for per-group values) and the columns ``mean``,
``sd``, ``median``, ``lower``, ``upper`` and ArviZ's ``ess_bulk``, ``ess_tail``, ``r_hat``,
``mcse_*`` (equal-tailed interval at ``level``), with ``attrs["level"]``.

Every ``predict`` table is built by :func:`predictive_table`: the inputs, then
``median``, ``lower``, ``upper`` (band of the curve: parameter uncertainty),
``pred_lower``, ``pred_upper`` (band of a new observation: adds its noise) and
``level`` (:data:`PREDICTIVE_COLUMNS`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .._lazy import lazy_import
from ..inference.intervals import quantile_columns

azs = lazy_import("arviz_stats")
pd = lazy_import("pandas")

__all__ = ["PosteriorResults", "predictive_table", "PREDICTIVE_COLUMNS"]

#: The columns every results type's ``predict`` table has (after its input columns).
PREDICTIVE_COLUMNS = ("median", "lower", "upper", "pred_lower", "pred_upper", "level")


def predictive_table(inputs: Mapping[str, Any], curve: np.ndarray, observed: np.ndarray | None,
                     level: float, *, log_observed: bool = False, mean: bool = True
                     ) -> pd.DataFrame:
    """The one predictive-table schema, from draws of shape ``(num_draws, num_points)``.

    Parameters
    ----------
    inputs : mapping
        Input columns, one value per point (they come first).
    curve : ndarray
        Draws of the curve (no observation noise): ``mean`` (with ``mean=True``),
        ``median`` and the equal-tailed ``lower``/``upper`` at ``level``.
    observed : ndarray or None
        Draws of a new observation: ``pred_lower``/``pred_upper``; ``None`` (no
        observation model) gives NaN there.
    log_observed : bool
        ``observed`` is on the log scale: the bounds are exponentiated (equal-tailed
        bounds commute with the monotone map).
    """
    out = pd.DataFrame(dict(inputs))
    if mean:
        out["mean"] = curve.mean(axis=0)
    band = quantile_columns("median", curve, level)
    out["median"], out["lower"], out["upper"] = (band["median"], band["median_lower"],
                                                 band["median_upper"])
    if observed is None:
        out["pred_lower"] = out["pred_upper"] = np.nan
    else:
        tail = (1.0 - level) / 2.0
        bounds = np.quantile(observed, [tail, 1.0 - tail], axis=0)
        out["pred_lower"], out["pred_upper"] = np.exp(bounds) if log_observed else bounds
    out["level"] = level
    return out


class PosteriorResults:
    """Mixin for frozen results dataclasses with ``posterior`` (a DataTree) and ``level``."""

    @property
    def num_draws(self) -> int:
        """Chains times draws per chain."""
        ds = self.posterior["posterior"]
        return int(ds.sizes["chain"] * ds.sizes["draw"])

    def draws(self, name: str) -> np.ndarray:
        """Posterior draws of ``name`` flattened over chains: shape ``(num_draws, ...)``."""
        values = self.posterior["posterior"][name].values
        return values.reshape((-1,) + values.shape[2:])

    def _median(self, name: str) -> dict[str, float]:
        """Median per summary row of variable ``name`` (``name`` or ``name[label]``)."""
        da = self.posterior["posterior"][name]
        med = da.median(dim=("chain", "draw"))
        if med.ndim == 0:
            return {name: float(med)}
        (dim,) = med.dims
        return {f"{name}[{label}]": float(value)
                for label, value in zip(med[dim].values, med.values, strict=True)}

    def summary_table(self, names: Sequence[str], level: float | None = None) -> pd.DataFrame:
        """The one summary schema (module docstring) for posterior variables ``names``."""
        level = self.level if level is None else level
        names = list(names)
        table = azs.summary(self.posterior, var_names=names, ci_prob=level, ci_kind="eti",
                            round_to="none")
        table = table.rename(columns={table.columns[2]: "lower", table.columns[3]: "upper"})
        medians: dict[str, float] = {}
        for name in names:
            medians.update(self._median(name))
        table.insert(2, "median", [medians[str(n)] for n in table.index])
        table.attrs["level"] = level
        return table
