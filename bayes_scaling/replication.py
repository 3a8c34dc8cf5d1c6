"""Real-data replication: the Chinchilla analysis, the classical baselines, and a backtest.

The functions here compute the tables of ``benchmarks/real_data.py``,
``notebooks/chinchilla_replication.ipynb`` and ``tests/test_replication.py``,
so the three agree by construction. All of them read the public tables in the
shared data folder through :mod:`bayes_scaling.datasets`.

* :func:`fit_chinchilla` fits the digitised Chinchilla runs (Besiroglu et al.
  2024; 240 runs after dropping the 5 highest-loss ones) three ways: the
  Bayesian Chinchilla law with a normal and with a Student-t likelihood on
  log-loss, and the classical Approach 3 (Huber, delta 1e-3, L-BFGS from a grid)
  with a non-parametric bootstrap.
* :func:`chinchilla_parameter_table` puts them side by side with the published
  fits of Besiroglu et al. (2024) and Hoffmann et al. (2022).
* :func:`allocation_table`: compute-optimal ``N_opt``, ``D_opt`` and tokens
  per parameter at 1e21, 1e24 and 1e26 FLOPs per method.
* :func:`backtest`: fit on runs up to a compute cut, predict the larger
  held-out runs, and measure the coverage of nominal 50% and 90% bands
  (:func:`backtest_summary` formats it).
* :func:`fit_shared_datasets`: the Bayesian fit of every other shared table
  with (N, D or C, loss), with diagnostics and timings.

Conventions: ``C = 6 N D``; intervals are equal-tailed (posterior) or
percentile (bootstrap). The Chinchilla ``N`` is the model size as plotted by
Hoffmann et al. (total parameters).
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from . import datasets
from .classical import ClassicalFit, fit_approach3
from .extrapolation import calibrate_extrapolation
from .fit import ScalingFit
from .fit import fit as bayes_fit

__all__ = [
    "APPROACH3",
    "BAYES_NORMAL",
    "BAYES_STUDENT_T",
    "BESIROGLU",
    "BESIROGLU_2024",
    "BESIROGLU_2024_CI95",
    "BESIROGLU_FULL_GRID",
    "HOFFMANN",
    "HOFFMANN_2022",
    "BacktestResult",
    "ChinchillaFits",
    "allocation_table",
    "backtest",
    "backtest_summary",
    "chinchilla_parameter_table",
    "closed_form_allocation",
    "fit_chinchilla",
    "fit_shared_datasets",
    "wide_parameter_table",
]

#: Method labels used in every table.
BAYES_NORMAL = "Bayes, normal"
BAYES_STUDENT_T = "Bayes, Student-t"
APPROACH3 = "Approach 3 + bootstrap (ours)"
BESIROGLU = "Besiroglu et al. 2024 (published)"
HOFFMANN = "Hoffmann et al. 2022 (published)"

_BAYES_LABELS = {"normal": BAYES_NORMAL, "student_t": BAYES_STUDENT_T}
_PARAMS = ("E", "A", "alpha", "B", "beta")

#: Besiroglu et al. (2024), Huber refit of the digitised data: point estimates ...
BESIROGLU_2024: dict[str, float] = {"E": 1.817, "A": 482.0, "alpha": 0.348, "B": 2085.4,
                                    "beta": 0.366}
#: ... and their 95% bootstrap intervals.
BESIROGLU_2024_CI95: dict[str, tuple[float, float]] = {
    "E": (1.769, 1.871), "A": (285.2, 743.6), "alpha": (0.317, 0.373),
    "B": (1042.4, 5810.3), "beta": (0.331, 0.415),
}
#: Besiroglu et al.'s refit from Hoffmann's full 4,500-point initialisation grid.
BESIROGLU_FULL_GRID: dict[str, float] = {"E": 1.817, "A": 477.8, "alpha": 0.3473,
                                         "B": 2143.9, "beta": 0.3672}
#: Hoffmann et al. (2022), Approach 3 on their full (unpublished) data; no valid intervals.
HOFFMANN_2022: dict[str, float] = {"E": 1.69, "A": 406.4, "alpha": 0.34, "B": 410.7,
                                   "beta": 0.28}

#: Compute budgets (FLOPs) of the allocation table.
ALLOCATION_BUDGETS: tuple[float, ...] = (1e21, 1e24, 1e26)


def _allocation_exponent(alpha: Any, beta: Any) -> Any:
    """``a = beta / (alpha + beta)``: ``N_opt`` grows as ``C^a``."""
    return np.asarray(beta) / (np.asarray(alpha) + np.asarray(beta))


def _runs_only(frame: pd.DataFrame) -> pd.DataFrame:
    """The canonical columns only (no ``group``: each table here is fitted on its own)."""
    return frame[[c for c in ("N", "D", "C", "loss") if c in frame.columns]].reset_index(drop=True)


# --------------------------------------------------------------------- fitting
@dataclass(frozen=True, eq=False)
class ChinchillaFits:
    """The fits behind the replication tables.

    Attributes
    ----------
    bayes : dict
        ``{"normal": ScalingFit, "student_t": ScalingFit}`` (those requested).
    approach3 : ClassicalFit
        Approach 3 with bootstrap replicates.
    seconds : dict
        Wall time of each fit (Bayesian times include compilation when cold).
    num_runs : int
    """

    bayes: dict[str, ScalingFit]
    approach3: ClassicalFit
    seconds: dict[str, float] = field(default_factory=dict)
    num_runs: int = 0


def fit_chinchilla(
    runs: pd.DataFrame | None = None,
    *,
    seed: int = 0,
    num_bootstrap: int = 1000,
    grid: str = "full",
    likelihoods: Sequence[str] = ("normal", "student_t"),
    chains: int = 4,
    draws: int = 1000,
    warmup: int = 1000,
) -> ChinchillaFits:
    """Fit the Chinchilla runs with the Bayesian law(s) and with Approach 3 + bootstrap.

    Parameters
    ----------
    runs : DataFrame, optional
        Default: :func:`bayes_scaling.datasets.load_chinchilla` (240 runs).
    seed : int
        Seed of the NUTS fits and of the bootstrap resampling.
    num_bootstrap : int
        Bootstrap replicates of Approach 3.
    grid : {"full", "default"}
        Initialisation grid of Approach 3 (``"full"``: Hoffmann's 4,500 starts).
    likelihoods : sequence of {"normal", "student_t"}
    chains, draws, warmup : int
        NUTS settings.

    Returns
    -------
    ChinchillaFits
    """
    runs = datasets.load_chinchilla() if runs is None else runs
    runs = _runs_only(runs)
    seconds: dict[str, float] = {}
    bayes = {}
    for likelihood in likelihoods:
        start = time.perf_counter()
        bayes[likelihood] = bayes_fit(runs, law="chinchilla", likelihood=likelihood,
                                      chains=chains, draws=draws, warmup=warmup, seed=seed)
        seconds[_BAYES_LABELS[likelihood]] = time.perf_counter() - start
    start = time.perf_counter()
    classical = fit_approach3(runs, grid=grid, num_bootstrap=num_bootstrap, seed=seed)
    seconds[APPROACH3] = time.perf_counter() - start
    return ChinchillaFits(bayes=bayes, approach3=classical, seconds=seconds, num_runs=len(runs))


# ------------------------------------------------------------- parameter table
def chinchilla_parameter_table(
    runs: pd.DataFrame | None = None,
    *,
    seed: int = 0,
    num_bootstrap: int = 1000,
    level: float = 0.95,
    fits: ChinchillaFits | None = None,
    **fit_kwargs: Any,
) -> pd.DataFrame:
    """Chinchilla law parameters by method, side by side (tidy).

    Methods: the Bayesian posterior with a normal and with a Student-t
    likelihood (median and equal-tailed interval), Approach 3 with a percentile
    bootstrap (point estimate and interval), and the published fits of
    Besiroglu et al. (2024, with their 95% bootstrap intervals) and Hoffmann et
    al. (2022, point estimates only: their intervals are not valid).

    Parameters
    ----------
    runs : DataFrame, optional
        Default: the 240 digitised Chinchilla runs.
    seed, num_bootstrap
        Passed to :func:`fit_chinchilla` (ignored when ``fits`` is given).
    level : float, default 0.95
        Interval mass (0.95 matches the published intervals).
    fits : ChinchillaFits, optional
        Reuse fits from :func:`fit_chinchilla`.
    **fit_kwargs
        Further arguments of :func:`fit_chinchilla` (``grid``, ``draws``, ...).

    Returns
    -------
    pandas.DataFrame
        One row per (method, parameter): ``method``, ``parameter`` (``E``, ``A``,
        ``alpha``, ``B``, ``beta``, ``a`` = beta/(alpha+beta), and ``sigma``/``nu``
        for the Bayesian fits), ``estimate``, ``lower``, ``upper``, ``interval``
        (what the bounds are).
    """
    if fits is None:
        fits = fit_chinchilla(runs, seed=seed, num_bootstrap=num_bootstrap, **fit_kwargs)
    tail = (1.0 - level) / 2.0
    rows: list[dict[str, Any]] = []
    for likelihood, fitted in fits.bayes.items():
        draws = fitted.param_draws()
        draws["a"] = _allocation_exponent(draws["alpha"], draws["beta"])
        names = [*_PARAMS, "a", *(n for n in ("sigma", "nu") if n in draws)]
        for name in names:
            lo, med, hi = np.quantile(draws[name], [tail, 0.5, 1.0 - tail])
            rows.append({"method": _BAYES_LABELS[likelihood], "parameter": name,
                         "estimate": med, "lower": lo, "upper": hi,
                         "interval": f"{level:.0%} equal-tailed posterior; estimate = median"})
    classical = fits.approach3.summary(level=level).set_index("parameter")
    nboot = 0 if fits.approach3.bootstrap is None else len(fits.approach3.bootstrap)
    for name in (*_PARAMS, "a"):
        rows.append({"method": APPROACH3, "parameter": name,
                     "estimate": classical.loc[name, "estimate"],
                     "lower": classical.loc[name, "lower"], "upper": classical.loc[name, "upper"],
                     "interval": f"{level:.0%} percentile bootstrap ({nboot} replicates)"})
    for name in _PARAMS:
        lo, hi = BESIROGLU_2024_CI95[name] if math.isclose(level, 0.95) else (np.nan, np.nan)
        rows.append({"method": BESIROGLU, "parameter": name, "estimate": BESIROGLU_2024[name],
                     "lower": lo, "upper": hi, "interval": "95% bootstrap (published)"})
    rows.append({"method": BESIROGLU, "parameter": "a", "estimate": 0.513, "lower": np.nan,
                 "upper": np.nan, "interval": "published SE 0.020"})
    for name in _PARAMS:
        rows.append({"method": HOFFMANN, "parameter": name, "estimate": HOFFMANN_2022[name],
                     "lower": np.nan, "upper": np.nan, "interval": "none (published CIs not valid)"})
    rows.append({"method": HOFFMANN, "parameter": "a",
                 "estimate": float(_allocation_exponent(HOFFMANN_2022["alpha"],
                                                        HOFFMANN_2022["beta"])),
                 "lower": np.nan, "upper": np.nan, "interval": "derived from the point estimates"})
    table = pd.DataFrame(rows)
    table.attrs["level"] = level
    return table


def wide_parameter_table(table: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """Parameters as rows and methods as columns, cells ``"est [lower, upper]"`` (for printing)."""
    def cell(row: pd.Series) -> str:
        est = _fmt(row["estimate"], digits)
        if np.isfinite(row["lower"]) and np.isfinite(row["upper"]):
            return f"{est} [{_fmt(row['lower'], digits)}, {_fmt(row['upper'], digits)}]"
        return est

    cells = table.assign(cell=table.apply(cell, axis=1))
    order = list(dict.fromkeys(table["parameter"]))
    wide = cells.pivot(index="parameter", columns="method", values="cell")
    wide = wide.reindex(index=order, columns=list(dict.fromkeys(table["method"])))
    return wide.fillna("")


def _fmt(value: float, digits: int = 3) -> str:
    if not np.isfinite(value):
        return "nan"
    if abs(value) >= 1e4 or (abs(value) < 1e-2 and value != 0):
        return f"{value:.{digits}g}"
    if abs(value) >= 100:
        return f"{value:.1f}"
    return f"{value:.{digits + 1}g}" if abs(value) < 1 else f"{value:.{digits}f}"


# ------------------------------------------------------------------ allocation
def closed_form_allocation(params: Mapping[str, float], C: Any, flops_factor: float = 6.0  # noqa: N803
                           ) -> pd.DataFrame:
    r"""Compute-optimal allocation of a Chinchilla law with known parameters.

    :math:`G = (\alpha A / (\beta B))^{1/(\alpha+\beta)}`,
    :math:`N_{opt} = G (C/k)^{\beta/(\alpha+\beta)}`,
    :math:`D_{opt} = G^{-1} (C/k)^{\alpha/(\alpha+\beta)}`.

    Returns
    -------
    pandas.DataFrame
        ``C``, ``N_opt``, ``D_opt``, ``tokens_per_param``, ``loss_opt``.
    """
    c = np.atleast_1d(np.asarray(C, dtype=np.float64))
    a_, b_ = params["alpha"], params["beta"]
    s = a_ + b_
    log_g = (math.log(a_ * params["A"]) - math.log(b_ * params["B"])) / s
    log_ck = np.log(c / flops_factor)
    n_opt = np.exp(log_g + b_ / s * log_ck)
    d_opt = np.exp(-log_g + a_ / s * log_ck)
    loss = params["E"] + params["A"] / n_opt ** a_ + params["B"] / d_opt ** b_
    return pd.DataFrame({"C": c, "N_opt": n_opt, "D_opt": d_opt,
                         "tokens_per_param": d_opt / n_opt, "loss_opt": loss})


def allocation_table(
    runs: pd.DataFrame | None = None,
    *,
    budgets: Sequence[float] = ALLOCATION_BUDGETS,
    level: float = 0.95,
    fits: ChinchillaFits | None = None,
    seed: int = 0,
    num_bootstrap: int = 1000,
    **fit_kwargs: Any,
) -> pd.DataFrame:
    """Compute-optimal allocation at ``budgets`` (FLOPs) by method.

    Bayesian fits: posterior median and equal-tailed interval per draw (closed
    form). Approach 3: point fit and percentile bootstrap interval. Published
    laws (Besiroglu et al. 2024, Hoffmann et al. 2022): the closed form at
    their point estimates (no interval).

    Returns
    -------
    pandas.DataFrame
        One row per (method, C): ``method``, ``C``, and ``N_opt``, ``D_opt``,
        ``tokens_per_param``, ``loss_opt``, each with ``_lower``/``_upper``.
    """
    if fits is None:
        fits = fit_chinchilla(runs, seed=seed, num_bootstrap=num_bootstrap, **fit_kwargs)
    budgets = np.asarray(budgets, dtype=np.float64)
    quantities = ("N_opt", "D_opt", "tokens_per_param", "loss_opt")
    columns = ["method", "C"] + [f"{q}{s}" for q in quantities for s in ("", "_lower", "_upper")]
    frames = []
    for likelihood, fitted in fits.bayes.items():
        table = fitted.optimal_allocation(C=budgets, level=level)
        frames.append(table.assign(method=_BAYES_LABELS[likelihood]))
    frames.append(fits.approach3.optimal_allocation(C=budgets, level=level)
                  .assign(method=APPROACH3))
    for label, params in ((BESIROGLU, BESIROGLU_2024), (HOFFMANN, HOFFMANN_2022)):
        table = closed_form_allocation(params, budgets)
        for q in quantities:
            table[f"{q}_lower"] = np.nan
            table[f"{q}_upper"] = np.nan
        frames.append(table.assign(method=label))
    out = pd.concat([f[columns] for f in frames], ignore_index=True)
    out.attrs["level"] = level
    return out


# -------------------------------------------------------------------- backtest
@dataclass(frozen=True, eq=False)
class BacktestResult:
    """Result of :func:`backtest`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per (method, band, level): ``n_train``, ``n_test``, ``coverage``,
        ``coverage_se`` (binomial), ``below``/``above`` (shares of held-out runs
        under/over the band), ``median_width_pct`` (median band width, % of the
        loss), ``median_rel_error_pct`` (median |prediction - observed| / observed
        of the method's central prediction, %), ``seconds``.
    predictions : pandas.DataFrame
        One row per (held-out run, method, band, level): ``N``, ``D``, ``C``,
        ``loss``, ``center``, ``lower``, ``upper``, ``inside``.
    fits : dict
        The fits on the training runs, by method label.
    compute_cut : float
        Training runs have ``C <= compute_cut``.
    train, test : pandas.DataFrame
        The training and held-out runs.
    """

    table: pd.DataFrame
    predictions: pd.DataFrame
    fits: dict[str, Any]
    compute_cut: float
    train: pd.DataFrame
    test: pd.DataFrame


def _coverage_row(method: str, band: str, level: float, loss: np.ndarray, center: np.ndarray,
                  lower: np.ndarray, upper: np.ndarray, n_train: int, seconds: float
                  ) -> dict[str, Any]:
    inside = (loss >= lower) & (loss <= upper)
    n = len(loss)
    p = float(inside.mean())
    return {
        "method": method, "band": band, "level": level, "n_train": n_train, "n_test": n,
        "coverage": p, "coverage_se": math.sqrt(p * (1 - p) / n),
        "below": float((loss < lower).mean()), "above": float((loss > upper).mean()),
        "median_width_pct": float(np.median(100 * (upper / lower - 1))),
        "median_rel_error_pct": float(np.median(100 * np.abs(center - loss) / loss)),
        "seconds": seconds,
    }


def _log_law_np(params: Mapping[str, np.ndarray], n: np.ndarray, d: np.ndarray) -> np.ndarray:
    """log(E + A/N^alpha + B/D^beta), parameters (R,) x runs (M,) -> (R, M)."""
    p = {k: np.asarray(v, dtype=np.float64)[:, None] for k, v in params.items()}
    ln, ld = np.log(n)[None, :], np.log(d)[None, :]
    return np.logaddexp(np.logaddexp(np.log(p["A"]) - p["alpha"] * ln,
                                     np.log(p["B"]) - p["beta"] * ld), np.log(p["E"]))


def backtest(
    runs: pd.DataFrame | None = None,
    *,
    compute_cut: float | str = 3e20,
    levels: Sequence[float] = (0.5, 0.9),
    likelihoods: Sequence[str] = ("normal", "student_t"),
    seed: int = 0,
    num_bootstrap: int = 1000,
    grid: str = "default",
    chains: int = 4,
    draws: int = 1000,
    warmup: int = 1000,
    extrapolation: bool = False,
) -> BacktestResult:
    """Fit on the runs up to a compute cut; cover the larger held-out runs?

    Bands per method (at each nominal ``level``):

    * Bayesian fits (one per likelihood): ``predictive`` = ``pred_lower`` /
      ``pred_upper`` of :meth:`ScalingFit.predict` (parameter uncertainty and
      observation noise), and, for reference, ``curve`` = the credible band of
      the mean curve. The central prediction is the curve's posterior median.
    * Approach 3: ``bootstrap`` = percentile band of the replicates' mean
      curves (what users of the classical method report), and
      ``bootstrap + residual SD`` = each replicate's prediction plus a normal
      log-space noise draw whose SD is the RMS training residual of the point
      fit (a principled fix a user could apply without seeing the held-out
      runs). The central prediction is the point fit.

    Nothing here is tuned on the held-out runs: the models, priors and
    likelihoods are the library defaults.

    Parameters
    ----------
    runs : DataFrame, optional
        Default: the 240 digitised Chinchilla runs.
    compute_cut : float or "median"
        Train on ``C <= compute_cut`` FLOPs, test on the rest. ``"median"``:
        the smaller half of the compute budgets (cut at the median ``C``).
    levels : sequence of float
        Nominal band masses.
    likelihoods : sequence of {"normal", "student_t"}
        Bayesian fits to run. ``"student_t"`` is the library's robust option.
    seed, num_bootstrap, grid
        Seeds (NUTS, bootstrap, predictive noise); Approach 3 bootstrap
        replicates and initialisation grid.
    chains, draws, warmup : int
        NUTS settings.
    extrapolation : bool, default False
        Also record ``predictive + extrapolation term``: the predictive band
        widened by the leave-future-out discrepancy of
        :func:`bayes_scaling.extrapolation.calibrate_extrapolation`, learnt
        from the training runs only (three more short fits per likelihood).

    Returns
    -------
    BacktestResult
        Coverage standard errors are binomial, ``sqrt(p (1 - p) / n)``: they
        treat held-out runs as independent, which they are not (all share
        the fit's error), so read them as a lower bound on the uncertainty.
    """
    runs = datasets.load_chinchilla() if runs is None else runs
    runs = _runs_only(runs)
    cut = float(np.median(runs["C"])) if compute_cut == "median" else float(compute_cut)
    train = runs[runs["C"] <= cut].reset_index(drop=True)
    test = runs[runs["C"] > cut].reset_index(drop=True)
    if len(train) < 10 or len(test) < 1:
        raise ValueError(f"compute_cut={cut:.3g} leaves {len(train)} training and {len(test)} "
                         "held-out runs")
    n_h, d_h, loss_h = (test[c].to_numpy(np.float64) for c in ("N", "D", "loss"))
    rows, preds, fits = [], [], {}

    def record(method, band, level, center, lower, upper, seconds):
        rows.append(_coverage_row(method, band, level, loss_h, center, lower, upper, len(train),
                                  seconds))
        preds.append(pd.DataFrame({"N": n_h, "D": d_h, "C": test["C"].to_numpy(),
                                   "loss": loss_h, "method": method, "band": band,
                                   "level": level, "center": center, "lower": lower,
                                   "upper": upper,
                                   "inside": (loss_h >= lower) & (loss_h <= upper)}))

    for likelihood in likelihoods:
        label = _BAYES_LABELS[likelihood]
        start = time.perf_counter()
        fitted = bayes_fit(train, law="chinchilla", likelihood=likelihood, chains=chains,
                           draws=draws, warmup=warmup, seed=seed)
        seconds = time.perf_counter() - start
        fits[label] = fitted
        for level in levels:
            p = fitted.predict(N=n_h, D=d_h, level=level, seed=seed + 1, extrapolation="none")
            center = p["median"].to_numpy()
            record(label, "predictive", level, center, p["pred_lower"].to_numpy(),
                   p["pred_upper"].to_numpy(), seconds)
            record(label, "curve", level, center, p["lower"].to_numpy(), p["upper"].to_numpy(),
                   seconds)
        if extrapolation:
            start = time.perf_counter()
            calib = calibrate_extrapolation(fitted, seed=seed)
            extra_seconds = seconds + time.perf_counter() - start
            fits[f"{label} + extrapolation term"] = calib
            for level in levels:
                p = calib.predict(N=n_h, D=d_h, level=level, seed=seed + 1)
                record(label, "predictive + extrapolation term", level, p["median"].to_numpy(),
                       p["pred_lower"].to_numpy(), p["pred_upper"].to_numpy(), extra_seconds)

    start = time.perf_counter()
    classical = fit_approach3(train, grid=grid, num_bootstrap=num_bootstrap, seed=seed)
    seconds = time.perf_counter() - start
    fits[APPROACH3] = classical
    boot = classical.bootstrap
    point = np.exp(_log_law_np({k: np.array([v]) for k, v in classical.params.items()},
                               n_h, d_h))[0]
    train_log_resid = (_log_law_np({k: np.array([v]) for k, v in classical.params.items()},
                                   train["N"].to_numpy(), train["D"].to_numpy())[0]
                       - np.log(train["loss"].to_numpy()))
    resid_sd = float(np.sqrt(np.mean(train_log_resid ** 2)))
    log_boot = _log_law_np({k: boot[k].to_numpy() for k in _PARAMS}, n_h, d_h)
    rng = np.random.default_rng(seed + 2)
    log_noisy = log_boot + resid_sd * rng.standard_normal(log_boot.shape)
    for level in levels:
        tail = (1.0 - level) / 2.0
        band = classical.predict(N=n_h, D=d_h, level=level)
        record(APPROACH3, "bootstrap", level, point, band["loss_lower"].to_numpy(),
               band["loss_upper"].to_numpy(), seconds)
        lo, hi = np.exp(np.quantile(log_noisy, [tail, 1 - tail], axis=0))
        record(APPROACH3, "bootstrap + residual SD", level, point, lo, hi, seconds)

    table = pd.DataFrame(rows)
    table.attrs.update({"compute_cut": cut, "residual_sd_approach3": resid_sd})
    return BacktestResult(table=table, predictions=pd.concat(preds, ignore_index=True),
                          fits=fits, compute_cut=cut, train=train, test=test)


def backtest_summary(result: BacktestResult) -> pd.DataFrame:
    """One row per (method, band): coverage ± SE at each level, and the 90%-band details.

    For printing; the numbers are those of ``result.table``.
    """
    rows = []
    for (method, band), part in result.table.groupby(["method", "band"], sort=False):
        part = part.set_index("level")
        row = {"method": method, "band": band}
        for level in part.index:
            r = part.loc[level]
            row[f"{level:.0%} coverage"] = f"{r['coverage']:.3f} ± {r['coverage_se']:.3f}"
        top = part.loc[part.index.max()]
        row[f"below / above ({part.index.max():.0%})"] = f"{top['below']:.2f} / {top['above']:.2f}"
        row[f"median width {part.index.max():.0%} (%)"] = f"{top['median_width_pct']:.2f}"
        row["median rel. error (%)"] = f"{top['median_rel_error_pct']:.2f}"
        row["fit s"] = f"{top['seconds']:.1f}"
        rows.append(row)
    return pd.DataFrame(rows)


# ------------------------------------------------------------ other data sets
def _shared_dataset_specs(root: Any = None) -> list[dict[str, Any]]:
    """The tables and subsets fitted by :func:`fit_shared_datasets`."""
    specs: list[dict[str, Any]] = []
    marin = datasets.load_marin_isoflops(root)
    for mixture in sorted(marin["group"].unique()):
        specs.append({"dataset": "marin_isoflops", "subset": f"mixture={mixture}",
                      "law": "chinchilla", "runs": marin[marin["group"] == mixture],
                      "note": "iso-FLOP sweeps 1.8e18-3e20 FLOPs; loss on the mixture's own "
                              "validation set"})
    blations = datasets.load_datablations(root)
    single = blations[np.isclose(blations["epochs"], 1.0)]
    specs.append({"dataset": "datablations", "subset": "single-epoch runs", "law": "chinchilla",
                  "runs": single,
                  "note": "C4, 1 epoch (no repetition): the Chinchilla law applies as is"})
    specs.append({"dataset": "datablations", "subset": "all runs (1-75 epochs)",
                  "law": "chinchilla", "runs": blations,
                  "note": "misspecified on purpose: repeated tokens counted as fresh (D = tokens "
                          "seen); compare with the single-epoch row"})
    gadre = datasets.load_gadre2024(root)
    for name in sorted(gadre["group"].unique()):
        specs.append({"dataset": "gadre2024", "subset": f"train={name}", "law": "chinchilla",
                      "runs": gadre[gadre["group"] == name],
                      "note": "total N; loss on C4 validation (c4_val); 5-640 tokens/param"})
    pythia = datasets.load_pythia(root)
    for group in ("pile", "pile_deduped"):
        final = pythia[(pythia["group"] == group) & (pythia["step"] == 143000)]
        specs.append({"dataset": "pythia", "subset": f"{group}, final checkpoints",
                      "law": "power_law_N", "runs": final,
                      "note": "8 sizes, 300B tokens each; loss = ln LAMBADA perplexity (a task "
                              "loss); total N"})
    late = pythia[(pythia["group"] == "pile") & (pythia["step"] >= 13000)]
    specs.append({"dataset": "pythia", "subset": "pile, checkpoints >= 27B tokens",
                  "law": "chinchilla", "runs": late,
                  "note": "checkpoints of one run are NOT independent (intervals too narrow); "
                          "steps >= 13000 (27B tokens, past Choshen et al.'s 10B cut)"})
    return specs


def fit_shared_datasets(
    root: Any = None,
    *,
    likelihood: str = "normal",
    seed: int = 0,
    chains: int = 4,
    draws: int = 1000,
    warmup: int = 1000,
    level: float = 0.9,
    target_accept: float = 0.99,
) -> pd.DataFrame:
    """Fit every other shared table that has (N, D or C, loss) with the fitting law.

    * Marin iso-FLOPs: the Chinchilla law per data mixture (comma, dclm, nemotron).
    * Datablations (contour runs, C4): the Chinchilla law on the single-epoch
      runs, and, as a stated misspecification, on all runs with ``D`` = tokens
      seen (repetition ignored).
    * Gadre et al. 2024: the Chinchilla law per pre-training set, C4 validation loss.
    * Pythia: ``power_law_N`` on the final checkpoints (step 143000) of each
      suite, and the Chinchilla law on the late checkpoints of the Pile suite
      (not independent: read those intervals as too narrow).

    Parameters
    ----------
    root : path, optional
        Data folder (see :func:`bayes_scaling.datasets.data_root`).
    likelihood : {"normal", "student_t"}
    seed, chains, draws, warmup
        NUTS settings.
    level : float, default 0.9
        Interval mass of the reported intervals.
    target_accept : float, default 0.99
        NUTS target acceptance. The library default (0.9) leaves a handful of
        divergences on the small or curved tables here (datablations, Gadre,
        Pythia checkpoints); 0.99, as the divergence warning advises, leaves
        none, at a small cost in time.

    Returns
    -------
    pandas.DataFrame
        One row per fit: ``dataset``, ``subset``, ``law``, ``n_runs``, for each
        parameter (``E``, ``A``, ``alpha``, ``B``, ``beta``, ``sigma``) the
        posterior median and ``_lower``/``_upper`` (NaN where the law lacks it),
        ``tokens_per_param_1e24`` (posterior median of the optimal ratio at
        1e24 FLOPs, joint laws only), ``max_rhat``, ``min_ess_bulk``,
        ``divergences``, ``seconds`` (wall time of the fit, compilation
        included when cold), ``warnings`` and ``note``.
    """
    tail = (1.0 - level) / 2.0
    rows = []
    for spec in _shared_dataset_specs(root):
        runs = _runs_only(spec["runs"])
        start = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fitted = bayes_fit(runs, law=spec["law"], likelihood=likelihood, chains=chains,
                               draws=draws, warmup=warmup, seed=seed, level=level,
                               target_accept=target_accept)
        seconds = time.perf_counter() - start
        row: dict[str, Any] = {"dataset": spec["dataset"], "subset": spec["subset"],
                               "law": spec["law"], "likelihood": likelihood,
                               "n_runs": len(runs)}
        draws_ = fitted.param_draws()
        for name in (*_PARAMS, "sigma"):
            if name in draws_:
                lo, med, hi = np.quantile(draws_[name], [tail, 0.5, 1.0 - tail])
            else:
                lo = med = hi = np.nan
            row.update({name: med, f"{name}_lower": lo, f"{name}_upper": hi})
        if {"N", "D"} <= set(fitted.law.inputs):
            row["tokens_per_param_1e24"] = float(np.median(
                fitted.allocation_draws([1e24])["tokens_per_param"]))
        else:
            row["tokens_per_param_1e24"] = np.nan
        summary = fitted.summary(level)
        row["max_rhat"] = float(summary["r_hat"].max())
        row["min_ess_bulk"] = float(summary["ess_bulk"].min())
        row["divergences"] = int(fitted.posterior["sample_stats"]["diverging"].values.sum())
        row["seconds"] = seconds
        messages = sorted({type(w.message).__name__ for w in caught
                           if issubclass(w.category, UserWarning)})
        row["warnings"] = ", ".join(messages)
        row["note"] = spec["note"]
        rows.append(row)
    table = pd.DataFrame(rows)
    table.attrs["level"] = level
    return table
