"""Reliability checks of a fitted scaling law: outliers, regimes, prior sensitivity.

Each check reads a :class:`~bayes_scaling.fit.ScalingFit` and returns a table;
the ones that find a problem the user must act on also warn:

* :func:`outlier_report`: per run, a two-sided posterior predictive p-value,
  its leave-one-out version and the PSIS-LOO Pareto ``k``; flags runs the
  model cannot explain (``p < 0.01``) or that dominate the fit (``k > 0.7``).
* :func:`regime_check`: runs at the ends of the data (smallest models,
  largest losses, ...) that do not follow the law lie outside the power-law
  regime (near-random start, saturation, data repetition). Cheap residual tests
  on the fit, plus held-out refits (``refit=True``) that catch the bends the
  law absorbs by shifting its exponents. Warns
  :class:`~bayes_scaling.diagnostics.RegimeWarning`;
  :func:`suggest_exclusions` gives a mask of the runs to drop. For a per-run
  posterior probability of lying outside the power-law regime, with break
  locations, see :func:`bayes_scaling.regimes.power_law_regime` (a broken
  power law fit).
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
>>> checks.outlier_report(fit).query("flagged")                   # doctest: +SKIP
>>> checks.regime_check(fit, refit=True)                          # doctest: +SKIP
>>> keep = ~checks.suggest_exclusions(fit, refit=True)            # doctest: +SKIP
>>> refit = bs.fit(fit.runs.frame[keep], law=fit.law)             # doctest: +SKIP
>>> checks.prediction_contraction(fit, N=1e12, D=2e13)            # doctest: +SKIP
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import jax
import numpy as np
import numpyro.distributions as dist
from numpyro.infer import Predictive

from ._lazy import lazy_import
from .diagnostics import PriorDominatedWarning, RegimeWarning

azs = lazy_import("arviz_stats")
pd = lazy_import("pandas")
special = lazy_import("scipy.special")
stats = lazy_import("scipy.stats")

if TYPE_CHECKING:
    from .fit import ScalingFit

__all__ = [
    "outlier_report", "regime_check", "suggest_exclusions", "prior_sensitivity",
    "prediction_contraction", "check_prior_dominated", "RegimeWarning",
    "PriorDominatedWarning",
]

#: Pareto k above which PSIS-LOO (and the fit's dependence on that run) is unreliable.
PARETO_K_THRESHOLD = 0.7
#: Two-sided predictive p-value below which a run is flagged.
P_THRESHOLD = 0.01
#: |z| above which a regime test is flagged (about 5e-4 two-sided per test).
REGIME_THRESHOLD = 3.5
#: Contraction below which a quantity counts as prior-dominated: the posterior's
#: 90% interval is more than half as wide as the prior's.
CONTRACTION_THRESHOLD = 0.75


def _warn(message: str, category: type[Warning]) -> None:
    warnings.warn(message, category, stacklevel=3)


# ------------------------------------------------------------------- helpers
def _log_mean_at_runs(fit: ScalingFit) -> np.ndarray:
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


def _conditional_cdf(fit: ScalingFit, log_mean: np.ndarray) -> np.ndarray:
    """``P(log loss_rep <= log loss_obs | draw)`` per draw and run (exact, no noise sampling)."""
    z = (np.log(fit.runs.loss)[None, :] - log_mean) / _noise_at_runs(fit, "sigma")
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
        present), ``predicted`` (posterior median of the loss curve),
        ``log_residual``, ``p_value``, ``p_loo``, ``pareto_k``, ``flagged``,
        ``reason``.
    """
    log_mean = _log_mean_at_runs(fit)
    cdf = _conditional_cdf(fit, log_mean)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # arviz warns on high k; we report k per run
        loo = azs.loo(fit.log_likelihood_tree() if hasattr(fit, "log_likelihood_tree")
                      else fit.posterior, pointwise=True, var_name="log_loss")
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
    from .fit import fit as fit_law

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
    log_mean = np.median(_log_mean_at_runs(fit), axis=0)
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

    Returns
    -------
    DataFrame
        One row per test: ``axis``, ``test``, ``runs``, ``estimate`` (mean
        residual, quadratic coefficient or held-out mean residual), ``z``,
        ``exponent_shift`` (held-out tests only), ``flagged``.

    Warns
    -----
    RegimeWarning
        When any test is flagged, naming them, with advice: drop the runs
        :func:`suggest_exclusions` marks and refit, or use the Student-t
        likelihood to down-weight them.
    """
    table, _, _, _, _ = _regime_analysis(fit, threshold, refit, holdout, ends, priors)
    flagged = table[table["flagged"]]
    if warn and len(flagged):
        details = "; ".join(
            f"{row.test} of {row.axis}: {'coef' if row.test == 'curvature' else 'mean residual'}"
            f" {row.estimate:+.3g} (z = {row.z:+.1f})" for row in flagged.itertuples())
        _warn(
            f"runs at the ends of the data do not follow the fitted law ({details}): some may "
            "lie outside the power-law regime (near-random start, saturation, repeated data), "
            "which biases the exponents. Refit without them, e.g. keep = "
            "~bayes_scaling.checks.suggest_exclusions(fit); bs.fit(fit.runs.frame[keep], ...), "
            "or down-weight them with likelihood='student_t'.",
            RegimeWarning,
        )
    return table


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

    Only ends that :func:`regime_check` flags (with the same options) are cut.
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
    table, residuals, scale, axes, held = _regime_analysis(
        fit, threshold, refit, holdout, ends, priors)
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


# --------------------------------------------------------- prior sensitivity
def _prior_draws(fit: ScalingFit, priors: Mapping[str, dist.Distribution] | None,
                 num_draws: int, seed: int) -> dict[str, np.ndarray]:
    """Draws of every site of the fit's model under its prior (same data design)."""
    from .fit import _check_priors, _prepare
    from .model import build_model

    groups = getattr(fit, "groups", None)
    checked = _check_priors(fit.law, fit.likelihood, priors, groups) if groups is not None \
        else _check_priors(fit.law, fit.likelihood, priors)
    extra = {"groups": groups} if groups is not None else {}
    _, _, kwargs = _prepare(fit.runs, fit.law, fit.likelihood, checked,
                            fit.runs.flops_factor, None, **extra)
    model = build_model(fit.law, fit.likelihood, groups) if groups is not None \
        else build_model(fit.law, fit.likelihood)
    kwargs = {**kwargs, "log_loss": None}
    with jax.enable_x64(True):
        draws = Predictive(model, num_samples=num_draws)(jax.random.PRNGKey(seed), **kwargs)
    return {k: np.asarray(v, dtype=np.float64) for k, v in draws.items()}


def _width(draws: np.ndarray) -> float:
    lower, upper = np.quantile(draws, [0.05, 0.95])
    return float(upper - lower)


def _contraction(post: np.ndarray, prior: np.ndarray) -> float:
    """``1 - (w_post / w_prior)^2`` with ``w`` the width of the central 90% interval.

    Equals ``1 - var_post / var_prior`` for normal distributions; unlike the
    variance ratio it is not dominated by the heavy tails that prior
    predictive distributions have far from the data.
    """
    prior_width = _width(prior)
    if not np.isfinite(prior_width) or prior_width <= 0:
        return float("nan")
    return 1.0 - (_width(post) / prior_width) ** 2


def prior_sensitivity(
    fit: ScalingFit,
    *,
    priors: Mapping[str, dist.Distribution] | None = None,
    num_prior_draws: int = 4000,
    seed: int = 0,
) -> pd.DataFrame:
    """Posterior contraction of each parameter relative to its prior.

    ``contraction = 1 - (w_post / w_prior)^2`` with ``w`` the width of the
    central 90% interval — the robust form of Betancourt's (2018)
    ``1 - var_post / var_prior``, equal to it for normal shapes. Near 1 the
    runs determine the parameter; near 0 the prior does (and the posterior
    will move with it); negative values mean the data pulled the parameter
    into the prior's tail. ``shift = |median_post - median_prior| / sd_prior``
    measures how far they pulled it. Offsets (``A``, ``B``, ...) are compared
    on a log scale. ``prior_dominated``: contraction below 0.75 (posterior
    interval more than half as wide as the prior's).

    Parameters
    ----------
    fit : ScalingFit
    priors : mapping, optional
        The ``priors=`` the fit was made with (a ScalingFit does not store
        them); default: the law's default priors.
    num_prior_draws : int
    seed : int

    Returns
    -------
    DataFrame
        Indexed by parameter: ``scale``, ``prior_sd``, ``posterior_sd``,
        ``contraction``, ``shift``, ``prior_dominated``.
    """
    prior = _prior_draws(fit, priors, num_prior_draws, seed)
    names = list(fit.law.param_names) + [n for n in ("sigma", "nu") if n in prior]
    rows = []
    for name in names:
        post = fit.draws(name)
        pri = prior[name]
        log = name in fit.law.log_scale_params
        if log:
            post, pri = np.log(post), np.log(pri)
        post2 = post.reshape(post.shape[0], -1)
        pri2 = pri.reshape(pri.shape[0], -1)
        labels = [name] if post2.shape[1] == 1 else [
            f"{name}[{g}]" for g in getattr(fit, "group_labels", range(post2.shape[1]))]
        for j, label in enumerate(labels):
            sd_prior = float(np.std(pri2[:, j]))
            rows.append({"parameter": label, "scale": "log" if log else "linear",
                         "prior_sd": sd_prior, "posterior_sd": float(np.std(post2[:, j])),
                         "contraction": _contraction(post2[:, j], pri2[:, j]),
                         "shift": abs(float(np.median(post2[:, j]) - np.median(pri2[:, j])))
                         / max(sd_prior, 1e-300)})
    table = pd.DataFrame(rows).set_index("parameter")
    table["prior_dominated"] = ~(table["contraction"] >= CONTRACTION_THRESHOLD)
    return table


def check_prior_dominated(
    posterior_draws: Any,
    prior_draws: Any,
    *,
    label: str = "quantity",
    threshold: float = CONTRACTION_THRESHOLD,
    warn: bool = True,
) -> np.ndarray:
    """Contraction of a quantity from prior to posterior; warn if prior-dominated.

    ``contraction = 1 - (w_post / w_prior)^2`` with ``w`` the width of the
    central 90% interval (``1 - var_post / var_prior`` for normal shapes, but
    not swamped by the heavy tails of prior predictive draws).

    Parameters
    ----------
    posterior_draws, prior_draws : array-like, shape ``(draws,)`` or ``(draws, points)``
        Draws of the quantity under the posterior and under the prior (on the
        scale to compare: e.g. log loss).
    label : str
        Names the quantity in the warning.
    threshold : float, default 0.75
        Contraction below which the posterior mostly restates the prior (0.75:
        the posterior interval is more than half as wide as the prior's).

    Returns
    -------
    numpy.ndarray
        Contraction per point.

    Warns
    -----
    PriorDominatedWarning
        If any point's contraction is below ``threshold``.
    """
    post = np.asarray(posterior_draws, dtype=np.float64)
    prior = np.asarray(prior_draws, dtype=np.float64)
    post = post.reshape(post.shape[0], -1)
    prior = prior.reshape(prior.shape[0], -1)
    contraction = np.array([_contraction(post[:, j], prior[:, j]) for j in range(post.shape[1])])
    weak = ~(contraction >= threshold)
    if warn and weak.any():
        worst = float(np.nanmin(contraction)) if np.isfinite(contraction).any() else float("nan")
        _warn(
            f"{label} is prior-dominated: its 90% posterior interval is "
            f"{np.sqrt(max(1 - worst, 0)):.0%} as wide as its prior's (contraction {worst:.2f} "
            f"< {threshold}) at {int(weak.sum())} of "
            f"{len(contraction)} points. The runs barely constrain it: the interval reflects the "
            "priors (e.g. of E and the exponents) rather than evidence. Add runs closer to the "
            "target scale, or state and justify informative priors.",
            PriorDominatedWarning,
        )
    return contraction


def prediction_contraction(
    fit: ScalingFit,
    N: Any = None,  # noqa: N803 - the field's notation
    D: Any = None,  # noqa: N803
    C: Any = None,  # noqa: N803
    *,
    U: Any = None,  # noqa: N803 - unique tokens, for laws that take them
    priors: Mapping[str, dist.Distribution] | None = None,
    threshold: float = CONTRACTION_THRESHOLD,
    scale: str = "linear",
    num_prior_draws: int = 4000,
    seed: int = 0,
    warn: bool = True,
) -> pd.DataFrame:
    """How much the runs, rather than the priors, determine a predicted loss.

    Draws of the loss curve at the requested points under the posterior and
    under the prior (same model and design, :func:`prior_sensitivity`), and
    their contraction (:func:`check_prior_dominated`). Far beyond the data the
    loss approaches ``E``, whose default prior is uniform below the smallest
    observed loss: when the runs do not reach towards saturation the answer
    there is mostly that prior.

    Parameters
    ----------
    fit : ScalingFit
    N, D, C : array-like
        As in :meth:`ScalingFit.predict` (two of them for a joint law).
    priors : mapping, optional
        The ``priors=`` the fit was made with (default: the law's defaults).
    threshold : float, default 0.75
    scale : {"linear", "log"}
        Compare variances of the loss (default: the quantity reported) or of
        log loss (which weights the prior's tail towards ``E = 0`` heavily and
        so reports more contraction).
    warn : bool

    Returns
    -------
    DataFrame
        One row per point: the sizes, ``prior_sd`` and ``posterior_sd`` of the
        loss (or log loss), ``contraction``, ``prior_dominated``.

    Warns
    -----
    PriorDominatedWarning
        When a point's contraction is below ``threshold``.

    Examples
    --------
    >>> prediction_contraction(fit, N=1e12, D=2e13)              # doctest: +SKIP
    """
    from .fit import _law_inputs

    if getattr(fit, "groups", None) is not None:
        raise NotImplementedError("prediction_contraction supports fits without groups")
    if scale not in ("linear", "log"):
        raise ValueError(f"scale must be 'linear' or 'log', got {scale!r}")
    flat = _law_inputs(fit.law, N, D, C, fit.runs.flops_factor, U)
    post = np.log(fit.predict_draws(**{k: flat[k] for k in fit.law.inputs}))
    prior_params = _prior_draws(fit, priors, num_prior_draws, seed)
    import jax.numpy as jnp

    with jax.enable_x64(True):
        params = {k: jnp.asarray(prior_params[k])[:, None] for k in fit.law.param_names}
        inputs = {k: jnp.log(jnp.asarray(flat[k]))[None, :] for k in fit.law.inputs}
        prior = np.asarray(fit.law.log_mean(params, inputs))
    if scale == "linear":
        post, prior = np.exp(post), np.exp(prior)
    contraction = check_prior_dominated(post, prior, label="the predicted loss",
                                        threshold=threshold, warn=warn)
    out = pd.DataFrame(flat)
    out["prior_sd"] = prior.std(axis=0)
    out["posterior_sd"] = post.std(axis=0)
    out["contraction"] = contraction
    out["prior_dominated"] = ~(contraction >= threshold)
    return out
