"""Figures of the compute-optimal allocation: iso-FLOP profiles and the frontier."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ..results.scaling_fit import ScalingFit
from .._lazy import lazy_import
from ..laws import get_law
from ..laws.allocation import log_optimal_allocation
from .style import (
    CHINCHILLA_TOKENS_PER_PARAM,
    EXTRAPOLATION_GREY,
    GREY,
    LOSS_LABEL,
    OKABE_ITO,
    axes_grid,
    draw_bands,
    get_axes,
    law_label,
    plain_log_axis,
    requires_joint,
    sci_label,
    sci_log_axis,
)

matplotlib = lazy_import("matplotlib")  # imported when a figure is drawn


def _budget_groups(log_compute: np.ndarray, tol_dex: float = 0.05) -> np.ndarray:
    """Cluster runs into compute budgets: sorted log10 C split where gaps exceed ``tol_dex``."""
    order = np.argsort(log_compute)
    labels = np.empty(len(log_compute), dtype=int)
    current = 0
    for rank, index in enumerate(order):
        if rank and log_compute[index] - log_compute[order[rank - 1]] > tol_dex:
            current += 1
        labels[index] = current
    return labels


def _isoflop_budgets(fit: ScalingFit, min_runs: int = 3) -> list[tuple[float, np.ndarray]]:
    """``[(budget, run indices)]`` for budgets with at least ``min_runs`` runs, by budget."""
    compute = fit.runs.C
    labels = _budget_groups(np.log10(compute))
    out = []
    for label in np.unique(labels):
        idx = np.flatnonzero(labels == label)
        if len(idx) >= min_runs:
            out.append((float(np.exp(np.mean(np.log(compute[idx])))), idx))
    return sorted(out, key=lambda item: item[0])


# ------------------------------------------------------------ iso-FLOP profiles
def plot_isoflop_profiles(
    fit: ScalingFit,
    *,
    budgets: Any = None,
    level: float = 0.9,
    ax: Any = None,
    extrapolation: Any = "field",
) -> Any:
    """Loss vs model size along each iso-FLOP line, with the posterior of ``N_opt``.

    Runs are grouped into compute budgets by clustering ``log10 C`` (gaps wider
    than 0.05 decades split budgets; budgets with fewer than 3 runs are left
    out). For each budget the posterior median of ``L(N, C/(kN))`` is drawn
    with its credible band at ``level``, and the posterior of the
    compute-optimal size ``N_opt`` is marked: median (diamond) and
    equal-tailed interval (horizontal bar) at the median optimal loss.

    Parameters
    ----------
    fit : ScalingFit
        A fit of a law of N and D.
    budgets : array-like, optional
        Budgets (FLOPs) to draw; observed budgets show their runs, others only
        the posterior curve (e.g. a budget 10x beyond the data). Default: every
        observed budget.
    level : float, default 0.9
        Mass of the credible band and of the ``N_opt`` interval.
    ax : matplotlib Axes, optional
    extrapolation : {"field", "none", ...}, default "field"
        The ``N_opt`` interval of a budget beyond the fitted runs, as in
        :meth:`~bayes_scaling.ScalingFit.optimal_allocation` (``"none"``: the plain
        posterior interval).

    Returns
    -------
    matplotlib.axes.Axes
    """
    requires_joint(fit, "plot_isoflop_profiles")
    ax = get_axes(ax, figsize=(7.6, 4.6))
    observed = _isoflop_budgets(fit)
    if budgets is None:
        if not observed:
            raise ValueError("no iso-FLOP lines found (no budget with 3 or more runs); pass "
                             "budgets=[...] to draw posterior profiles at chosen budgets")
        budgets = [c for c, _ in observed]
    budgets = np.sort(np.atleast_1d(np.asarray(budgets, dtype=float)))
    k = fit.runs.flops_factor
    runs_n, runs_loss = fit.runs.N, fit.runs.loss
    alloc = fit.allocation_draws(budgets, extrapolation=extrapolation)
    tail = (1 - level) / 2
    n_opt = np.quantile(alloc["N_opt"], [tail, 0.5, 1 - tail], axis=0)
    loss_opt = np.median(alloc["loss_opt"], axis=0)
    colours = matplotlib.colormaps["viridis"](np.linspace(0.0, 0.88, len(budgets)))
    for i, c in enumerate(budgets):
        colour = colours[i]
        match = [idx for obs_c, idx in observed if abs(np.log10(obs_c / c)) < 0.05]
        if match:
            idx = match[0]
            lo, hi = runs_n[idx].min() / 1.4, runs_n[idx].max() * 1.4
            ax.scatter(runs_n[idx], runs_loss[idx], color=colour, s=14, edgecolor="none",
                       zorder=4).set_gid("runs")
        else:
            lo, hi = n_opt[1, i] / 30, n_opt[1, i] * 30
        grid = np.geomspace(lo, hi, 90)
        draws = fit.predict_draws(N=grid, D=c / (k * grid))
        q = np.quantile(draws, [tail, 0.5, 1 - tail], axis=0)
        ax.fill_between(grid, q[0], q[2], color=colour, alpha=0.22, lw=0).set_gid("band")
        ax.plot(grid, q[1], color=colour, lw=1.5, zorder=3, label=sci_label(c),
                ls="-" if match else "--")[0].set_gid("median")
        ax.errorbar(n_opt[1, i], loss_opt[i], xerr=[[n_opt[1, i] - n_opt[0, i]],
                                                     [n_opt[2, i] - n_opt[1, i]]],
                    fmt="D", ms=5, mfc="white", mec=colour, mew=1.4, ecolor="k",
                    elinewidth=1.1, capsize=2.5, zorder=6)[0].set_gid("n_opt")
    handles, labels = ax.get_legend_handles_labels()
    generic = [
        matplotlib.lines.Line2D([], [], color=GREY, lw=1.5),
        matplotlib.patches.Patch(color=GREY, alpha=0.3, lw=0),
        matplotlib.lines.Line2D([], [], marker="D", ms=5, mfc="white", mec=GREY, color="k",
                                lw=1.1),
    ]
    generic_labels = ["posterior median", f"{level:.0%} credible band",
                      f"$N_{{opt}}$: median, {level:.0%} interval"]
    ax.legend(handles + generic, labels + generic_labels, title="budget C (FLOPs)",
              loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small",
              title_fontsize="small", frameon=False)
    sci_log_axis(ax, "x")
    plain_log_axis(ax, "y")
    ax.set_xlabel(f"model size N (parameters; D = C / ({k:g} N) tokens)")
    ax.set_ylabel(LOSS_LABEL)
    ax.set_title("iso-FLOP profiles", fontsize="medium")
    return ax


# --------------------------------------------------------------------- frontier
def _reference_allocation(spec: Mapping[str, Any], compute: np.ndarray,
                          flops_factor: float) -> tuple[np.ndarray, np.ndarray]:
    import jax.numpy as jnp
    from jax import enable_x64

    spec = dict(spec)
    law = get_law(spec.pop("law", "chinchilla"))
    missing = set(law.param_names) - set(spec)
    if missing:
        raise ValueError(f"reference law: parameters {sorted(missing)} of the {law.name} law "
                         f"are missing; got {sorted(spec)}")
    with enable_x64(True):
        params = {k: jnp.asarray([float(spec[k])]) for k in law.param_names}
        log_n, log_d, _ = log_optimal_allocation(law, params, jnp.log(jnp.asarray(compute)),
                                                 float(np.log(flops_factor)))
    return np.exp(np.asarray(log_n))[0], np.exp(np.asarray(log_d))[0]


def plot_frontier(
    fit: ScalingFit,
    *,
    C_range: tuple[float, float] = (1e18, 1e26),  # noqa: N803
    reference_laws: Mapping[str, Mapping[str, Any]] | None = None,
    num_points: int = 120,
    axes: Any = None,
    extrapolation: Any = "field",
) -> Any:
    """Compute-optimal ``N_opt(C)``, ``D_opt(C)`` and tokens per parameter, with bands.

    Per posterior draw the allocation minimising the law along ``C = k N D``
    (closed form for the Chinchilla law); lines are posterior medians, bands
    50% and 90% equal-tailed. The fitted compute range is shaded; the
    lowest-loss run of each iso-FLOP line is marked (an Approach-2-style
    empirical optimum); dashed grey: the "20 tokens per parameter" rule.

    Parameters
    ----------
    fit : ScalingFit
        A fit of a law of N and D.
    C_range : (float, float)
        Compute range in FLOPs.
    reference_laws : mapping, optional
        Published laws to overlay: ``{name: params}`` where ``params`` holds the
        law's parameters (Chinchilla form by default, e.g.
        ``{"Hoffmann et al. 2022": {"E": 1.69, "A": 406.4, "alpha": 0.34,
        "B": 410.7, "beta": 0.28}}``) and optionally ``"law": "kaplan"``.
        Drawn with their (closed-form or numerical) optimal allocation.
    num_points : int
        Resolution of the curves.
    axes : sequence of 3 Axes, optional
    extrapolation : {"field", "none", ...}, default "field"
        Beyond the fitted runs the bands include the allocation discrepancy of
        :meth:`~bayes_scaling.ScalingFit.optimal_allocation` (they widen in a step at
        the largest fitted run); ``"none"``: the plain posterior bands.

    Returns
    -------
    matplotlib.figure.Figure
    """
    requires_joint(fit, "plot_frontier")
    fig, (ax_n, ax_d, ax_r) = axes_grid(axes, 3, 3, (4.3, 3.9))
    k = fit.runs.flops_factor
    grid = np.geomspace(float(C_range[0]), float(C_range[1]), num_points)
    alloc = fit.allocation_draws(grid, extrapolation=extrapolation)
    colour = OKABE_ITO[0]
    keys = ("N_opt", "D_opt", "tokens_per_param")
    for ax, key in zip((ax_n, ax_d, ax_r), keys, strict=True):
        draw_bands(ax, grid, alloc[key], colour, label="posterior median" if ax is ax_n else None)
        c_runs = fit.runs.C
        ax.axvspan(c_runs.min(), c_runs.max(), color=EXTRAPOLATION_GREY, lw=0, zorder=0,
                   label="fitted budgets" if ax is ax_n else None).set_gid("fitted_range")

    rule = CHINCHILLA_TOKENS_PER_PARAM
    n_rule = np.sqrt(grid / (k * rule))
    rule_kw = {"color": GREY, "lw": 1.2, "ls": "--", "zorder": 2}
    ax_n.plot(grid, n_rule, label=f"{rule:g} tokens per parameter", **rule_kw)
    ax_d.plot(grid, rule * n_rule, **rule_kw)
    ax_r.axhline(rule, **rule_kw)
    for ax in (ax_n, ax_d, ax_r):
        ax.lines[-1].set_gid("rule_20")

    best = _isoflop_budgets(fit)
    if best:
        pick = np.array([idx[np.argmin(fit.runs.loss[idx])] for _, idx in best])
        c_best = np.array([c for c, _ in best])
        n_best, d_best = fit.runs.N[pick], fit.runs.D[pick]
        mk = {"marker": "o", "s": 16, "color": "k", "zorder": 5}
        ax_n.scatter(c_best, n_best, label="lowest-loss run per budget", **mk).set_gid("best_runs")
        ax_d.scatter(c_best, d_best, **mk).set_gid("best_runs")
        ax_r.scatter(c_best, d_best / n_best, **mk).set_gid("best_runs")

    styles = ("-.", (0, (5, 1.5, 1, 1.5, 1, 1.5)), ":", (0, (8, 2)))
    ref_colours = (OKABE_ITO[1], OKABE_ITO[2], OKABE_ITO[4], OKABE_ITO[5])
    for i, (name, spec) in enumerate((reference_laws or {}).items()):
        n_ref, d_ref = _reference_allocation(spec, grid, k)
        kw = {"color": ref_colours[i % 4], "ls": styles[i % 4], "lw": 1.6, "zorder": 3}
        ax_n.plot(grid, n_ref, label=name, **kw)
        ax_d.plot(grid, d_ref, **kw)
        ax_r.plot(grid, d_ref / n_ref, **kw)
        for ax in (ax_n, ax_d, ax_r):
            ax.lines[-1].set_gid("reference")

    labels = ("compute-optimal model size $N_{opt}$ (parameters)",
              "compute-optimal data $D_{opt}$ (tokens)",
              "tokens per parameter $D_{opt} / N_{opt}$")
    for ax, label in zip((ax_n, ax_d, ax_r), labels, strict=True):
        sci_log_axis(ax, "x")
        ax.set_xlim(grid[0], grid[-1])
        ax.set_xlabel("training compute C (FLOPs)")
        ax.set_ylabel(label)
    sci_log_axis(ax_n, "y")
    sci_log_axis(ax_d, "y")
    plain_log_axis(ax_r, "y")
    ax_n.legend(loc="upper left", fontsize="small", frameon=False)
    fig.suptitle(f"compute-optimal allocation ({law_label(fit)} law, C = {k:g} N D; "
                 "bands: 50% and 90% credible)", fontsize="medium")
    return fig
