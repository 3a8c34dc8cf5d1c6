"""Figures for fits with groups: effects forest plot, loss difference, compute multiplier.

Same conventions as :mod:`bayes_scaling.plotting`: the fit first, options
keyword-only, ``ax=None`` creates a figure, the Axes is returned; bands are
equal-tailed posterior intervals at 50% and 90%; artists carrying the
statistical content have a ``gid`` (``"median"``, ``"band90"``, ``"band50"``,
``"effects"``, ``"reference"``).

==============================  ============================================================
:func:`plot_group_effects`      forest plot of offsets (log ratios) and exponent differences
:func:`plot_loss_difference`    ``L_b - L_a`` at compute-optimal allocation vs compute
:func:`plot_compute_multiplier` compute ``b`` needs to match ``a``'s loss, relative to ``a``'s
==============================  ============================================================
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..compare.architectures import check_pair, group_effects, pair_draws
from .plotting import OKABE_ITO

if TYPE_CHECKING:
    from ..results.scaling_fit import ScalingFit

__all__ = ["plot_group_effects", "plot_loss_difference", "plot_compute_multiplier"]


def _axes(ax: Any, figsize: tuple[float, float] = (6.4, 4.4)) -> Any:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def _bands(ax: Any, x: np.ndarray, draws: np.ndarray, colour: str, label: str) -> None:
    """Median with 50% and 90% equal-tailed bands; ignores non-finite draws per column."""
    finite = np.where(np.isfinite(draws), draws, np.nan)
    lo90, lo50, mid, hi50, hi90 = np.nanquantile(finite, [0.05, 0.25, 0.5, 0.75, 0.95], axis=0)
    band90 = ax.fill_between(x, lo90, hi90, color=colour, alpha=0.18, lw=0,
                             label="90% credible band")
    band50 = ax.fill_between(x, lo50, hi50, color=colour, alpha=0.38, lw=0,
                             label="50% credible band")
    band90.set_gid("band90")
    band50.set_gid("band50")
    (line,) = ax.plot(x, mid, color=colour, lw=1.8, label=label, zorder=3)
    line.set_gid("median")


def plot_group_effects(
    fit: ScalingFit, ax: Any = None, *, level: float | None = None, reference: str | None = None
) -> Any:
    """Forest plot of :func:`bayes_scaling.compare.group_effects`.

    One row per (per-group parameter, group): the posterior median and the
    equal-tailed interval at ``level`` of the log ratio (offsets, at the design
    centre) or the difference (exponents, ``E``) relative to ``reference``; a
    vertical line marks no difference. Shared parameters have no rows.
    """
    table = group_effects(fit, level=level, reference=reference)
    ax = _axes(ax, figsize=(6.4, 0.9 + 0.42 * max(len(table), 1)))
    if table.empty:
        ax.text(0.5, 0.5, "no per-group parameters: every parameter is shared",
                ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return ax
    y = np.arange(len(table))[::-1]
    params = list(dict.fromkeys(table["parameter"]))
    colours = {p: OKABE_ITO[i % len(OKABE_ITO)] for i, p in enumerate(params)}
    for yi, (_, row) in zip(y, table.iterrows(), strict=True):
        colour = colours[row["parameter"]]
        ax.plot([row["lower"], row["upper"]], [yi, yi], color=colour, lw=2.2, gid="effects")
        ax.plot(row["median"], yi, "o", color=colour, ms=6, gid="effects")
    ax.axvline(0.0, color="0.45", lw=1.0, ls="--", gid="reference")
    labels = [f"{r.parameter} ({'log ratio' if r.effect == 'log_ratio' else 'diff.'}): "
              f"{r.group} vs {r.reference}" for r in table.itertuples()]
    ax.set_yticks(y, labels)
    ax.set_ylim(y.min() - 0.7, y.max() + 0.7)
    lvl = table["level"].iloc[0]
    ax.set_xlabel(f"effect relative to group {table['reference'].iloc[0]!r} "
                  f"(median and {lvl:.0%} interval)")
    ax.set_title("group effects: offsets as log ratios at the design centre, exponents as "
                 "differences", fontsize="medium")
    return ax


def _compute_grid(C_range: tuple[float, float], num: int) -> np.ndarray:  # noqa: N803
    lo, hi = (float(x) for x in C_range)
    if not 0 < lo < hi:
        raise ValueError(f"C_range must be (low, high) with 0 < low < high, got {C_range!r}")
    return np.geomspace(lo, hi, num)


def plot_loss_difference(
    fit: ScalingFit,
    a: str,
    b: str,
    C_range: tuple[float, float] = (1e18, 1e27),  # noqa: N803
    *,
    ax: Any = None,
    num: int = 60,
    relative: bool = False,
) -> Any:
    """``L_b - L_a`` (each group at its own compute-optimal allocation) vs compute, with bands.

    Below zero, ``b`` is better. ``relative=True`` plots ``L_b / L_a - 1``
    instead. The range of the fitted runs is shaded white, extrapolation grey.
    """
    a, b = check_pair(fit, a, b)
    grid = _compute_grid(C_range, num)
    loss_a, loss_b, _ = pair_draws(fit, a, b, grid)
    diff = loss_b / loss_a - 1.0 if relative else loss_b - loss_a
    ax = _axes(ax)
    _extrapolation_shading(ax, fit, grid)
    _bands(ax, grid, diff, OKABE_ITO[0], label=f"{b} − {a}" if not relative else f"{b} / {a} − 1")
    ax.axhline(0.0, color="0.45", lw=1.0, ls="--", gid="reference")
    ax.set_xscale("log")
    ax.set_xlim(grid[0], grid[-1])
    ax.set_xlabel(f"compute C (FLOPs, C = {fit.runs.flops_factor:g} N D)")
    ax.set_ylabel("relative loss difference" if relative else "loss difference (nats/token)")
    p_better = np.mean(diff < 0, axis=0)
    ax.set_title(f"{b} vs {a} at compute-optimal allocation: P({b} better) "
                 f"{p_better[0]:.2f} at {grid[0]:.0e}, {p_better[-1]:.2f} at {grid[-1]:.0e}",
                 fontsize="medium")
    ax.legend(loc="best", fontsize="small")
    return ax


def plot_compute_multiplier(
    fit: ScalingFit,
    a: str,
    b: str,
    C_range: tuple[float, float] = (1e18, 1e27),  # noqa: N803
    *,
    ax: Any = None,
    num: int = 60,
) -> Any:
    """Compute ``b`` needs to reach ``a``'s compute-optimal loss at C, as a multiple of C.

    Below 1, ``b`` is more compute-efficient (a multiplier of 0.5 means ``b``
    gets there with half the compute). Draws in which ``b`` never reaches
    ``a``'s loss are left out of the bands; the share is in the title.
    """
    a, b = check_pair(fit, a, b)
    grid = _compute_grid(C_range, num)
    _, _, multiplier = pair_draws(fit, a, b, grid)
    ax = _axes(ax)
    _extrapolation_shading(ax, fit, grid)
    _bands(ax, grid, multiplier, OKABE_ITO[2], label=f"compute multiplier of {b} vs {a}")
    ax.axhline(1.0, color="0.45", lw=1.0, ls="--", gid="reference")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(grid[0], grid[-1])
    ax.set_xlabel(f"compute C of {a} (FLOPs)")
    ax.set_ylabel(f"compute {b} needs / C")
    unreachable = float(np.mean(~np.isfinite(multiplier)))
    ax.set_title(f"compute {b} needs to match {a}'s loss"
                 + (f" ({unreachable:.0%} of draws never reach it)" if unreachable else ""),
                 fontsize="medium")
    ax.legend(loc="best", fontsize="small")
    return ax


def _extrapolation_shading(ax: Any, fit: ScalingFit, grid: np.ndarray) -> None:
    """Grey outside the compute range of the fitted runs (the curves there are extrapolated)."""
    if "C" not in fit.runs.frame.columns:
        return
    c_min, c_max = float(fit.runs.C.min()), float(fit.runs.C.max())
    if grid[0] < c_min:
        ax.axvspan(grid[0], c_min, color="0.93", lw=0, zorder=0, gid="extrapolation")
    if grid[-1] > c_max:
        ax.axvspan(c_max, grid[-1], color="0.93", lw=0, zorder=0, gid="extrapolation")
