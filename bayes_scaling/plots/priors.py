"""Figure of prior predictive bands: what a prior implies for losses before seeing data.

Same conventions as :mod:`bayes_scaling.plotting`: data first, options
keyword-only, ``ax=None`` creates a figure, the Axes is returned; bands are
equal-tailed intervals at 50% and 90% (of a new run's loss: observation noise
included); artists carrying the statistical content have a ``gid``
(``"band90"``, ``"band50"``, ``"median"``, ``"runs"``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..models.predictive import PriorPredictive
from .style import OKABE_ITO, get_axes, sci_log_axis

__all__ = ["plot_prior_predictive"]


def _x_axis(pp: PriorPredictive) -> str:
    """Compute when known (joint laws), else the law's single input."""
    if "C" in pp.points:
        return "C"
    return pp.law.inputs[0]


_X_LABELS = {"C": "training compute C (FLOPs)", "N": "parameters N", "D": "training tokens D"}


def plot_prior_predictive(
    pp: PriorPredictive | Mapping[str, PriorPredictive],
    *,
    ax: Any = None,
    show_runs: bool = True,
    spread_dex: float = 0.04,
) -> Any:
    """Prior predictive 50%/90% intervals of each point's loss, against the observed runs.

    Parameters
    ----------
    pp : PriorPredictive or mapping of label -> PriorPredictive
        From :func:`bayes_scaling.priors.prior_predictive`. Several (e.g.
        ``{"default": ..., "literature:chinchilla": ...}``) are drawn side by
        side, each in its colour, at the same points.
    ax : matplotlib Axes, optional
    show_runs : bool
        Draw the observed losses (when the points are runs with losses).
    spread_dex : float
        Horizontal offset (in decades) between the intervals of several priors.

    Returns
    -------
    matplotlib.axes.Axes
        ``ax.figure`` is the Figure.

    Examples
    --------
    >>> import bayes_scaling as bs
    >>> from bayes_scaling import prior_predictive
    >>> runs = bs.example_runs()
    >>> plot_prior_predictive({"default": prior_predictive("chinchilla", runs),
    ...                        "literature": prior_predictive(
    ...                            "chinchilla", runs, priors="literature:chinchilla")})
    <Axes: ...>
    """
    items = dict(pp) if isinstance(pp, Mapping) else {"prior": pp}
    if not items or not all(isinstance(v, PriorPredictive) for v in items.values()):
        raise TypeError("pp must be a PriorPredictive or a non-empty mapping of them "
                        "(from bayes_scaling.priors.prior_predictive)")
    ax = get_axes(ax)
    first = next(iter(items.values()))
    xname = _x_axis(first)
    shifts = (np.arange(len(items)) - (len(items) - 1) / 2) * spread_dex
    for k, ((label, item), shift) in enumerate(zip(items.items(), shifts, strict=True)):
        colour = OKABE_ITO[k % len(OKABE_ITO)]
        x = item.points[xname].to_numpy(dtype=float) * 10.0 ** shift
        lo90, lo50, mid, hi50, hi90 = np.quantile(item.loss_draws, [0.05, 0.25, 0.5, 0.75, 0.95],
                                                  axis=0)
        band90 = ax.vlines(x, lo90, hi90, color=colour, alpha=0.35, lw=1.2,
                           label=f"{label}: 90% prior predictive")
        band50 = ax.vlines(x, lo50, hi50, color=colour, alpha=0.8, lw=2.4,
                           label=f"{label}: 50%")
        (median,) = ax.plot(x, mid, ls="none", marker="_", ms=7, color=colour)
        band90.set_gid("band90")
        band50.set_gid("band50")
        median.set_gid("median")
    if show_runs and "loss" in first.points:
        runs = ax.scatter(first.points[xname], first.points["loss"], s=12, color="black",
                          zorder=4, label="observed runs")
        runs.set_gid("runs")
    ax.set_xscale("log")
    ax.set_yscale("log")
    sci_log_axis(ax, "x")
    ax.set_xlabel(_X_LABELS.get(xname, xname))
    ax.set_ylabel("final loss (nats/token)")
    ax.set_title(f"Prior predictive: {first.law.name} law, before seeing the losses")
    ax.legend(fontsize="small", frameon=False)
    return ax
