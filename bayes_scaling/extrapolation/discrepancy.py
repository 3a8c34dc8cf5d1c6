"""Leave-future-out update of the field discrepancy prior with a sweep's own runs.

The discrepancy model and the field prior are described in
:mod:`bayes_scaling.models.discrepancy`; this module refits a sweep on the lower part of
its range, measures the errors on its larger runs and updates the field prior with them.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._lazy import lazy_import
from ..inference.buckets import bucket_size
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
    with_discrepancy,
)
from ..models.discrepancy_update import correlation_factor, update_with_errors
from ..results.extensions import register
from ..results.scaling_fit import ScalingFit
from ..results.scaling_fit import fit as fit_law

pd = lazy_import("pandas")

__all__ = ["FOLD_FRACTIONS", "OWN_FOLDS_MAX_RUNS", "default_discrepancy", "DiscrepancyCalibration",
           "calibrate_discrepancy", "errors_table", "fold_errors", "Discrepancy", "FieldPrior",
           "FieldPriorOnlyWarning", "FIELD_PRIOR_FILE", "SD_REF", "axis_of", "correlation_factor",
           "distance", "load_field_prior", "log_predictive_draws", "update_with_errors",
           "with_discrepancy"]


def errors_table(fit: ScalingFit, runs: pd.DataFrame, seed: int,
                 correlation: bool = False) -> pd.DataFrame:
    """Held-out errors of ``fit`` on ``runs``: log residual, predictive SD, distance.

    ``correlation=True`` also stores the correlation of the plain predictive draws
    across the runs in ``.attrs["corr"]``, as the pair ``(W, g)`` of
    :func:`correlation_factor`: one fit's parameter error shifts all its
    predictions together, so its errors are not independent.
    """
    sizes = {k: runs[k].to_numpy(np.float64) for k in ("N", "D", "C") if k in runs.columns}
    curve, noise = log_predictive_draws(fit, sizes, seed, parts=True)
    draws = curve + noise
    lower, median, upper = np.quantile(draws, [0.05, 0.5, 0.95], axis=0)
    log_loss = np.log(runs["loss"].to_numpy(np.float64))
    table = pd.DataFrame({"e": log_loss - median, "sd": (upper - lower) / _Z90_WIDTH,
                          "d": distance(fit, sizes)})
    if correlation:
        table.attrs["corr"] = correlation_factor(curve, noise)
    return table


#: Default fold cuts of ``fold_errors`` (fractions of the fitted log range).
FOLD_FRACTIONS = (0.5, 0.65, 0.8)


def _refit_settings(fit: ScalingFit, fit_kwargs: dict[str, Any]) -> dict[str, Any]:
    """Settings of the fold refits: by default the fit's own sampler, priors and padded
    size, so every refit reuses the fit's compiled sampler (no compilation)."""
    if any(k in fit_kwargs for k in ("sampler", "chains", "draws", "warmup")):
        return dict(fit_kwargs)
    return {"sampler": fit.sampler, "priors": dict(fit.priors) or None,
            "bucket": bucket_size(fit.runs.num_runs), **fit_kwargs}


def _as_fractions(fraction: float | Sequence[float]) -> tuple[float, ...]:
    out = (float(fraction),) if np.ndim(fraction) == 0 else tuple(map(float, fraction))
    if not out or any(not 0.0 < f < 1.0 for f in out):
        raise ValueError(f"fold fractions must lie strictly between 0 and 1, got {fraction!r}")
    return tuple(sorted(set(out)))


def fold_errors(fit: ScalingFit, *, fraction: float | Sequence[float] = FOLD_FRACTIONS,
                min_inner: int = 15, min_outer: int = 3, seed: int | None = None,
                **fit_kwargs: Any) -> tuple[pd.DataFrame | None, str]:
    """Leave-future-out errors inside the fitted runs, or ``None`` and the reason.

    For each cut (``fraction`` of the log range of the distance axis) the fit
    is refitted on the runs below it and the fitted runs above are predicted.
    A cut with fewer than ``max(min_inner, 2 (parameters + 2))`` runs below or
    ``min_outer`` above is skipped. The folds are nested, so a run above
    several cuts is predicted several times: column ``w = 1 / k`` (``k`` the
    number of usable folds that hold the run out) makes each run count once
    in :func:`update_with_errors` (an approximate, composite likelihood: the
    folds' errors are correlated through their shared runs).

    Returns
    -------
    errors, reason
        Columns ``e``, ``sd``, ``d``, ``w``, ``fold`` (the cut's fraction) and
        ``.attrs["corr"]``, a mapping fold -> correlation ``(W, g)`` of its plain
        predictive draws (:func:`errors_table`); ``None`` and the reason when no cut is usable.
    """
    fractions = _as_fractions(fraction)
    axis = axis_of(fit.law)
    frame = fit.runs.frame
    x = np.log10(frame[axis].to_numpy(np.float64))
    need = max(min_inner, 2 * (fit.law.num_params + 2))
    usable, counts = [], []
    for f in fractions:
        cut = x.min() + f * (x.max() - x.min())
        counts.append(f"{f:.2f}: {int(np.sum(x <= cut))} below, {int(np.sum(x > cut))} above")
        if (x.max() - x.min() > 0 and np.sum(x <= cut) >= need
                and np.sum(x > cut) >= min_outer):
            usable.append((f, cut))
    if not usable:
        return None, (f"no leave-future-out cut has {need} runs below and {min_outer} above "
                      f"({'; '.join(counts)}): field prior alone")
    columns = [c for c in ("N", "D", "C", "U", "loss") if c in frame.columns]
    seed = fit.seed if seed is None else seed
    kwargs = _refit_settings(fit, fit_kwargs)
    held = np.zeros(len(frame))
    pieces, corr = [], {}
    for j, (f, cut) in enumerate(usable):
        inner, outer = frame[x <= cut], frame[x > cut]
        held += x > cut
        # The first cut keeps the single-fold seeds, so one cut reproduces the old fold.
        refit = fit_law(inner[columns], law=fit.law, likelihood=fit.likelihood,
                        seed=seed + 101 + 1000 * j, flops_factor=fit.runs.flops_factor,
                        warn=False, **kwargs)
        table = errors_table(refit, outer, seed + 102 + 1000 * j, correlation=True)
        corr[f] = table.attrs.pop("corr")
        pieces.append(table.assign(fold=f, row=np.flatnonzero(x > cut)))
    errors = pd.concat(pieces, ignore_index=True)
    errors["w"] = 1.0 / held[errors["row"].to_numpy()]
    errors = errors.drop(columns="row")
    errors.attrs["corr"] = corr
    return errors, ""


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
                          fraction: float | Sequence[float] = FOLD_FRACTIONS, num: int = 4000, seed: int | None = None,
                          **fit_kwargs: Any) -> DiscrepancyCalibration:
    """Update the field prior with the fit's own leave-future-out folds.

    Parameters
    ----------
    fit : ScalingFit
        Fit without groups.
    prior : FieldPrior, optional
        Default: the shipped field prior (:func:`load_field_prior`).
    fraction : float or sequence of float
        Each fold refits on the lower ``fraction`` of the log range (default
        :data:`FOLD_FRACTIONS`; the errors of nested folds are weighted so that each
        run counts once, see ``fold_errors``).
    num : int
        Draws of ``(mu, tau)`` kept.
    seed : int, optional
        Default: the fit's seed.
    **fit_kwargs
        Settings of the fold refits (:func:`bayes_scaling.fit`). Default: the fit's
        own sampler settings and priors, padded to its table size, so the refits
        reuse its compiled sampler and compile nothing.

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


#: Above this many runs :func:`default_discrepancy` skips the own folds (three refits of a
#: big table and the eigen-decomposition of each fold's predictive covariance grow to
#: minutes): the field prior alone, with a note; ``calibrate_discrepancy(fit)`` still runs them.
OWN_FOLDS_MAX_RUNS = 4096


def default_discrepancy(fit: ScalingFit) -> Discrepancy:
    """The discrepancy :meth:`ScalingFit.predict` adds by default (``extrapolation="auto"``).

    The field prior updated by the sweep's own leave-future-out folds
    (:func:`calibrate_discrepancy` with its defaults: three refits that reuse the
    fit's compiled sampler), or the field prior alone, with
    :attr:`Discrepancy.note` saying why, for a fit with groups, learning curves,
    a table without a usable fold or one above :data:`OWN_FOLDS_MAX_RUNS` runs.
    Computed on the first call and kept on the fit.
    """
    cached = fit.__dict__.get("_default_discrepancy")
    if cached is not None:
        return cached
    reason = ""
    if type(fit) is not ScalingFit:
        reason = f"a {type(fit).__name__} is not refitted by folds: field prior alone"
    elif fit.groups is not None:
        reason = "a fit with groups is not refitted by folds: field prior alone"
    elif fit.runs.num_runs > OWN_FOLDS_MAX_RUNS:
        reason = (f"{fit.runs.num_runs} runs: above {OWN_FOLDS_MAX_RUNS} the own folds are "
                  "left to calibrate_discrepancy(fit): field prior alone")
    if reason:
        disc = Discrepancy.from_field(seed=fit.seed, note=reason)
    else:
        with warnings.catch_warnings():  # the note says it; predict() stays quiet
            warnings.simplefilter("ignore", FieldPriorOnlyWarning)
            disc = calibrate_discrepancy(fit).discrepancy
    object.__setattr__(fit, "_default_discrepancy", disc)  # frozen dataclass: a cache
    return disc


register("default_discrepancy", default_discrepancy)
