"""Matplotlib figures of fits. Every function takes ``ax=None`` and returns the Axes.

Colour-blind-safe palette (Okabe & Ito 2008); works headless (Agg) and in
notebooks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import matplotlib

if TYPE_CHECKING:
    from .fit import ScalingFit

import numpy as np

__all__ = ["OKABE_ITO", "plot_loss_vs_compute"]

OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442",
             "#000000")


def _axes(ax: Any):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=(6.4, 4.4), layout="constrained")
    return ax


def plot_loss_vs_compute(
    fit: ScalingFit,
    *,
    C_max: float | None = None,  # noqa: N803 - the field's notation
    targets: Any = None,
    ax: Any = None,
) -> Any:
    """Observed runs (coloured by model size), the posterior compute-optimal frontier
    with 50% and 90% credible bands, and the extrapolation region shaded.

    Parameters
    ----------
    fit : ScalingFit
        A fit of a law of N and D (the frontier is the loss at the compute-optimal
        allocation per draw) or of C alone.
    C_max : float, optional
        Right end of the frontier (default: 100x the largest fitted budget).
    targets : sequence of float, optional
        Budgets at which to mark the predicted loss with its 90% interval.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    ax = _axes(ax)
    runs = fit.runs.frame
    c_obs, loss = runs["C"].to_numpy(), runs["loss"].to_numpy()
    c_hi = float(C_max or 100 * c_obs.max())
    grid = np.geomspace(c_obs.min() / 2, c_hi, 80)
    if set(fit.law.inputs) >= {"N", "D"}:
        curve = fit.allocation_draws(grid)["loss_opt"]
        label = "compute-optimal loss (posterior median)"
    else:
        curve = fit.predict_draws(C=grid)
        label = "posterior median"
    q = np.quantile(curve, [0.05, 0.25, 0.5, 0.75, 0.95], axis=0)
    colour = OKABE_ITO[0]
    ax.fill_between(grid, q[0], q[4], color=colour, alpha=0.18, lw=0, label="90% credible band")
    ax.fill_between(grid, q[1], q[3], color=colour, alpha=0.35, lw=0, label="50% credible band")
    ax.plot(grid, q[2], color=colour, lw=1.8, label=label)
    if "N" in runs:
        points = ax.scatter(c_obs, loss, c=np.log10(runs["N"]), cmap="cividis", s=14,
                            edgecolor="none", zorder=3)
        ax.figure.colorbar(points, ax=ax, label="log10 parameters N")
    else:
        ax.scatter(c_obs, loss, color="k", s=14, zorder=3, label="runs")
    ax.axvspan(c_obs.max(), c_hi, color="0.9", zorder=0, label="extrapolation")
    if targets is not None:
        targets = np.atleast_1d(np.asarray(targets, dtype=float))
        if set(fit.law.inputs) >= {"N", "D"}:
            table = fit.optimal_allocation(targets)
            mid, lo, hi = table["loss_opt"], table["loss_opt_lower"], table["loss_opt_upper"]
        else:
            table = fit.predict(C=targets)
            mid, lo, hi = table["median"], table["pred_lower"], table["pred_upper"]
        ax.errorbar(targets, mid, yerr=[mid - lo, hi - mid], fmt="D", color=OKABE_ITO[3],
                    capsize=3, zorder=4, label="target (90% interval)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.yaxis.set_minor_formatter(matplotlib.ticker.ScalarFormatter())
    ax.set_xlabel(f"training compute C (FLOPs, C = {fit.runs.flops_factor:g} N D)")
    ax.set_ylabel("final loss (nats/token)")
    ax.set_title(f"{fit.law.name} law, {fit.runs.num_runs} runs")
    ax.legend(loc="upper right", fontsize="small", frameon=False)
    return ax
