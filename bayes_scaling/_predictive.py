"""The one predictive-table schema: every ``predict`` / predictive ``bands`` table.

Bottom layer (NumPy and pandas only), so the prior predictive of ``models/``, the
results types of ``results/`` and the analyses above them build their tables with
the same ``predictive_table``: the inputs, ``mean`` (optional), ``median``,
``lower``, ``upper`` (equal-tailed band of the curve: parameter uncertainty),
``pred_lower``, ``pred_upper`` (band of a new observation: adds its noise) and
``level``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ._lazy import lazy_import

pd = lazy_import("pandas")

__all__ = ["PREDICTIVE_COLUMNS", "predictive_table"]

#: The columns every results type's ``predict`` table has (after its input columns).
PREDICTIVE_COLUMNS = ("median", "lower", "upper", "pred_lower", "pred_upper", "level")


def predictive_table(inputs: Mapping[str, Any], curve: np.ndarray, observed: np.ndarray | None,
                     level: float, *, log_observed: bool = False, mean: bool = True
                     ) -> pd.DataFrame:
    """The one predictive-table schema, from draws of shape ``(num_draws, num_points)``.

    Parameters
    ----------
    inputs : mapping or DataFrame
        Input columns, one value per point (they come first; a DataFrame keeps its index).
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
    out = inputs.copy() if isinstance(inputs, pd.DataFrame) else pd.DataFrame(dict(inputs))
    if mean:
        out["mean"] = curve.mean(axis=0)
    tail = (1.0 - level) / 2.0
    lower, median, upper = np.quantile(curve, [tail, 0.5, 1.0 - tail], axis=0)
    out["median"], out["lower"], out["upper"] = median, lower, upper
    if observed is None:
        out["pred_lower"] = out["pred_upper"] = np.nan
    else:
        bounds = np.quantile(observed, [tail, 1.0 - tail], axis=0)
        out["pred_lower"], out["pred_upper"] = np.exp(bounds) if log_observed else bounds
    out["level"] = level
    return out
