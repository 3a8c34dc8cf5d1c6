"""Real-data replication: the Chinchilla analysis, the classical baselines, and a backtest.

The functions here compute the tables of ``benchmarks/real_data.py``,
``notebooks/chinchilla_replication.ipynb`` and ``tests/test_replication.py``,
so the three agree by construction. All of them read the public tables in the
shared data folder through :mod:`bayes_scaling.data.datasets`.

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

from ..baselines import ClassicalFit, fit_approach3
from ..data import datasets
from ..laws.chinchilla import chinchilla_log_allocation_from_logs, chinchilla_log_loss
from ..results.scaling_fit import ScalingFit
from ..results.scaling_fit import fit as bayes_fit
from .backtest import BacktestResult, backtest, backtest_summary
from .labels import (
    APPROACH3,
    BAYES_LABELS,
    BAYES_NORMAL,
    BAYES_STUDENT_T,
    BESIROGLU,
    BESIROGLU_2024,
    BESIROGLU_2024_CI95,
    BESIROGLU_FULL_GRID,
    HOFFMANN,
    HOFFMANN_2022,
    PARAMS,
    runs_only,
)

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


#: Compute budgets (FLOPs) of the allocation table.
ALLOCATION_BUDGETS: tuple[float, ...] = (1e21, 1e24, 1e26)


def _allocation_exponent(alpha: Any, beta: Any) -> Any:
    """``a = beta / (alpha + beta)``: ``N_opt`` grows as ``C^a``."""
    return np.asarray(beta) / (np.asarray(alpha) + np.asarray(beta))


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
        Default: :func:`bayes_scaling.data.datasets.load_chinchilla` (240 runs).
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
    runs = runs_only(runs)
    seconds: dict[str, float] = {}
    bayes = {}
    for likelihood in likelihoods:
        start = time.perf_counter()
        bayes[likelihood] = bayes_fit(runs, law="chinchilla", likelihood=likelihood,
                                      chains=chains, draws=draws, warmup=warmup, seed=seed)
        seconds[BAYES_LABELS[likelihood]] = time.perf_counter() - start
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
        names = [*PARAMS, "a", *(n for n in ("sigma", "nu") if n in draws)]
        for name in names:
            lo, med, hi = np.quantile(draws[name], [tail, 0.5, 1.0 - tail])
            rows.append({"method": BAYES_LABELS[likelihood], "parameter": name,
                         "estimate": med, "lower": lo, "upper": hi,
                         "interval": f"{level:.0%} equal-tailed posterior; estimate = median"})
    classical = fits.approach3.summary(level=level).set_index("parameter")
    nboot = 0 if fits.approach3.bootstrap is None else len(fits.approach3.bootstrap)
    for name in (*PARAMS, "a"):
        rows.append({"method": APPROACH3, "parameter": name,
                     "estimate": classical.loc[name, "estimate"],
                     "lower": classical.loc[name, "lower"], "upper": classical.loc[name, "upper"],
                     "interval": f"{level:.0%} percentile bootstrap ({nboot} replicates)"})
    for name in PARAMS:
        lo, hi = BESIROGLU_2024_CI95[name] if math.isclose(level, 0.95) else (np.nan, np.nan)
        rows.append({"method": BESIROGLU, "parameter": name, "estimate": BESIROGLU_2024[name],
                     "lower": lo, "upper": hi, "interval": "95% bootstrap (published)"})
    rows.append({"method": BESIROGLU, "parameter": "a", "estimate": 0.513, "lower": np.nan,
                 "upper": np.nan, "interval": "published SE 0.020"})
    for name in PARAMS:
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
    logs = (math.log(params["A"]), params["alpha"], math.log(params["B"]), params["beta"])
    log_n, log_d = chinchilla_log_allocation_from_logs(*logs, np.log(c / flops_factor), xp=np)
    n_opt, d_opt = np.exp(log_n), np.exp(log_d)
    loss = np.exp(chinchilla_log_loss(*logs, math.log(params["E"]), log_n, log_d, xp=np))
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
        # Law against law: the other rows are optima of fitted laws, so the plain posterior
        # interval of this law's optimum (no field discrepancy) is the like-for-like row.
        table = fitted.optimal_allocation(C=budgets, level=level, extrapolation="none")
        frames.append(table.assign(method=BAYES_LABELS[likelihood]))
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
        Data folder (see :func:`bayes_scaling.data.datasets.data_root`).
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
        runs = runs_only(spec["runs"])
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
        for name in (*PARAMS, "sigma"):
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
