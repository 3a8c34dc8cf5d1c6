"""Extrapolation error learnt from the runs themselves (leave-future-out).

A posterior predictive band accounts for parameter uncertainty and run-to-run
noise, but not for the law being slightly wrong: real curves bend (data
repetition, schedule effects, the saturating regimes), and the error of a
fitted law grows with the distance of the prediction beyond the data. On the
digitised Chinchilla runs a fit up to 3e20 FLOPs covers only ~55-65% of the
larger runs with its nominal 90% predictive band (``benchmarks/REAL_DATA.md``).

This module estimates that missing error from the user's own table, without
looking at anything larger than the fitted runs:

1. *Leave-future-out folds.* Refit the law on the runs up to a smaller compute
   cut (``C_max / 10^0.5``, ``/ 10``, ``/ 10^1.5`` by default) and predict the
   fitted table's runs above the cut.
2. *A discrepancy that grows with distance.* Model the observed log-loss of a
   run ``d`` decades of compute beyond the fitted data as its posterior
   predictive plus ``delta ~ Normal(0, (tau d)^2)``; ``tau`` (log-loss per
   decade) is fitted by maximum likelihood to the folds' held-out errors
   (normal approximation of each run's predictive distribution: median and
   the 90% interval's width / 3.29).
3. *Predict with it.* :meth:`ExtrapolationCalibration.predict` adds the term
   to the full fit's predictive draws, so bands widen with the distance
   beyond the largest fitted run and are unchanged inside the data.

Caveats, stated rather than hidden: the folds' held-out runs are treated as
independent although runs of one fold share that fold's fitting error (the
estimate of ``tau`` is less certain than a likelihood count suggests), and a
change of behaviour that only appears beyond the fitted range cannot be learnt
from inside it. ``tau`` is a point estimate; its profile-likelihood interval is
reported.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .._lazy import lazy_import
from ..inference.progress import progress_bar, progress_enabled
from ..laws.inputs import law_inputs
from ..models.discrepancy import (
    _Z90_WIDTH,
    Discrepancy,
    FieldPriorOnlyWarning,
    log_predictive_draws,
)
from ..results.scaling_fit import fit as fit_law

optimize = lazy_import("scipy.optimize")
pd = lazy_import("pandas")
stats = lazy_import("scipy.stats")

if TYPE_CHECKING:
    from ..results.scaling_fit import ScalingFit

__all__ = ["ExtrapolationCalibration", "calibrate_extrapolation", "DEFAULT_FOLD_DECADES"]

#: Default fold cuts: decades of compute below the largest fitted run.
DEFAULT_FOLD_DECADES: tuple[float, ...] = (0.5, 1.0, 1.5)
# Width of a central 90% normal interval in SDs: turns predictive quantiles into an SD
# that is robust to the heavy tails of a Student-t predictive.


def _axis(fit: ScalingFit) -> str:
    """The size that measures distance: compute when the law's inputs give it."""
    inputs = fit.law.inputs
    return inputs[0] if len(inputs) == 1 else "C"


@dataclass(frozen=True)
class ExtrapolationCalibration:
    """A fit together with its leave-future-out extrapolation error.

    Attributes
    ----------
    fit : ScalingFit
        The fit to all runs.
    tau : float
        SD of the extra log-loss error per decade of ``axis`` beyond the
        largest fitted run (maximum likelihood over the folds).
    tau_interval : tuple of float
        95% profile-likelihood interval of ``tau``.
    axis : str
        ``"C"`` for joint laws, the law's single input otherwise.
    folds : pandas.DataFrame
        One row per fold: cut, runs in/out, coverage of the plain 90%
        predictive band on the fold's held-out runs and with the fitted term.
    errors : pandas.DataFrame
        Per held-out run of every fold: observed and predicted log-loss,
        predictive SD and distance ``d`` (decades) beyond the fold's data.
    """

    fit: ScalingFit
    tau: float
    tau_interval: tuple[float, float]
    axis: str
    folds: pd.DataFrame
    errors: pd.DataFrame
    #: Set when no fold was possible: the field prior's discrepancy used instead of ``tau``.
    discrepancy: Any = None
    note: str = ""

    def distance(self, sizes: Mapping[str, np.ndarray]) -> np.ndarray:
        """Decades of :attr:`axis` beyond the largest fitted run (0 inside the data)."""
        reach = float(np.max(self.fit.runs.column(self.axis)))
        return np.maximum(np.log10(np.asarray(sizes[self.axis], dtype=np.float64) / reach), 0.0)

    def predict(self, N: Any = None, D: Any = None, C: Any = None, *,  # noqa: N803
                U: Any = None, level: float | None = None,  # noqa: N803
                seed: int | None = None) -> pd.DataFrame:
        """:meth:`ScalingFit.predict` with the extrapolation term in the predictive band.

        Returns the fit's table with ``pred_lower``/``pred_upper`` widened by
        the discrepancy ``Normal(0, (tau d)^2)`` in log-loss, plus
        ``decades_beyond`` (``d``) and ``extrapolation_sd`` (``tau d``).
        """

        fit = self.fit
        level = fit.level if level is None else level
        seed = fit.seed + 3 if seed is None else seed
        extra = {} if U is None else {"U": U}
        if self.discrepancy is not None:  # field prior alone (no fold was possible)
            return fit.predict(N=N, D=D, C=C, level=level, seed=seed,
                               extrapolation=self.discrepancy, **extra)
        table = fit.predict(N=N, D=D, C=C, level=level, seed=seed, extrapolation="none",
                            **extra)
        sizes = law_inputs(fit.law, N, D, C, fit.runs.flops_factor, U)
        draws = log_predictive_draws(fit, sizes, seed)
        d = self.distance(sizes)
        rng = np.random.default_rng(seed)
        draws = draws + self.tau * d[None, :] * rng.standard_normal(draws.shape)
        table["band"] = "predictive + leave-future-out tau"
        tail = (1.0 - level) / 2.0
        table["pred_lower"], table["pred_upper"] = np.exp(np.quantile(draws, [tail, 1 - tail],
                                                                      axis=0))
        table["decades_beyond"] = d
        table["extrapolation_sd"] = self.tau * d
        return table


def _fold_errors(fit: ScalingFit, cut: float, axis: str, fold: int, seed: int,
                 fit_kwargs: Mapping[str, Any]) -> pd.DataFrame | None:

    frame = fit.runs.frame
    inner, outer = frame[frame[axis] <= cut], frame[frame[axis] > cut]
    min_inner = max(3 * (fit.law.num_params + 2), 20)
    if len(inner) < min_inner or len(outer) < 3:
        return None
    columns = [c for c in ("N", "D", "C", "U", "loss") if c in frame.columns]
    refit = fit_law(inner[columns], law=fit.law, likelihood=fit.likelihood, seed=seed + fold,
                    flops_factor=fit.runs.flops_factor, warn=False, **fit_kwargs)
    sizes = {k: outer[k].to_numpy() for k in ("N", "D", "C", "U") if k in outer.columns}
    draws = log_predictive_draws(refit, sizes, seed + 10 + fold)
    lower, median, upper = np.quantile(draws, [0.05, 0.5, 0.95], axis=0)
    return pd.DataFrame({
        "fold": fold, "cut": cut, "runs_in": len(inner), axis: sizes[axis],
        "log_loss": np.log(outer["loss"].to_numpy()), "predicted": median,
        "sd": (upper - lower) / _Z90_WIDTH,
        "d": np.log10(sizes[axis] / float(inner[axis].max())),
        "inside_90": (np.log(outer["loss"].to_numpy()) >= lower)
                     & (np.log(outer["loss"].to_numpy()) <= upper),
    })


def _negative_log_likelihood(tau: float, errors: pd.DataFrame) -> float:
    variance = errors["sd"].to_numpy() ** 2 + (tau * errors["d"].to_numpy()) ** 2
    resid = errors["log_loss"].to_numpy() - errors["predicted"].to_numpy()
    return float(0.5 * np.sum(np.log(variance) + resid ** 2 / variance))


def _fit_tau(errors: pd.DataFrame) -> tuple[float, tuple[float, float]]:
    """Maximum-likelihood ``tau`` and its 95% profile interval (chi-square, 1 dof)."""
    upper = 1.0  # a log-loss SD of 1 per decade is far beyond any usable law
    best = optimize.minimize_scalar(lambda t: _negative_log_likelihood(t, errors),
                                    bounds=(0.0, upper), method="bounded",
                                    options={"xatol": 1e-6})
    tau, floor = float(best.x), float(best.fun)
    threshold = floor + 0.5 * stats.chi2.ppf(0.95, 1)

    def excess(t: float) -> float:
        return _negative_log_likelihood(t, errors) - threshold

    lo = 0.0 if excess(0.0) <= 0 else optimize.brentq(excess, 0.0, tau) if tau > 0 else 0.0
    hi = optimize.brentq(excess, tau, upper) if excess(upper) > 0 else upper
    return tau, (float(lo), float(hi))


def calibrate_extrapolation(
    fit: ScalingFit,
    *,
    fold_decades: Sequence[float] = DEFAULT_FOLD_DECADES,
    chains: int = 2,
    draws: int = 500,
    warmup: int = 500,
    seed: int | None = None,
    fallback: bool = True,
    progress: bool | None = None,
    **fit_kwargs: Any,
) -> ExtrapolationCalibration:
    """Learn how fast the law's prediction error grows beyond the data (leave-future-out).

    Parameters
    ----------
    fit : ScalingFit
        A fit without groups; its law, likelihood and FLOPs factor are reused
        for the fold refits. Priors other than the defaults must be passed
        again in ``fit_kwargs`` (``priors=...``): the fit does not store them.
    fold_decades : sequence of float
        Fold cuts, in decades of compute (or of the law's single input) below
        the largest fitted run. Folds with too few runs on either side are
        skipped; at least one must remain.
    chains, draws, warmup : int
        NUTS settings of the fold refits (short runs: only predictive
        medians and 90% quantiles are needed).
    seed : int, optional
        Default: the fit's seed.
    fallback : bool, default True
        When no fold has enough runs, use the field prior's discrepancy
        (:mod:`bayes_scaling.extrapolation.discrepancy`) with a
        :class:`~bayes_scaling.extrapolation.discrepancy.FieldPriorOnlyWarning` and ``.note``;
        ``False`` raises ``ValueError`` instead (the behaviour before the field prior).
    progress : bool, optional
        Show a bar over the fold refits (default: in terminals and notebooks; see
        :mod:`bayes_scaling.inference.progress`).
    **fit_kwargs
        Passed on to :func:`bayes_scaling.fit` for the fold refits.

    Returns
    -------
    ExtrapolationCalibration
        ``tau`` and the per-fold table; its :meth:`~ExtrapolationCalibration.predict`
        gives predictive bands that include the extrapolation term.

    Examples
    --------
    >>> # Long run (a refit per fold); tests/test_extrapolation.py makes these calls.
    >>> calib = bs.calibrate_extrapolation(fit)            # doctest: +SKIP
    >>> calib.tau, calib.folds                              # doctest: +SKIP
    >>> calib.predict(N=7e10, D=1.4e12)                     # doctest: +SKIP
    """
    if fit.groups is not None:
        raise ValueError("calibrate_extrapolation supports fits without groups; fit each "
                         "group's runs separately")
    seed = fit.seed if seed is None else seed
    axis = _axis(fit)
    reach = float(np.max(fit.runs.column(axis)))
    if any(decades <= 0 for decades in fold_decades):
        raise ValueError(f"fold_decades must be positive, got {list(fold_decades)!r}")
    pieces = []
    bar = progress_bar(len(fold_decades), "calibrate_extrapolation: fold refits",
                       progress_enabled(progress), unit="fold")
    try:
        for fold, decades in enumerate(fold_decades):
            piece = _fold_errors(fit, reach / 10.0 ** decades, axis, fold, seed,
                                 {"chains": chains, "draws": draws, "warmup": warmup,
                                  **fit_kwargs})
            if piece is not None:
                pieces.append(piece)
            bar.update(1)
    finally:
        bar.close()
    if not pieces and fallback:
        note = (f"no leave-future-out fold has enough runs on both sides of the cuts "
                f"{[f'{reach / 10.0 ** d:.3g}' for d in fold_decades]} {axis}: the field "
                "prior's discrepancy is used alone")
        warnings.warn(note, FieldPriorOnlyWarning, stacklevel=2)
        return ExtrapolationCalibration(fit=fit, tau=float("nan"),
                                        tau_interval=(float("nan"), float("nan")), axis=axis,
                                        folds=pd.DataFrame(), errors=pd.DataFrame(),
                                        discrepancy=Discrepancy.from_field(seed=seed, note=note),
                                        note=note)
    if not pieces:
        raise ValueError(
            f"no leave-future-out fold has enough runs on both sides (cuts at "
            f"{[f'{reach / 10.0 ** d:.3g}' for d in fold_decades]} {axis}); the runs must "
            f"span more than {min(fold_decades)} decades of {axis}")
    errors = pd.concat(pieces, ignore_index=True)
    tau, interval = _fit_tau(errors)
    sd_total = np.sqrt(errors["sd"] ** 2 + (tau * errors["d"]) ** 2)
    z = stats.norm.ppf(0.95)
    inside_tau = np.abs(errors["log_loss"] - errors["predicted"]) <= z * sd_total
    folds = (errors.assign(inside_tau=inside_tau)
             .groupby("fold")
             .agg(cut=("cut", "first"), runs_in=("runs_in", "first"),
                  runs_out=("log_loss", "size"), max_decades=("d", "max"),
                  coverage_90=("inside_90", "mean"), coverage_90_with_tau=("inside_tau", "mean"))
             .reset_index())
    return ExtrapolationCalibration(fit=fit, tau=tau, tau_interval=interval, axis=axis,
                                    folds=folds, errors=errors)
