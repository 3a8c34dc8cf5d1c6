"""The base of every results type: posterior draws and the one summary schema.

:class:`ScalingFit` (and :class:`LearningCurveFit`), :class:`DownstreamFit` and the
hyperparameter fits inherit from :class:`PosteriorResults`, so ``draws`` and
``summary`` mean the same everywhere: a summary has one row per parameter
(``name`` or ``name[label]`` for per-group values) and the columns ``mean``,
``sd``, ``median``, ``lower``, ``upper`` and ArviZ's ``ess_bulk``, ``ess_tail``, ``r_hat``,
``mcse_*`` (equal-tailed interval at ``level``), with ``attrs["level"]``.

Every ``predict`` table is built by ``predictive_table`` (defined at the bottom
layer, ``bayes_scaling._predictive``, so the prior predictive of ``models/`` uses
it too): the inputs, then
``median``, ``lower``, ``upper`` (band of the curve: parameter uncertainty),
``pred_lower``, ``pred_upper`` (band of a new observation: adds its noise) and
``level`` (:data:`PREDICTIVE_COLUMNS`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .._lazy import lazy_import
from .._predictive import PREDICTIVE_COLUMNS, predictive_table  # noqa: F401  (re-exported)

azs = lazy_import("arviz_stats")
pd = lazy_import("pandas")

__all__ = ["PosteriorResults", "predictive_table", "PREDICTIVE_COLUMNS"]

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
