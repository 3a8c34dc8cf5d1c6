"""Figures that check a fit: posterior pairs and residuals."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ..results.scaling_fit import ScalingFit
from .style import (
    EXTRAPOLATION_GREY,
    GREY,
    OKABE_ITO,
    axes_grid,
    law_label,
    noise_log_draws,
    okabe_ito_cycle,
    plain_log_axis,
    sci_log_axis,
)


# ------------------------------------------------------------ arviz-plots figures
def display_draws(values: np.ndarray, name: str, log_names: Sequence[str]) -> tuple[str, Any]:
    if name in log_names:
        return f"log10 {name}", np.log10(values)
    return name, values


def default_var_names(fit: ScalingFit, var_names: Sequence[str] | None) -> list[str]:
    if var_names is None:
        return list(fit.law.param_names)
    names = [var_names] if isinstance(var_names, str) else list(var_names)
    available = set(fit.posterior["posterior"].data_vars)
    unknown = [n for n in names if n not in available]
    if unknown:
        raise ValueError(f"var_names: {unknown} not in the posterior; available: "
                         f"{sorted(available)}")
    return names


def plot_posterior_pairs(
    fit: ScalingFit,
    var_names: Sequence[str] | None = None,
    *,
    log_offsets: bool = True,
    figsize: tuple[float, float] | None = None,
    **kwargs: Any,
) -> Any:
    """Pair plot of posterior draws (``arviz_plots.plot_pair``), divergences marked.

    Parameters
    ----------
    fit : ScalingFit
    var_names : sequence of str, optional
        Posterior variables (default: the law's parameters, e.g. E, A, alpha, B, beta).
    log_offsets : bool, default True
        Show the law's scale parameters (``A``, ``B``) as ``log10``: the
        ``log A``-``alpha`` ridge is then a straight line instead of a banana.
    figsize : (float, float), optional
        Inches; default 2 inches per variable.
    **kwargs
        Passed to :func:`arviz_plots.plot_pair` (e.g. ``marginal_kind="hist"``).

    Returns
    -------
    matplotlib.figure.Figure
    """
    import arviz_base as azb
    import arviz_plots as azp

    names = default_var_names(fit, var_names)
    log_names = fit.law.log_scale_params if log_offsets else ()
    post = fit.posterior["posterior"]
    data = dict(display_draws(post[n].values, n, log_names) for n in names)
    groups = {"posterior": data}
    if "sample_stats" in fit.posterior.children:
        groups["sample_stats"] = {"diverging": fit.posterior["sample_stats"]["diverging"].values}
    tree = azb.from_dict(groups)
    size = figsize or (2.0 * len(names) + 0.6, 2.0 * len(names) + 0.2)
    kwargs.setdefault("visuals", {"divergence": True, "scatter": {"size": 5, "alpha": 0.35}})
    with okabe_ito_cycle():
        matrix = azp.plot_pair(tree, var_names=list(data), backend="matplotlib",
                               figure_kwargs={"figsize": size, "layout": "constrained"},
                               **kwargs)
    fig = matrix.get_viz("figure")
    num_div = int(groups.get("sample_stats", {}).get("diverging", np.zeros(1)).sum())
    fig.suptitle(f"posterior of the {law_label(fit)} law ({fit.num_draws} draws, "
                 f"{num_div} divergent)", fontsize="medium")
    return fig


# -------------------------------------------------------------------- residuals
def plot_residuals(
    fit: ScalingFit,
    *,
    level: float = 0.9,
    seed: int | None = None,
    axes: Any = None,
) -> Any:
    """Residuals of log-loss and posterior-predictive checks, one run per point.

    Residual = ``log(observed loss) - median over draws of log L(run)``: a
    residual of 0.01 is a 1% error. Panels: residuals vs each of N, D, C
    present in the runs table and vs the fitted loss (with the ``level``
    observation-noise band ``+- z sigma`` and a binned median in orange to
    show systematic curvature); the ``level`` posterior-predictive interval of
    each run (sorted by fitted loss) with the observed value (runs outside in
    vermillion, coverage in the title); and the PIT histogram
    ``P(replicated log-loss <= observed)`` (flat if calibrated, with the 90%
    band of a uniform histogram).

    Parameters
    ----------
    fit : ScalingFit
    level : float, default 0.9
        Mass of the predictive interval and of the noise band.
    seed : int, optional
        Seed of the replicated observation noise (default: the fit's seed + 1).
    axes : sequence of Axes, optional
        As many as panels (3 + number of size columns), e.g. from
        ``plt.subplots(2, 3)``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    frame = fit.runs.frame
    sizes = [n for n in ("N", "D", "C") if n in frame.columns]
    fig, panels = axes_grid(axes, len(sizes) + 3, 3, (4.0, 3.3))
    inputs = {n: fit.runs.column(n) for n in fit.law.inputs}
    log_curve = np.log(fit.predict_draws(**inputs))
    fitted = np.median(log_curve, axis=0)
    observed = np.log(fit.runs.loss)
    resid = observed - fitted
    sigma = float(np.median(fit.draws("sigma")))
    from statistics import NormalDist

    z = NormalDist().inv_cdf(0.5 + level / 2)
    colour = OKABE_ITO[0]

    def residual_panel(ax, x, xlabel, plain=False):
        ax.axhspan(-z * sigma, z * sigma, color=EXTRAPOLATION_GREY, lw=0, zorder=0,
                   label=f"{level:.0%} noise band (±{z:.2f} σ)").set_gid("noise_band")
        ax.axhline(0, color=GREY, lw=0.8, zorder=1)
        ax.scatter(x, resid, s=9, color=colour, alpha=0.7, edgecolor="none",
                   zorder=3).set_gid("residuals")
        edges = np.quantile(np.log(x), np.linspace(0, 1, 9))
        bins = np.clip(np.searchsorted(edges, np.log(x), side="right") - 1, 0, 7)
        centres = [np.exp(np.median(np.log(x[bins == b]))) for b in range(8) if np.any(bins == b)]
        medians = [np.median(resid[bins == b]) for b in range(8) if np.any(bins == b)]
        ax.plot(centres, medians, color=OKABE_ITO[1], lw=1.6, marker="o", ms=3, zorder=4,
                label="binned median")[0].set_gid("binned_median")
        if plain:
            plain_log_axis(ax, "x")
        else:
            sci_log_axis(ax, "x")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("log-loss residual (obs − fit)")

    labels = {"N": "model size N (parameters)", "D": "training data D (tokens)",
              "C": "training compute C (FLOPs)"}
    for ax, name in zip(panels, sizes, strict=False):
        residual_panel(ax, fit.runs.column(name), labels[name])
    ax_fit = panels[len(sizes)]
    residual_panel(ax_fit, np.exp(fitted), "fitted loss (nats/token)", plain=True)
    panels[0].legend(loc="upper right", fontsize="x-small", frameon=True, framealpha=0.9,
                     edgecolor="none")
    ymax = 1.15 * max(float(np.max(np.abs(resid))), z * sigma)
    for ax in panels[: len(sizes) + 1]:
        ax.set_ylim(-ymax, ymax)

    # Posterior-predictive intervals, one run per x, sorted by fitted loss.
    log_rep = log_curve + noise_log_draws(fit, log_curve.shape, seed)
    tail = (1 - level) / 2
    lo, hi = np.quantile(log_rep, [tail, 1 - tail], axis=0)
    order = np.argsort(fitted)
    rank = np.arange(len(order))
    inside = (observed >= lo) & (observed <= hi)
    ax_ppc = panels[len(sizes) + 1]
    ax_ppc.vlines(rank, (lo - fitted)[order], (hi - fitted)[order], color="0.75", lw=1.0,
                  label=f"{level:.0%} predictive interval").set_gid("ppc_intervals")
    ok = inside[order]
    ax_ppc.scatter(rank[ok], resid[order][ok], s=7, color=colour, zorder=3,
                   label="observed, inside").set_gid("ppc_inside")
    ax_ppc.scatter(rank[~ok], resid[order][~ok], s=14, color=OKABE_ITO[3], zorder=4,
                   marker="x", label="observed, outside").set_gid("ppc_outside")
    ax_ppc.axhline(0, color=GREY, lw=0.8)
    ax_ppc.set_xlabel("run (sorted by fitted loss)")
    ax_ppc.set_ylabel("log-loss − fitted")
    ax_ppc.set_title(f"{level:.0%} predictive interval per run (grey): {inside.mean():.0%} of "
                     f"{len(inside)}\nobserved inside (dots), outside (\u00d7)", fontsize="small")
    ax_ppc.set_ylim(-ymax, ymax)

    # PIT histogram.
    pit = np.mean(log_rep <= observed[None, :], axis=0)
    num_bins = 10
    ax_pit = panels[len(sizes) + 2]
    expected = len(pit) / num_bins
    half = NormalDist().inv_cdf(0.95) * np.sqrt(len(pit) * (1 / num_bins) * (1 - 1 / num_bins))
    ax_pit.hist(pit, bins=np.linspace(0, 1, num_bins + 1), color=colour, alpha=0.6,
                edgecolor="white", label="runs")[2][0].set_gid("pit_hist")
    ax_pit.axhline(expected, color="k", lw=0.9, zorder=3, label="expected")
    for edge in (expected - half, expected + half):
        ax_pit.axhline(edge, color="k", lw=0.9, ls="--", zorder=3,
                       label="90% range" if edge < expected else None)
    ax_pit.lines[-1].set_gid("pit_band")
    ax_pit.set_xlim(0, 1)
    ax_pit.set_xlabel("PIT = P(replicated ≤ observed)")
    ax_pit.set_ylabel("number of runs")
    ax_pit.set_title("PIT histogram (flat if calibrated)", fontsize="small")
    ax_pit.set_ylim(0, max(expected + half, np.histogram(pit, bins=num_bins, range=(0, 1))[0].max())
                    * 1.35)
    ax_pit.legend(loc="upper center", fontsize="x-small", frameon=False, ncols=3)
    fig.suptitle(f"residuals and posterior-predictive checks ({law_label(fit)} law, "
                 f"{fit.likelihood} likelihood, σ ≈ {sigma:.4f})", fontsize="medium")
    return fig
