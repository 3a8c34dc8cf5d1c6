"""Leave-future-out update of the field discrepancy prior with a sweep's own runs.

The discrepancy model and the field prior are described in
:mod:`bayes_scaling.models.discrepancy`; this module refits a sweep on the lower part of
its range, measures the errors on its larger runs and updates the field prior with them.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._lazy import lazy_import
from ..models.discrepancy import (  # re-exported: one import for the whole model
    _Z90_WIDTH,
    FIELD_PRIOR_FILE,
    SD_REF,
    Discrepancy,
    FieldPrior,
    FieldPriorOnlyWarning,
    axis_of,
    distance,
    load_field_prior,
    log_predictive_draws,
    update_with_errors,
    with_discrepancy,
)
from ..results.scaling_fit import ScalingFit
from ..results.scaling_fit import fit as fit_law

pd = lazy_import("pandas")

__all__ = ["DiscrepancyCalibration", "calibrate_discrepancy", "errors_table", "fold_errors",
           "Discrepancy", "FieldPrior", "FieldPriorOnlyWarning", "FIELD_PRIOR_FILE", "SD_REF", "axis_of",
           "distance", "load_field_prior", "log_predictive_draws", "update_with_errors",
           "with_discrepancy"]


def errors_table(fit: ScalingFit, runs: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Held-out errors of ``fit`` on ``runs``: log residual, predictive SD, distance."""
    sizes = {k: runs[k].to_numpy(np.float64) for k in ("N", "D", "C") if k in runs.columns}
    draws = log_predictive_draws(fit, sizes, seed)
    lower, median, upper = np.quantile(draws, [0.05, 0.5, 0.95], axis=0)
    log_loss = np.log(runs["loss"].to_numpy(np.float64))
    return pd.DataFrame({"e": log_loss - median, "sd": (upper - lower) / _Z90_WIDTH,
                         "d": distance(fit, sizes)})


def fold_errors(fit: ScalingFit, *, fraction: float = 0.65, min_inner: int = 15,
                min_outer: int = 3, seed: int | None = None, **fit_kwargs: Any
                ) -> tuple[pd.DataFrame | None, str]:
    """Leave-future-out errors inside the fitted runs, or ``None`` and the reason.

    The fit is refitted on the runs in the lower ``fraction`` of its log range
    of the distance axis, and the fitted runs above are predicted.
    """
    axis = axis_of(fit.law)
    frame = fit.runs.frame
    x = np.log10(frame[axis].to_numpy(np.float64))
    cut = x.min() + fraction * (x.max() - x.min())
    inner, outer = frame[x <= cut], frame[x > cut]
    need = max(min_inner, 2 * (fit.law.num_params + 2))
    if len(inner) < need or len(outer) < min_outer or x.max() - x.min() <= 0:
        return None, (f"{len(inner)} runs below and {len(outer)} above the fold cut "
                      f"(need {need} and {min_outer}): field prior alone")
    columns = [c for c in ("N", "D", "C", "U", "loss") if c in frame.columns]
    seed = fit.seed if seed is None else seed
    kwargs = {"chains": 4, "draws": 500, "warmup": 500, **fit_kwargs}
    refit = fit_law(inner[columns], law=fit.law, likelihood=fit.likelihood, seed=seed + 101,
                    flops_factor=fit.runs.flops_factor, warn=False, **kwargs)
    return errors_table(refit, outer, seed + 102), ""


@dataclass(frozen=True)
class DiscrepancyCalibration:
    """A fit with its discrepancy (field prior, updated by own folds where possible)."""

    fit: ScalingFit
    discrepancy: Discrepancy
    errors: pd.DataFrame | None

    @property
    def note(self) -> str:
        return self.discrepancy.note

    def predict(self, N: Any = None, D: Any = None, C: Any = None, **kwargs: Any  # noqa: N803
                ) -> pd.DataFrame:
        """:meth:`ScalingFit.predict` with this calibration's discrepancy."""
        return self.fit.predict(N=N, D=D, C=C, extrapolation=self.discrepancy, **kwargs)


def calibrate_discrepancy(fit: ScalingFit, *, prior: FieldPrior | None = None,
                          fraction: float = 0.65, num: int = 4000, seed: int | None = None,
                          **fit_kwargs: Any) -> DiscrepancyCalibration:
    """Update the field prior with the fit's own leave-future-out fold.

    Parameters
    ----------
    fit : ScalingFit
        Fit without groups.
    prior : FieldPrior, optional
        Default: the shipped field prior (:func:`load_field_prior`).
    fraction : float
        The fold refits on the lower ``fraction`` of the log range.
    num : int
        Draws of ``(mu, tau)`` kept.
    seed : int, optional
        Default: the fit's seed.
    **fit_kwargs
        NUTS settings of the fold refit (default 4 chains x 500 + 500).

    Returns
    -------
    DiscrepancyCalibration
        Never raises for a small sweep: the field prior alone is used, with
        ``.note`` set and a :class:`FieldPriorOnlyWarning`.
    """
    if fit.groups is not None:
        raise ValueError("calibrate_discrepancy supports fits without groups; fit each "
                         "group's runs separately")
    prior = load_field_prior() if prior is None else prior
    seed = fit.seed if seed is None else seed
    errors, reason = fold_errors(fit, fraction=fraction, seed=seed, **fit_kwargs)
    if errors is None:
        warnings.warn(reason, FieldPriorOnlyWarning, stacklevel=2)
        return DiscrepancyCalibration(fit, Discrepancy.from_field(prior, num, seed, reason), None)
    disc = update_with_errors(prior, errors, num=num, seed=seed)
    if disc.note:
        warnings.warn(disc.note, FieldPriorOnlyWarning, stacklevel=2)
    return DiscrepancyCalibration(fit, disc, errors)
