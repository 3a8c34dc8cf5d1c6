"""Figures of hyperparameter fits: the law, the sweeps and the critical batch size."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..results.extensions import register
from ..results.hyperparams import CriticalBatchFit, HyperparameterFit


# --------------------------------------------------------------------- plots
def _axes(ax: Any) -> Any:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(6.4, 4.4), layout="constrained")[1]


def _band(ax: Any, x: np.ndarray, draws: np.ndarray, colour: str, label: str) -> None:
    lo90, lo50, mid, hi50, hi90 = np.quantile(draws, [0.05, 0.25, 0.5, 0.75, 0.95], axis=0)
    ax.fill_between(x, lo90, hi90, color=colour, alpha=0.18, lw=0, label="90% credible band")
    ax.fill_between(x, lo50, hi50, color=colour, alpha=0.38, lw=0, label="50% credible band")
    ax.plot(x, mid, color=colour, lw=1.8, label=label)


def plot_hyperparameter_law(fit: HyperparameterFit, *, x_max: float | None = None, ax: Any = None) -> Any:
    """Per-budget optima (90% intervals) and the law ``a x^b`` with bands, extrapolation shaded."""
    ax = _axes(ax)
    lo, hi = float(fit.budgets.min()), float(fit.budgets.max())
    right = float(x_max or 100 * hi)
    grid = np.geomspace(lo / 2, right, 120)
    _band(ax, grid, fit.predict_draws(grid), "#0072B2", f"{fit.hyper}* = a {fit.by}^b (median)")
    opt = fit.optima(level=0.9)
    ax.errorbar(opt[fit.by], opt["opt"], yerr=[opt["opt"] - opt["opt_lower"],
                                               opt["opt_upper"] - opt["opt"]],
                fmt="o", color="k", ms=4, capsize=3, label="per-budget optimum (90%)")
    ax.axvspan(hi, right, color="0.93", zorder=0, lw=0)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(grid[0], right)
    ax.set_xlabel(fit.by)
    ax.set_ylabel(f"optimal {fit.hyper}")
    ax.legend(fontsize="small")
    return ax


def plot_hyperparameter_sweeps(fit: HyperparameterFit, *, ax: Any = None) -> Any:
    """Loss against the hyperparameter per budget: runs and the fitted bowls (median)."""
    import matplotlib

    ax = _axes(ax)
    cmap = matplotlib.colormaps["cividis"]
    log_min = np.median(fit.draws("log_min_loss"), axis=0)
    log_curv = np.median(fit.draws("log_curvature"), axis=0)
    log_opt = np.median(fit.draws("log_opt"), axis=0)
    values = fit.sweeps[fit.hyper].to_numpy()
    grid = np.geomspace(values.min(), values.max(), 100)
    for k, b in enumerate(fit.budgets):
        colour = cmap(k / max(len(fit.budgets) - 1, 1))
        rows = fit.sweeps[fit.sweeps[fit.by] == b]
        ax.scatter(rows[fit.hyper], rows[fit.loss], color=colour, s=14, zorder=3)
        curve = np.exp(log_min[k] + np.exp(log_curv[k]) * (np.log(grid) - log_opt[k]) ** 2)
        ax.plot(grid, curve, color=colour, lw=1.2, label=f"{fit.by} = {b:.3g}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(fit.hyper)
    ax.set_ylabel("final loss")
    ax.legend(fontsize="small")
    return ax


def plot_critical_batch(fit: CriticalBatchFit, *, ax: Any = None) -> Any:
    ax = _axes(ax)
    if fit.mode == "tradeoff":
        losses = fit.targets
    else:
        losses = fit.table.iloc[:, 0].to_numpy()
    grid = np.geomspace(losses.min() * 0.9, losses.max() * 1.1, 100)
    _band(ax, grid, fit.predict_draws(grid), "#009E73", "B_crit(L) = B* L^(-1/alpha_B)")
    if fit.mode == "tradeoff":
        per = fit.per_target(level=0.9)
        ax.errorbar(per["loss"], per["B_crit"], yerr=[per["B_crit"] - per["B_crit_lower"],
                                                      per["B_crit_upper"] - per["B_crit"]],
                    fmt="o", color="k", ms=4, capsize=3, label="per target (90%)")
    else:
        ax.scatter(losses, fit.table.iloc[:, 1], color="k", s=14, label="measured")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("target loss")
    ax.set_ylabel("critical batch size")
    ax.legend(fontsize="small")
    return ax


# HyperparameterFit.plot / CriticalBatchFit.plot call these (results layer: no import upwards).
register("plot_hyperparameter_law", plot_hyperparameter_law)
register("plot_hyperparameter_sweeps", plot_hyperparameter_sweeps)
register("plot_critical_batch", plot_critical_batch)
