"""Matplotlib figures of fits, in the style of the scaling-law papers, with bands.

Every figure function takes a fit first, options keyword-only, and ``ax=None``
(or ``axes=None`` for multi-panel figures): when none is given a new figure of a
fixed size is created. Functions drawing on one Axes return it; multi-panel
figures return the Figure.

==========================  ================================================================
:func:`plot_loss_vs_compute`  runs, compute-optimal frontier with 50%/90% bands, extrapolation
:func:`plot_isoflop_profiles` loss vs model size per compute budget, posterior of ``N_opt``
:func:`plot_frontier`         ``N_opt(C)``, ``D_opt(C)``, tokens per parameter over decades
:func:`plot_posterior_pairs`  pair plot of the law's parameters (arviz-plots)
:func:`plot_prior_posterior`  prior vs posterior marginals (arviz-plots)
:func:`plot_residuals`        log-loss residuals vs N, D, C, fitted loss; predictive checks
:func:`plot`                  dispatcher: ``plot(fit, kind="loss"|"isoflop"|...)``
==========================  ================================================================

Conventions
-----------
* Bands are equal-tailed posterior intervals of the *curve* (parameter
  uncertainty) at 50% and 90%; "predictive" intervals add the observation noise
  of a single new run (what a held-out run's loss should fall in).
* Colours: the Okabe & Ito (2008) colour-blind-safe palette for categories and
  the ``cividis``/``viridis`` maps for ordered quantities (model size, budget).
* Everything is deterministic given the fit (and ``seed`` where observation
  noise is simulated), and works headless with the Agg backend.
* Artists that carry the statistical content have a ``gid`` (``"band90"``,
  ``"band50"``, ``"median"``, ``"runs"``, ...) so tests and users can find them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import matplotlib
import matplotlib.ticker as mticker
import numpy as np

if TYPE_CHECKING:
    from .fit import ScalingFit

__all__ = [
    "OKABE_ITO",
    "KINDS",
    "plot",
    "plot_loss_vs_compute",
    "plot_isoflop_profiles",
    "plot_frontier",
    "plot_posterior_pairs",
    "plot_prior_posterior",
    "plot_residuals",
]

#: Okabe & Ito (2008) colour-blind-safe palette: blue, orange, bluish green,
#: vermillion, reddish purple, sky blue, yellow, black.
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442",
             "#000000")

_BAND_LEVELS = (0.5, 0.9)
_GREY = "0.45"
_EXTRAPOLATION_GREY = "0.93"
#: Tokens per parameter of the Chinchilla rule of thumb (Hoffmann et al. 2022).
_CHINCHILLA_TOKENS_PER_PARAM = 20.0


# ----------------------------------------------------------------------- helpers
def _pyplot():
    import matplotlib.pyplot as plt

    return plt


def _axes(ax: Any, figsize: tuple[float, float] = (6.4, 4.4)) -> Any:
    if ax is not None:
        return ax
    _, ax = _pyplot().subplots(figsize=figsize, layout="constrained")
    return ax


def _axes_grid(axes: Any, num: int, ncols: int, panel_size: tuple[float, float]) -> tuple:
    """``(figure, flat list of num Axes)``, creating a figure when ``axes`` is None."""
    if axes is not None:
        flat = list(np.ravel(np.asarray(axes, dtype=object)))
        if len(flat) < num:
            raise ValueError(f"axes: expected at least {num} Axes, got {len(flat)}; pass "
                             f"axes=None to create a figure")
        return flat[0].figure, flat[:num]
    nrows = int(np.ceil(num / ncols))
    fig, grid = _pyplot().subplots(nrows, ncols, figsize=(panel_size[0] * ncols,
                                                          panel_size[1] * nrows),
                                   layout="constrained", squeeze=False)
    flat = list(grid.ravel())
    for extra in flat[num:]:
        extra.remove()
    return fig, flat[:num]


class _PlainLogLocator(mticker.Locator):
    """Ticks for a log axis labelled with plain numbers (loss, tokens per parameter).

    Less than about a decade of range: "nice" linearly spaced values (2.0, 2.5,
    3.0); wider: 1-2-5 per decade, or decades only beyond three decades.
    """

    def __call__(self):
        vmin, vmax = self.axis.get_view_interval()
        return self.tick_values(vmin, vmax)

    def tick_values(self, vmin, vmax):
        vmin, vmax = sorted((float(vmin), float(vmax)))
        if vmax <= 0:
            return np.array([])
        vmin = vmin if vmin > 0 else vmax / 10
        ratio = vmax / vmin
        if ratio < 6:
            ticks = mticker.MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]).tick_values(vmin, vmax)
            return ticks[ticks > 0]
        subs = (1.0, 2.0, 5.0) if ratio < 1e3 else (1.0,)
        return mticker.LogLocator(base=10, subs=subs).tick_values(vmin, vmax)


def _plain_log_axis(ax: Any, which: str = "y") -> None:
    axis = ax.yaxis if which == "y" else ax.xaxis
    (ax.set_yscale if which == "y" else ax.set_xscale)("log")
    axis.set_major_locator(_PlainLogLocator())
    axis.set_major_formatter(mticker.FuncFormatter(lambda v, _: f"{v:.4g}"))
    axis.set_minor_locator(mticker.NullLocator())


def _sci_log_axis(ax: Any, which: str = "x") -> None:
    """Log scale with 10^k labels on decades (matplotlib's scientific formatter)."""
    axis = ax.xaxis if which == "x" else ax.yaxis
    (ax.set_xscale if which == "x" else ax.set_yscale)("log")
    axis.set_major_locator(mticker.LogLocator(base=10, numticks=12))
    axis.set_major_formatter(mticker.LogFormatterSciNotation())
    axis.set_minor_locator(mticker.LogLocator(base=10, subs=np.arange(2, 10), numticks=12))
    axis.set_minor_formatter(mticker.NullFormatter())


def _sci_label(value: float) -> str:
    """``6e18`` -> ``$6\\times10^{18}$`` (mathtext)."""
    mantissa, exponent = f"{value:.1e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    exponent = int(exponent)
    if mantissa == "1":
        return f"$10^{{{exponent}}}$"
    return f"${mantissa}\\times10^{{{exponent}}}$"


def _compute_label(fit: ScalingFit) -> str:
    return f"training compute C (FLOPs, C = {fit.runs.flops_factor:g} N D)"


_LOSS_LABEL = "final loss (nats/token)"


def _quantile_bands(draws: np.ndarray) -> dict[str, np.ndarray]:
    lo90, lo50, mid, hi50, hi90 = np.quantile(draws, [0.05, 0.25, 0.5, 0.75, 0.95], axis=0)
    return {"lo90": lo90, "lo50": lo50, "median": mid, "hi50": hi50, "hi90": hi90}


def _draw_bands(ax: Any, x: np.ndarray, draws: np.ndarray, colour: str, *, label: str | None,
                bands: bool = True, lw: float = 1.8) -> dict[str, Any]:
    """Median line with 50% and 90% equal-tailed bands of ``draws`` (shape (S, len(x)))."""
    q = _quantile_bands(draws)
    artists = {}
    if bands:
        artists["band90"] = ax.fill_between(x, q["lo90"], q["hi90"], color=colour, alpha=0.18,
                                            lw=0, label="90% credible band" if label else None)
        artists["band50"] = ax.fill_between(x, q["lo50"], q["hi50"], color=colour, alpha=0.38,
                                            lw=0, label="50% credible band" if label else None)
        artists["band90"].set_gid("band90")
        artists["band50"].set_gid("band50")
    (artists["median"],) = ax.plot(x, q["median"], color=colour, lw=lw, label=label, zorder=3)
    artists["median"].set_gid("median")
    return artists


def _law_label(fit: ScalingFit) -> str:
    """``chinchilla``, ``kaplan``, ``power_law(C)``: the law's name and its options."""
    options = [str(v) for k, v in fit.law.spec().items() if k != "name"]
    return fit.law.name + (f"({', '.join(options)})" if options else "")


def _requires_joint(fit: ScalingFit, what: str) -> None:
    if not set(fit.law.inputs) >= {"N", "D"}:
        raise ValueError(
            f"{what} needs a law of both N and D (e.g. 'chinchilla' or 'kaplan'); this fit's "
            f"{_law_label(fit)} law depends on {', '.join(fit.law.inputs)} only"
        )


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


def _noise_log_draws(fit: ScalingFit, shape: tuple[int, int], seed: int | None) -> np.ndarray:
    """Observation-noise draws of log-loss, one row per posterior draw (NumPy, seeded)."""
    rng = np.random.default_rng(fit.seed + 1 if seed is None else seed)
    sigma = fit.draws("sigma")[:, None]
    if fit.likelihood == "student_t":
        eps = rng.standard_t(fit.draws("nu")[:, None], size=shape)
    else:
        eps = rng.standard_normal(shape)
    return eps * sigma


def _runs_table_like(obj: Any) -> dict[str, np.ndarray] | None:
    """Columns of a DataFrame/mapping of run sizes, or None for a plain list of budgets."""
    if hasattr(obj, "columns") or isinstance(obj, Mapping):
        return {str(k): np.atleast_1d(np.asarray(obj[k], dtype=float)) for k in
                (obj.columns if hasattr(obj, "columns") else obj.keys())
                if str(k) in ("N", "D", "C", "loss")}
    return None


# ----------------------------------------------------------- loss vs compute
def plot_loss_vs_compute(
    fit: ScalingFit,
    *,
    C_max: float | None = None,  # noqa: N803 - the field's notation
    targets: Any = None,
    seed: int | None = None,
    ax: Any = None,
) -> Any:
    """Observed runs, the posterior compute-optimal frontier with bands, extrapolation shaded.

    The frontier is, per posterior draw, the loss at the compute-optimal
    allocation ``L(N_opt(C), D_opt(C))`` (laws of N and D) or ``L(C)`` (laws of
    C alone); the line is its posterior median and the shaded bands its 50% and
    90% equal-tailed credible bands. Runs are coloured by model size. The grey
    region right of the largest fitted run is extrapolation.

    Parameters
    ----------
    fit : ScalingFit
    C_max : float, optional
        Right end of the frontier in FLOPs (default: 100x the largest fitted run).
    targets : array-like or DataFrame, optional
        Where to mark a predicted loss with its 90% credible interval (thick
        bar) and 90% *predictive* interval of one new run (thin bar with caps):

        * an array of budgets ``C``: at the compute-optimal allocation;
        * a DataFrame (or mapping) with two of ``N``, ``D``, ``C``: at those
          sizes; an optional ``loss`` column (e.g. held-out runs) is drawn as
          open circles.
    seed : int, optional
        Seed of the simulated observation noise of predictive intervals
        (default: the fit's seed + 1).
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> ax = plot_loss_vs_compute(fit, targets=[1e23])
    """
    ax = _axes(ax)
    runs = fit.runs.frame
    c_obs, loss = runs["C"].to_numpy(), runs["loss"].to_numpy()
    joint = set(fit.law.inputs) >= {"N", "D"}
    table = _runs_table_like(targets) if targets is not None else None
    c_targets = None
    if targets is not None:
        if table is None:
            c_targets = np.atleast_1d(np.asarray(targets, dtype=float))
        else:
            from .fit import _complete_sizes

            sizes = _complete_sizes(table.get("N"), table.get("D"), table.get("C"),
                                    fit.runs.flops_factor)
            table.update({k: v for k, v in zip("NDC", sizes, strict=True) if v is not None})
            missing = [k for k in set(fit.law.inputs) | {"C"} if k not in table]
            if missing:
                raise ValueError(
                    f"targets: a table needs columns from which {', '.join(sorted(missing))} "
                    f"follow (two of N, D, C); got {sorted(table)}")
            c_targets = table["C"]
    c_hi = float(C_max or 100 * c_obs.max())
    if c_targets is not None:
        c_hi = max(c_hi, 1.5 * float(np.max(c_targets)))
    grid = np.geomspace(c_obs.min() / 2, c_hi, 120)
    if joint:
        curve = fit.allocation_draws(grid)["loss_opt"]
        label = "compute-optimal loss (posterior median)"
    else:
        curve = fit.predict_draws(C=grid)
        label = "posterior median"
    colour = OKABE_ITO[3]
    _draw_bands(ax, grid, curve, colour, label=label)

    if "N" in runs:
        points = ax.scatter(c_obs, loss, c=runs["N"].to_numpy(), cmap="cividis",
                            norm=matplotlib.colors.LogNorm(), s=13, edgecolor="none",
                            zorder=4, label="training runs")
        colorbar = ax.figure.colorbar(points, ax=ax, pad=0.01)
        colorbar.set_label("model size N (parameters)")
    else:
        points = ax.scatter(c_obs, loss, color="k", s=13, zorder=4, label="training runs")
    points.set_gid("runs")

    shade = ax.axvspan(c_obs.max(), c_hi, color=_EXTRAPOLATION_GREY, zorder=0, lw=0)
    shade.set_gid("extrapolation")
    ax.axvline(c_obs.max(), color=_GREY, lw=0.8, ls=":", zorder=1)
    ax.text(c_obs.max() * 1.15, 0.02, "extrapolation \u2192", transform=ax.get_xaxis_transform(),
            ha="left", va="bottom", fontsize="small", color="0.35")

    if c_targets is not None:
        if table is None:
            log_curve = np.log(fit.allocation_draws(c_targets)["loss_opt"]) if joint else \
                np.log(fit.predict_draws(C=c_targets))
        else:
            log_curve = np.log(fit.predict_draws(**{k: table[k] for k in fit.law.inputs}))
        log_pred = log_curve + _noise_log_draws(fit, log_curve.shape, seed)
        mid = np.exp(np.median(log_curve, axis=0))
        cred = np.exp(np.quantile(log_curve, [0.05, 0.95], axis=0))
        pred = np.exp(np.quantile(log_pred, [0.05, 0.95], axis=0))
        bars = ax.errorbar(c_targets, mid, yerr=[mid - pred[0], pred[1] - mid], fmt="none",
                           ecolor="k", elinewidth=0.9, capsize=3, zorder=5,
                           label="prediction: 90% predictive interval")
        bars[2][0].set_gid("target_predictive")
        thick = ax.vlines(c_targets, cred[0], cred[1], color="k", lw=3.2, zorder=5,
                          label="prediction: 90% credible interval")
        thick.set_gid("target_credible")
        ax.scatter(c_targets, mid, marker="D", s=28, color="white", edgecolor="k", zorder=6,
                   lw=1.0).set_gid("target_median")
        if table is not None and "loss" in table:
            ax.scatter(c_targets, table["loss"], marker="o", s=30, facecolor="none",
                       edgecolor=OKABE_ITO[0], lw=1.3, zorder=6,
                       label="held-out runs (observed)").set_gid("target_observed")

    ax.set_xlim(grid[0], c_hi)
    _sci_log_axis(ax, "x")
    _plain_log_axis(ax, "y")
    ax.set_xlabel(_compute_label(fit))
    ax.set_ylabel(_LOSS_LABEL)
    ax.set_title(f"{_law_label(fit)} law fitted to {fit.runs.num_runs} runs", fontsize="medium")
    # Loss falls with compute: the top right (above the frontier) is free of data.
    ax.legend(loc="upper right", fontsize="small", frameon=True, framealpha=0.9,
              edgecolor="none")
    return ax


# ------------------------------------------------------------ iso-FLOP profiles
def plot_isoflop_profiles(
    fit: ScalingFit,
    *,
    budgets: Any = None,
    level: float = 0.9,
    ax: Any = None,
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

    Returns
    -------
    matplotlib.axes.Axes
    """
    _requires_joint(fit, "plot_isoflop_profiles")
    ax = _axes(ax, figsize=(7.6, 4.6))
    observed = _isoflop_budgets(fit)
    if budgets is None:
        if not observed:
            raise ValueError("no iso-FLOP lines found (no budget with 3 or more runs); pass "
                             "budgets=[...] to draw posterior profiles at chosen budgets")
        budgets = [c for c, _ in observed]
    budgets = np.sort(np.atleast_1d(np.asarray(budgets, dtype=float)))
    k = fit.runs.flops_factor
    runs_n, runs_loss = fit.runs.N, fit.runs.loss
    alloc = fit.allocation_draws(budgets)
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
        ax.plot(grid, q[1], color=colour, lw=1.5, zorder=3, label=_sci_label(c),
                ls="-" if match else "--")[0].set_gid("median")
        ax.errorbar(n_opt[1, i], loss_opt[i], xerr=[[n_opt[1, i] - n_opt[0, i]],
                                                     [n_opt[2, i] - n_opt[1, i]]],
                    fmt="D", ms=5, mfc="white", mec=colour, mew=1.4, ecolor="k",
                    elinewidth=1.1, capsize=2.5, zorder=6)[0].set_gid("n_opt")
    handles, labels = ax.get_legend_handles_labels()
    generic = [
        matplotlib.lines.Line2D([], [], color=_GREY, lw=1.5),
        matplotlib.patches.Patch(color=_GREY, alpha=0.3, lw=0),
        matplotlib.lines.Line2D([], [], marker="D", ms=5, mfc="white", mec=_GREY, color="k",
                                lw=1.1),
    ]
    generic_labels = ["posterior median", f"{level:.0%} credible band",
                      f"$N_{{opt}}$: median, {level:.0%} interval"]
    ax.legend(handles + generic, labels + generic_labels, title="budget C (FLOPs)",
              loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small",
              title_fontsize="small", frameon=False)
    _sci_log_axis(ax, "x")
    _plain_log_axis(ax, "y")
    ax.set_xlabel(f"model size N (parameters; D = C / ({k:g} N) tokens)")
    ax.set_ylabel(_LOSS_LABEL)
    ax.set_title("iso-FLOP profiles", fontsize="medium")
    return ax


# --------------------------------------------------------------------- frontier
def _reference_allocation(spec: Mapping[str, Any], compute: np.ndarray,
                          flops_factor: float) -> tuple[np.ndarray, np.ndarray]:
    import jax.numpy as jnp
    from jax import enable_x64

    from .allocation import log_optimal_allocation
    from .laws import get_law

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

    Returns
    -------
    matplotlib.figure.Figure
    """
    _requires_joint(fit, "plot_frontier")
    fig, (ax_n, ax_d, ax_r) = _axes_grid(axes, 3, 3, (4.3, 3.9))
    k = fit.runs.flops_factor
    grid = np.geomspace(float(C_range[0]), float(C_range[1]), num_points)
    alloc = fit.allocation_draws(grid)
    colour = OKABE_ITO[0]
    keys = ("N_opt", "D_opt", "tokens_per_param")
    for ax, key in zip((ax_n, ax_d, ax_r), keys, strict=True):
        _draw_bands(ax, grid, alloc[key], colour, label="posterior median" if ax is ax_n else None)
        c_runs = fit.runs.C
        ax.axvspan(c_runs.min(), c_runs.max(), color=_EXTRAPOLATION_GREY, lw=0, zorder=0,
                   label="fitted budgets" if ax is ax_n else None).set_gid("fitted_range")

    rule = _CHINCHILLA_TOKENS_PER_PARAM
    n_rule = np.sqrt(grid / (k * rule))
    rule_kw = {"color": _GREY, "lw": 1.2, "ls": "--", "zorder": 2}
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
        _sci_log_axis(ax, "x")
        ax.set_xlim(grid[0], grid[-1])
        ax.set_xlabel("training compute C (FLOPs)")
        ax.set_ylabel(label)
    _sci_log_axis(ax_n, "y")
    _sci_log_axis(ax_d, "y")
    _plain_log_axis(ax_r, "y")
    ax_n.legend(loc="upper left", fontsize="small", frameon=False)
    fig.suptitle(f"compute-optimal allocation ({_law_label(fit)} law, C = {k:g} N D; "
                 "bands: 50% and 90% credible)", fontsize="medium")
    return fig


# ------------------------------------------------------------ arviz-plots figures
def _display_draws(values: np.ndarray, name: str, log_names: Sequence[str]) -> tuple[str, Any]:
    if name in log_names:
        return f"log10 {name}", np.log10(values)
    return name, values


def _default_var_names(fit: ScalingFit, var_names: Sequence[str] | None) -> list[str]:
    if var_names is None:
        return list(fit.law.param_names)
    names = [var_names] if isinstance(var_names, str) else list(var_names)
    available = set(fit.posterior["posterior"].data_vars)
    unknown = [n for n in names if n not in available]
    if unknown:
        raise ValueError(f"var_names: {unknown} not in the posterior; available: "
                         f"{sorted(available)}")
    return names


def _okabe_ito_cycle():
    from cycler import cycler

    return matplotlib.rc_context({"axes.prop_cycle": cycler(color=list(OKABE_ITO))})


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

    names = _default_var_names(fit, var_names)
    log_names = fit.law.log_scale_params if log_offsets else ()
    post = fit.posterior["posterior"]
    data = dict(_display_draws(post[n].values, n, log_names) for n in names)
    groups = {"posterior": data}
    if "sample_stats" in fit.posterior.children:
        groups["sample_stats"] = {"diverging": fit.posterior["sample_stats"]["diverging"].values}
    tree = azb.from_dict(groups)
    size = figsize or (2.0 * len(names) + 0.6, 2.0 * len(names) + 0.2)
    kwargs.setdefault("visuals", {"divergence": True, "scatter": {"size": 5, "alpha": 0.35}})
    with _okabe_ito_cycle():
        matrix = azp.plot_pair(tree, var_names=list(data), backend="matplotlib",
                               figure_kwargs={"figsize": size, "layout": "constrained"},
                               **kwargs)
    fig = matrix.get_viz("figure")
    num_div = int(groups.get("sample_stats", {}).get("diverging", np.zeros(1)).sum())
    fig.suptitle(f"posterior of the {_law_label(fit)} law ({fit.num_draws} draws, "
                 f"{num_div} divergent)", fontsize="medium")
    return fig


def _prior_draws(fit: ScalingFit, priors: Mapping[str, Any] | None, num_samples: int,
                 seed: int) -> dict[str, np.ndarray]:
    """Draws of every site of the fit's model under its priors (NumPyro ``Predictive``)."""
    import jax
    import jax.numpy as jnp
    from numpyro.infer import Predictive

    from .model import build_model

    priors = dict(priors or {})
    # A prior on a derived offset (e.g. "A") is a factor on a flat site, which
    # cannot be sampled forward: sample the offset from that prior directly.
    direct = {n: priors.pop(n) for n in list(priors)
              if n in fit.law.param_names and n not in
              fit.law.default_priors(fit.design.as_arrays())}
    key_model, key_direct = jax.random.split(jax.random.PRNGKey(seed))
    with jax.enable_x64(True):
        log_inputs = {n: jnp.log(jnp.asarray(fit.runs.column(n))) for n in fit.law.inputs}
        model = build_model(fit.law, fit.likelihood)
        draws = Predictive(model, num_samples=num_samples)(
            key_model, log_inputs=log_inputs, log_loss=None, design=fit.design.as_arrays(),
            priors=priors)
        out = {k: np.asarray(v) for k, v in draws.items()}
        for i, (name, prior) in enumerate(direct.items()):
            out[name] = np.asarray(prior.sample(jax.random.fold_in(key_direct, i),
                                                (num_samples,)))
    return out


def plot_prior_posterior(
    fit: ScalingFit,
    var_names: Sequence[str] | None = None,
    *,
    priors: Mapping[str, Any] | None = None,
    num_samples: int = 4000,
    seed: int = 0,
    log_offsets: bool = True,
    kind: str | None = None,
    figsize: tuple[float, float] | None = None,
    **kwargs: Any,
) -> Any:
    """Prior and posterior marginals side by side (``arviz_plots.plot_prior_posterior``).

    Prior draws come from the fit's own NumPyro model (``Predictive`` with no
    observations), so derived parameters (``A = exp(log A_c) N0^alpha``) carry
    exactly the prior the sampler used. Each panel spans the central 99% of
    the prior and all posterior draws.

    Parameters
    ----------
    fit : ScalingFit
    var_names : sequence of str, optional
        Default: the law's parameters and the noise scale ``sigma``.
    priors : mapping, optional
        The ``priors=`` the fit was made with (a fit does not record them);
        default: the fit's ``priors`` attribute if it has one, else the law's
        defaults.
    num_samples : int
        Prior draws.
    seed : int
        Seed of the prior draws (``jax.random.PRNGKey(seed)``).
    log_offsets : bool, default True
        Show ``A``, ``B`` as ``log10`` (their priors span decades).
    kind : {"kde", "hist", "ecdf"}, optional
        Passed to arviz-plots.
    figsize : (float, float), optional
    **kwargs
        Passed to :func:`arviz_plots.plot_prior_posterior`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import arviz_base as azb
    import arviz_plots as azp

    if var_names is None:
        var_names = list(fit.law.param_names) + ["sigma"]
    names = _default_var_names(fit, var_names)
    if priors is None:
        priors = getattr(fit, "priors", None)
    prior = _prior_draws(fit, priors, num_samples, seed)
    log_names = fit.law.log_scale_params if log_offsets else ()
    post = fit.posterior["posterior"]
    posterior = dict(_display_draws(post[n].values, n, log_names) for n in names)
    prior_disp = dict(_display_draws(prior[n][None, :], n, log_names) for n in names)
    tree = azb.from_dict({"posterior": posterior, "prior": prior_disp})
    ncols = min(len(names), 3)
    nrows = int(np.ceil(len(names) / ncols))
    size = figsize or (3.6 * ncols, 2.5 * nrows + 0.4)
    with _okabe_ito_cycle():
        collection = azp.plot_prior_posterior(
            tree, backend="matplotlib", kind=kind, col_wrap=ncols,
            figure_kwargs={"figsize": size, "layout": "constrained"}, **kwargs)
    fig = collection.get_viz("figure")
    # The priors' tails span decades: show their central 99% and all of the posterior.
    for ax in fig.axes:
        name = ax.get_title()
        if name in posterior:
            lo, hi = np.quantile(prior_disp[name], [0.005, 0.995])
            lo = min(lo, float(np.min(posterior[name])))
            hi = max(hi, float(np.max(posterior[name])))
            pad = 0.03 * (hi - lo)
            ax.set_xlim(lo - pad, hi + pad)
    fig.suptitle(f"prior vs posterior ({_law_label(fit)} law; prior: {num_samples} draws "
                 "from the model)", fontsize="medium")
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
    fig, panels = _axes_grid(axes, len(sizes) + 3, 3, (4.0, 3.3))
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
        ax.axhspan(-z * sigma, z * sigma, color=_EXTRAPOLATION_GREY, lw=0, zorder=0,
                   label=f"{level:.0%} noise band (±{z:.2f} σ)").set_gid("noise_band")
        ax.axhline(0, color=_GREY, lw=0.8, zorder=1)
        ax.scatter(x, resid, s=9, color=colour, alpha=0.7, edgecolor="none",
                   zorder=3).set_gid("residuals")
        edges = np.quantile(np.log(x), np.linspace(0, 1, 9))
        bins = np.clip(np.searchsorted(edges, np.log(x), side="right") - 1, 0, 7)
        centres = [np.exp(np.median(np.log(x[bins == b]))) for b in range(8) if np.any(bins == b)]
        medians = [np.median(resid[bins == b]) for b in range(8) if np.any(bins == b)]
        ax.plot(centres, medians, color=OKABE_ITO[1], lw=1.6, marker="o", ms=3, zorder=4,
                label="binned median")[0].set_gid("binned_median")
        if plain:
            _plain_log_axis(ax, "x")
        else:
            _sci_log_axis(ax, "x")
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
    log_rep = log_curve + _noise_log_draws(fit, log_curve.shape, seed)
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
    ax_ppc.axhline(0, color=_GREY, lw=0.8)
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
    fig.suptitle(f"residuals and posterior-predictive checks ({_law_label(fit)} law, "
                 f"{fit.likelihood} likelihood, σ ≈ {sigma:.4f})", fontsize="medium")
    return fig


# -------------------------------------------------------------------- dispatcher
KINDS: dict[str, Any] = {
    "loss": plot_loss_vs_compute,
    "isoflop": plot_isoflop_profiles,
    "frontier": plot_frontier,
    "pairs": plot_posterior_pairs,
    "prior_posterior": plot_prior_posterior,
    "residuals": plot_residuals,
}


def plot(fit: ScalingFit, kind: str = "loss", **kwargs: Any) -> Any:
    """Draw one of the standard figures of a fit.

    Parameters
    ----------
    fit : ScalingFit
    kind : {"loss", "isoflop", "frontier", "pairs", "prior_posterior", "residuals"}
        ``"loss"``: :func:`plot_loss_vs_compute`; ``"isoflop"``:
        :func:`plot_isoflop_profiles`; ``"frontier"``: :func:`plot_frontier`;
        ``"pairs"``: :func:`plot_posterior_pairs`; ``"prior_posterior"``:
        :func:`plot_prior_posterior`; ``"residuals"``: :func:`plot_residuals`.
    **kwargs
        Passed to the figure function.

    Returns
    -------
    matplotlib Axes or Figure (see the figure function)

    Examples
    --------
    >>> plot(fit, kind="frontier", C_range=(1e19, 1e25))
    <Figure size ...>
    """
    try:
        func = KINDS[kind]
    except KeyError:
        raise ValueError(f"kind must be one of {sorted(KINDS)}, got {kind!r}") from None
    return func(fit, **kwargs)
