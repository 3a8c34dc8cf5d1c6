"""Backtest of the Chinchilla fits: fit the runs below a compute cut, score the bands on the larger ones."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._lazy import lazy_import
from ..baselines import fit_approach3
from ..data import datasets
from ..extrapolation.leave_future_out import calibrate_extrapolation
from ..laws.chinchilla import chinchilla_log_loss
from ..results.scaling_fit import fit as bayes_fit
from .labels import APPROACH3, BAYES_LABELS, PARAMS, runs_only

pd = lazy_import("pandas")


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
    return chinchilla_log_loss(np.log(p["A"]), p["alpha"], np.log(p["B"]), p["beta"],
                               np.log(p["E"]), ln, ld, xp=np)


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
    runs = runs_only(runs)
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
        label = BAYES_LABELS[likelihood]
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
    log_boot = _log_law_np({k: boot[k].to_numpy() for k in PARAMS}, n_h, d_h)
    rng = np.random.default_rng(seed + 2)
    log_noisy = log_boot + resid_sd * rng.standard_normal(log_boot.shape)
    for level in levels:
        tail = (1.0 - level) / 2.0
        band = classical.predict(N=n_h, D=d_h, level=level)
        record(APPROACH3, "bootstrap", level, point, band["lower"].to_numpy(),
               band["upper"].to_numpy(), seconds)
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
