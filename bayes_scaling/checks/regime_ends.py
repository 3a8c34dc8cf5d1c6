"""Do the ends of the data bend away from the law? Residual end tests and a hold-out refit.

The ``method="ends"`` of the one regime detector,
:func:`bayes_scaling.power_law_regime` (:mod:`bayes_scaling.checks.regimes`), runs
``end_tests``. :func:`regime_check` is its old name (deprecated);
:func:`suggest_exclusions` gives the mask alone.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import numpyro.distributions as dist

from .._lazy import lazy_import
from ..inference.diagnostics import RegimeWarning
from ..results.scaling_fit import fit as fit_law
from .outliers import emit_warning, log_mean_at_runs

pd = lazy_import("pandas")

if TYPE_CHECKING:
    from ..results.scaling_fit import ScalingFit

__all__ = ["regime_check", "suggest_exclusions", "end_tests"]


#: |z| above which a regime test is flagged (about 5e-4 two-sided per test).
REGIME_THRESHOLD = 3.5


# ------------------------------------------------------------------- regimes
def _robust_scale(residuals: np.ndarray) -> float:
    centred = residuals - np.median(residuals)
    scale = 1.4826 * float(np.median(np.abs(centred)))
    if not scale > 0:
        scale = float(np.std(residuals))
    return max(scale, 1e-12)


def _regime_axes(fit: ScalingFit, log_mean_median: np.ndarray) -> dict[str, np.ndarray]:
    axes = {name: np.log(fit.runs.column(name)) for name in ("N", "D", "C")
            if name in fit.runs.frame.columns}
    axes["predicted loss"] = log_mean_median
    return axes


def _end_tests(residuals: np.ndarray, scale: float, axes: Mapping[str, np.ndarray]
               ) -> list[dict[str, Any]]:
    """Mean residual of each end and quadratic curvature along each axis."""
    n = len(residuals)
    k = max(3, int(np.ceil(0.1 * n)))
    rows = []
    for axis, x in axes.items():
        if len(np.unique(x)) < 4:
            continue
        order = np.argsort(x, kind="stable")
        if 2 * k <= n:
            for end, idx in (("low end", order[:k]), ("high end", order[-k:])):
                mean = float(np.mean(residuals[idx]))
                rows.append({"axis": axis, "test": end, "runs": k, "estimate": mean,
                             "z": mean / (scale / np.sqrt(k))})
        if n > 6:
            xs = (x - x.mean()) / x.std()
            design = np.column_stack([np.ones(n), xs, xs ** 2])
            coef, *_ = np.linalg.lstsq(design, residuals, rcond=None)
            rss = float(np.sum((residuals - design @ coef) ** 2))
            cov = rss / (n - 3) * np.linalg.pinv(design.T @ design)
            se = float(np.sqrt(max(cov[2, 2], 1e-300)))
            rows.append({"axis": axis, "test": "curvature", "runs": n,
                         "estimate": float(coef[2]), "z": float(coef[2]) / se})
    return rows


def _holdout_test(fit: ScalingFit, held_out: np.ndarray, priors: Any) -> dict[str, Any]:
    """Refit without ``held_out`` runs; test them against the refit's predictive distribution."""

    keep = np.ones(fit.runs.num_runs, dtype=bool)
    keep[held_out] = False
    config = fit.sampler
    groups = getattr(fit, "groups", None)
    options = {"groups": groups if groups is not None else False} \
        if "group" in fit.runs.frame.columns else {}
    refit = fit_law(fit.runs.frame[keep], fit.law, likelihood=fit.likelihood, priors=priors,
                    chains=config.chains, draws=config.draws, warmup=config.warmup,
                    dense_mass=config.dense_mass, target_accept=config.target_accept,
                    max_tree_depth=config.max_tree_depth, seed=fit.seed,
                    flops_factor=fit.runs.flops_factor, warn=False, **options)
    inputs = {k: fit.runs.column(k)[held_out] for k in fit.law.inputs}
    log_mean = np.log(refit.predict_draws(**inputs))
    rng = np.random.default_rng(fit.seed)
    sigma = refit.draws("sigma")[:, None]
    if fit.likelihood == "student_t":
        eps = rng.standard_t(refit.draws("nu")[:, None], size=log_mean.shape)
    else:
        eps = rng.standard_normal(log_mean.shape)
    replicated = log_mean + sigma * eps
    observed = np.log(fit.runs.loss[held_out])
    rep_mean = replicated.mean(axis=1)
    spread = max(float(rep_mean.std()), 1e-300)
    z_runs = (observed - replicated.mean(axis=0)) / np.maximum(replicated.std(axis=0), 1e-300)
    shifts = []
    for name in fit.law.param_names:
        full = fit.draws(name)
        if full.ndim == 1 and name not in fit.law.log_scale_params:
            shifts.append(abs(float(np.median(refit.draws(name)) - np.median(full)))
                          / max(float(np.std(full)), 1e-300))
    return {"estimate": float(observed.mean() - rep_mean.mean()),
            "z": float((observed.mean() - rep_mean.mean()) / spread),
            "exponent_shift": max(shifts) if shifts else float("nan"),
            "z_runs": z_runs}


def _regime_analysis(
    fit: ScalingFit, threshold: float, refit: bool, holdout: float,
    ends: Any, priors: Any,
) -> tuple[pd.DataFrame, np.ndarray, float, dict[str, np.ndarray], dict]:
    log_mean = np.median(log_mean_at_runs(fit), axis=0)
    residuals = np.log(fit.runs.loss) - log_mean
    scale = _robust_scale(residuals)
    axes = _regime_axes(fit, log_mean)
    rows = _end_tests(residuals, scale, axes)
    held: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
    if refit:
        n = len(residuals)
        k = max(2, int(np.ceil(holdout * n)))
        if ends is None:
            ends = [("predicted loss", "high")] + [(x, "low") for x in fit.law.inputs]
        for axis, end in ends:
            if axis not in axes or end not in ("low", "high"):
                raise ValueError(f"unknown end {(axis, end)!r}: axes are {list(axes)}, ends "
                                 "'low' or 'high'")
            order = np.argsort(axes[axis], kind="stable")
            idx = order[:k] if end == "low" else order[::-1][:k]
            result = _holdout_test(fit, idx, priors)
            held[(axis, f"{end} end")] = (idx, result.pop("z_runs"))
            rows.append({"axis": axis, "test": f"{end} end held out", "runs": k, **result})
    table = pd.DataFrame(rows, columns=["axis", "test", "runs", "estimate", "z",
                                        "exponent_shift"])
    table["flagged"] = table["z"].abs() > threshold
    table.attrs.update({"threshold": threshold, "residual_scale": scale})
    return table, residuals, scale, axes, held


def end_tests(
    fit: ScalingFit,
    *,
    threshold: float = REGIME_THRESHOLD,
    refit: bool = False,
    holdout: float = 0.15,
    ends: Any = None,
    priors: Mapping[str, dist.Distribution] | None = None,
    max_share: float = 0.3,
    warn: bool = True,
) -> tuple[pd.DataFrame, pd.Series]:
    """Test whether the runs at the ends of the data follow the fitted law; warn if not.

    Residuals are ``log loss - median log L`` per run. Along each available
    axis (``log N``, ``log D``, ``log C`` and the predicted loss) three cheap
    tests on the fit itself:

    * ``low end`` / ``high end``: mean residual of the 10% of runs (at least 3)
      at that end, in units of its standard error (robust residual scale
      ``1.4826 MAD / sqrt(k)``). Runs near the random-init start or in
      saturation sit systematically above or below the power law there.
    * ``curvature``: t statistic of the quadratic term of an OLS fit of
      residual against the standardised axis.

    These miss bends the law can absorb: a few bent runs at the smallest
    models are fitted by a steeper exponent and a higher ``E``, leaving no
    visible residual pattern but biased parameters. ``refit=True`` adds the
    decisive test: for each end in ``ends`` the ``holdout`` share of runs at
    that end is left out, the law refitted (same sampler settings) and the
    held-out runs compared with the refit's posterior predictive distribution
    of their mean log loss (``held out`` rows; ``exponent_shift``: the largest
    move of an exponent's median in units of the full fit's posterior SD).
    One refit per end.

    A test is flagged when ``|z| > threshold`` (3.5: about 5e-4 two-sided
    each, so clean data with a dozen tests stays quiet).

    Parameters
    ----------
    fit : ScalingFit
    threshold : float
    refit : bool
        Run the held-out refits (slower: one NUTS fit per end).
    holdout : float
        Share of runs held out at each end (at least 2 runs).
    ends : sequence of (axis, "low" | "high"), optional
        Ends to hold out; default the highest predicted losses and the low end
        of each input of the law (smallest models, fewest tokens).
    priors : mapping, optional
        The ``priors=`` of the original fit, for the refits.
    warn : bool

    max_share : float
        Largest share of runs the exclusion mask may cut (see :func:`suggest_exclusions`).

    Returns
    -------
    tests : DataFrame
        One row per test: ``axis``, ``test``, ``runs``, ``estimate`` (mean
        residual, quadratic coefficient or held-out mean residual), ``z``,
        ``exponent_shift`` (held-out tests only), ``flagged``.
    exclude : Series
        The mask of :func:`suggest_exclusions` (from the same analysis: no second refit).

    Warns
    -----
    RegimeWarning
        When any test is flagged, naming them, with advice: drop the runs
        :func:`suggest_exclusions` marks and refit, or use the Student-t
        likelihood to down-weight them.
    """
    analysis = _regime_analysis(fit, threshold, refit, holdout, ends, priors)
    table = analysis[0]
    if warn:
        _warn_flagged(table)
    return table, _exclusion_mask(fit, *analysis, threshold=threshold, max_share=max_share)


def _warn_flagged(table: pd.DataFrame) -> None:
    flagged = table[table["flagged"]]
    if not len(flagged):
        return
    details = "; ".join(
        f"{row.test} of {row.axis}: {'coef' if row.test == 'curvature' else 'mean residual'}"
        f" {row.estimate:+.3g} (z = {row.z:+.1f})" for row in flagged.itertuples())
    emit_warning(
        f"runs at the ends of the data do not follow the fitted law ({details}): some may "
        "lie outside the power-law regime (near-random start, saturation, repeated data), "
        "which biases the exponents. Refit without them, e.g. keep = "
        "~bayes_scaling.power_law_regime(fit, method='ends').exclude (or "
        "~bayes_scaling.checks.suggest_exclusions(fit)); bs.fit(fit.runs.frame[keep], ...), "
        "or down-weight them with likelihood='student_t'.",
        RegimeWarning,
    )


def regime_check(
    fit: ScalingFit,
    *,
    threshold: float = REGIME_THRESHOLD,
    refit: bool = False,
    holdout: float = 0.15,
    ends: Any = None,
    priors: Mapping[str, dist.Distribution] | None = None,
    warn: bool = True,
) -> pd.DataFrame:
    """Deprecated: ``bayes_scaling.power_law_regime(fit, method="ends").tests``.

    The same end tests (``end_tests``) and the same table; warns
    :class:`DeprecationWarning` naming the one regime detector.
    """
    warnings.warn("bayes_scaling.checks.regime_check is deprecated: use "
                  "bayes_scaling.power_law_regime(fit, method='ends') (the one regime "
                  "detector; its .tests is this table, its .exclude the runs to drop)",
                  DeprecationWarning, stacklevel=2)
    return end_tests(fit, threshold=threshold, refit=refit, holdout=holdout, ends=ends,
                     priors=priors, warn=warn)[0]


def _scan(values: np.ndarray, kmax: int) -> tuple[int, float]:
    """Cut ``k`` (1-based) maximising ``|sum(values[:k])| / sqrt(k)``."""
    k = np.arange(1, min(kmax, len(values)) + 1)
    z = np.cumsum(values[: len(k)]) / np.sqrt(k)
    i = int(np.argmax(np.abs(z)))
    return i + 1, float(z[i])


def suggest_exclusions(
    fit: ScalingFit,
    *,
    threshold: float = REGIME_THRESHOLD,
    max_share: float = 0.3,
    refit: bool = False,
    holdout: float = 0.15,
    ends: Any = None,
    priors: Mapping[str, dist.Distribution] | None = None,
) -> pd.Series:
    """Boolean mask of runs outside the power-law regime (``True``: exclude).

    Only ends that ``end_tests`` flags (with the same options) are cut.
    For an end flagged by the residual tests (or both ends of an axis with
    flagged curvature) runs are sorted from the extreme inwards and the cut
    ``k`` maximises the standardised mean residual of the ``k`` most extreme
    runs (at most ``max_share`` of the runs). For an end flagged by a
    held-out refit the same scan runs over the held-out runs' standardised
    predictive residuals under the refit. The single strongest cut is
    returned: refit without those runs and check again.

    Returns
    -------
    pandas.Series
        Boolean, indexed like ``fit.runs.frame`` (so ``table[~mask]`` works on
        the table the fit was given); all ``False`` when nothing is flagged.
        ``attrs`` record the ``axis``, ``end`` and ``z`` of the cut.
    """
    analysis = _regime_analysis(fit, threshold, refit, holdout, ends, priors)
    return _exclusion_mask(fit, *analysis, threshold=threshold, max_share=max_share)


def _exclusion_mask(fit: ScalingFit, table: pd.DataFrame, residuals: np.ndarray, scale: float,
                    axes: dict[str, np.ndarray], held: dict, *, threshold: float,
                    max_share: float) -> pd.Series:
    """The strongest cut of a flagged end (see :func:`suggest_exclusions`)."""
    n = len(residuals)
    kmax = max(1, int(np.floor(max_share * n)))
    best: tuple[float, str, str, np.ndarray] | None = None
    for row in table[table["flagged"]].itertuples():
        if row.test.endswith("held out"):
            end = row.test.removesuffix(" held out")
            idx, z_runs = held[(row.axis, end)]
            candidates = [(end, idx, z_runs)]
        else:
            ends_ = ("low end", "high end") if row.test == "curvature" else (row.test,)
            order = np.argsort(axes[row.axis], kind="stable")
            candidates = [(e, order if e == "low end" else order[::-1], None) for e in ends_]
        for end, from_extreme, z_runs in candidates:
            values = residuals[from_extreme] / scale if z_runs is None else z_runs
            k, z = _scan(values, kmax)
            if abs(z) > threshold and (best is None or abs(z) > best[0]):
                best = (abs(z), row.axis, end, from_extreme[:k])
    exclude = np.zeros(n, dtype=bool)
    attrs: dict[str, Any] = {"axis": None, "end": None, "z": None}
    if best is not None:
        exclude[best[3]] = True
        attrs = {"axis": best[1], "end": best[2], "z": best[0]}
    mask = pd.Series(exclude, index=fit.runs.frame.index, name="exclude")
    mask.attrs.update(attrs)
    return mask
