"""Reliability checks of a fitted scaling law: outliers, regimes, prior sensitivity.

Each check reads a :class:`~bayes_scaling.fit.ScalingFit` and returns a table;
the ones that find a problem the user must act on also warn:

* :func:`outlier_report`: per run, a two-sided posterior predictive p-value,
  its leave-one-out version and the PSIS-LOO Pareto ``k``; flags runs the
  model cannot explain (``p < 0.01``) or that dominate the fit (``k > 0.7``).
* :func:`power_law_regime` with ``method="ends"`` (the one regime detector; the
  old :func:`regime_check` is deprecated): runs at the ends of the data (smallest models,
  largest losses, ...) that do not follow the law lie outside the power-law
  regime (near-random start, saturation, data repetition). Cheap residual tests
  on the fit, plus held-out refits (``refit=True``) that catch the bends the
  law absorbs by shifting its exponents. Warns
  :class:`~bayes_scaling.diagnostics.RegimeWarning`;
  ``report.exclude`` (or :func:`suggest_exclusions`) is the mask of the runs to
  drop. Its default ``method="broken"`` gives a per-run posterior probability
  of lying outside the power-law regime, with break locations (a broken power
  law fit).
* :func:`prior_sensitivity`: how much each parameter's posterior contracted
  from its prior (``1 - (w_post / w_prior)^2`` with ``w`` the width of the
  central 90% interval: ``1 - var_post / var_prior`` for normal shapes).
* :func:`prediction_contraction` / :func:`check_prior_dominated`: the same for
  a prediction, e.g. the loss at 1e25 FLOPs; warns
  :class:`~bayes_scaling.diagnostics.PriorDominatedWarning` when the prior, not
  the runs, sets the answer.

Examples
--------
>>> from bayes_scaling import checks
>>> report = checks.outlier_report(fit)          # one row per run
>>> len(report) == len(fit.runs.frame), "flagged" in report
(True, True)
>>> ends = checks.power_law_regime(fit, method="ends", refit=True).tests
>>> keep = ~checks.suggest_exclusions(fit, refit=True)
>>> refit = bs.fit(fit.runs.frame[keep], law=fit.law)
>>> table = checks.prediction_contraction(fit, N=1e12, D=2e13)
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np

from .._lazy import lazy_import
from ..compare.loo import with_log_likelihood
from ..inference.diagnostics import PriorDominatedWarning, RegimeWarning
from ..results.learning_curves import LearningCurveFit

azs = lazy_import("arviz_stats")
pd = lazy_import("pandas")
special = lazy_import("scipy.special")
stats = lazy_import("scipy.stats")

if TYPE_CHECKING:
    from ..results.scaling_fit import ScalingFit

__all__ = ["outlier_report", "RegimeWarning", "PriorDominatedWarning"]

#: Pareto k above which PSIS-LOO (and the fit's dependence on that run) is unreliable.
PARETO_K_THRESHOLD = 0.7
#: Two-sided predictive p-value below which a run is flagged.
P_THRESHOLD = 0.01


def emit_warning(message: str, category: type[Warning]) -> None:
    warnings.warn(message, category, stacklevel=3)


# ------------------------------------------------------------------- helpers
def log_mean_at_runs(fit: ScalingFit) -> np.ndarray:
    """Draws of the log loss curve at every fitted run: shape ``(num_draws, num_runs)``."""
    runs = fit.runs
    inputs = {k: runs.column(k) for k in fit.law.inputs}
    if getattr(fit, "groups", None) is None:
        return np.log(fit.predict_draws(**inputs))
    out = np.empty((fit.num_draws, runs.num_runs))
    labels = runs.frame["group"].astype(str).to_numpy()
    for label in fit.group_labels:
        sel = labels == label
        out[:, sel] = np.log(fit.predict_draws(**{k: v[sel] for k, v in inputs.items()},
                                               group=label))
    return out


def _noise_at_runs(fit: ScalingFit, name: str) -> np.ndarray:
    """Draws of a noise parameter broadcastable against ``(num_draws, num_runs)``."""
    values = fit.draws(name)
    if values.ndim == 2:  # one per group
        return values[:, fit.runs.group_index]
    return values[:, None]


def _centre_and_scale(fit: ScalingFit) -> tuple[np.ndarray, np.ndarray]:
    """Draws of each run's log-loss centre and noise scale under the fit's own model.

    Checkpoints of a learning-curve fit are centred on the law plus their run's
    effect (and the AR(1) prediction from the previous checkpoint): the law alone
    would flag every checkpoint of a run that sits above the law.
    """
    if isinstance(fit, LearningCurveFit):
        return fit.checkpoint_moments()
    return log_mean_at_runs(fit), _noise_at_runs(fit, "sigma")


def _conditional_cdf(fit: ScalingFit, centre: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """``P(log loss_rep <= log loss_obs | draw)`` per draw and run (exact, no noise sampling)."""
    z = (np.log(fit.runs.loss)[None, :] - centre) / scale
    if fit.likelihood == "student_t":
        return stats.t.cdf(z, _noise_at_runs(fit, "nu"))
    return stats.norm.cdf(z)


def _two_sided(cdf: np.ndarray) -> np.ndarray:
    return np.clip(2.0 * np.minimum(cdf, 1.0 - cdf), 0.0, 1.0)


def _sizes_frame(fit: ScalingFit) -> pd.DataFrame:
    cols = [c for c in ("N", "D", "C", "loss", "group") if c in fit.runs.frame.columns]
    return fit.runs.frame[cols].copy()


# ------------------------------------------------------------------ outliers
def outlier_report(
    fit: ScalingFit,
    *,
    p_threshold: float = P_THRESHOLD,
    k_threshold: float = PARETO_K_THRESHOLD,
) -> pd.DataFrame:
    """Per-run outlier diagnostics: predictive p-values and PSIS-LOO Pareto k.

    For run ``i`` with observed log loss ``y_i``:

    * ``p_value``: two-sided posterior predictive p-value
      ``2 min(F_i, 1 - F_i)`` with ``F_i = P(y_rep,i <= y_i | runs)``, averaged
      exactly over draws (the noise CDF, normal or Student-t, per draw). Uses
      run ``i`` twice (in the fit and in the check), so it is conservative.
    * ``p_loo``: the same with ``F_i`` taken under the leave-one-out posterior
      (PSIS weights; the LOO-PIT of Vehtari et al.), which is not pulled
      toward the run it checks.
    * ``pareto_k``: shape of the PSIS importance ratios for leaving run ``i``
      out (``arviz_stats.loo``). ``k > 0.7``: the run is so influential that
      removing it changes the posterior more than importance sampling can
      follow — typically an outlier under a normal likelihood.

    A run is ``flagged`` when ``pareto_k > k_threshold`` or either p-value is
    below ``p_threshold``. With ``n`` clean runs about ``n * p_threshold``
    are flagged by chance. Refit with ``likelihood="student_t"`` to make the
    fit robust to flagged runs, or drop them if they are known failures.

    Returns
    -------
    DataFrame
        Indexed like ``fit.runs.frame``: ``N``, ``D``, ``C``, ``loss`` (as
        present), ``predicted`` (posterior median of the loss curve; of a learning-curve
        fit: of the checkpoint's run, with its run effect and AR(1) term),
        ``log_residual``, ``p_value``, ``p_loo``, ``pareto_k``, ``flagged``,
        ``reason``.
    """
    log_mean, scale = _centre_and_scale(fit)
    cdf = _conditional_cdf(fit, log_mean, scale)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # arviz warns on high k; we report k per run
        loo = azs.loo(with_log_likelihood(fit), pointwise=True, var_name="log_loss")
    pareto_k = np.asarray(loo.pareto_k.transpose("run").values, dtype=np.float64)
    log_w = np.asarray(loo.log_weights.transpose("chain", "draw", "run").values,
                       dtype=np.float64).reshape(-1, fit.runs.num_runs)
    weights = np.exp(log_w - special.logsumexp(log_w, axis=0, keepdims=True))
    p_value = _two_sided(cdf.mean(axis=0))
    p_loo = _two_sided(np.sum(weights * cdf, axis=0))
    out = _sizes_frame(fit)
    out["predicted"] = np.exp(np.median(log_mean, axis=0))
    out["log_residual"] = np.log(fit.runs.loss) - np.median(log_mean, axis=0)
    out["p_value"] = p_value
    out["p_loo"] = p_loo
    out["pareto_k"] = pareto_k
    high_k = pareto_k > k_threshold
    low_p = (p_value < p_threshold) | (p_loo < p_threshold)
    out["flagged"] = high_k | low_p
    out["reason"] = [
        ", ".join(r for r, on in ((f"pareto_k > {k_threshold:g}", k),
                                  (f"p < {p_threshold:g}", p)) if on)
        for k, p in zip(high_k, low_p, strict=True)
    ]
    out.attrs.update({"p_threshold": p_threshold, "k_threshold": k_threshold,
                      "good_k": float(loo.good_k)})
    return out


