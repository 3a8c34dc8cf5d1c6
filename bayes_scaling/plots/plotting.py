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

import numpy as np

if TYPE_CHECKING:
    from ..results.scaling_fit import ScalingFit

from .._lazy import lazy_import
from ..data.sizes import complete_sizes
from ..models import discrepancy
from ..models.predictive import prior_draws
from ..results.extensions import register
from .allocation import plot_frontier, plot_isoflop_profiles
from .diagnostics import default_var_names, display_draws, plot_posterior_pairs, plot_residuals
from .style import (
    EXTRAPOLATION_GREY,
    GREY,
    LOSS_LABEL,
    OKABE_ITO,
    compute_label,
    draw_bands,
    get_axes,
    law_label,
    noise_log_draws,
    okabe_ito_cycle,
    plain_log_axis,
    runs_table_like,
    sci_log_axis,
)

matplotlib = lazy_import("matplotlib")  # imported when a figure is drawn

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


# ----------------------------------------------------------- loss vs compute
def plot_loss_vs_compute(
    fit: ScalingFit,
    *,
    C_max: float | None = None,  # noqa: N803 - the field's notation
    targets: Any = None,
    seed: int | None = None,
    ax: Any = None,
    extrapolation: Any = "auto",
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
        bar) and 90% *predictive* interval of one new run (thin bar with caps;
        beyond the fitted runs it includes the extrapolation discrepancy,
        as :meth:`~bayes_scaling.ScalingFit.predict` does by default):

        * an array of budgets ``C``: at the compute-optimal allocation;
        * a DataFrame (or mapping) with two of ``N``, ``D``, ``C``: at those
          sizes; an optional ``loss`` column (e.g. held-out runs) is drawn as
          open circles.
    seed : int, optional
        Seed of the simulated observation noise of predictive intervals
        (default: the fit's seed + 1).
    ax : matplotlib Axes, optional
    extrapolation : {"auto", "field", "none"} or Discrepancy, default "auto"
        The discrepancy of the targets' predictive intervals beyond the data, as
        in :meth:`~bayes_scaling.ScalingFit.predict`.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> ax = plot_loss_vs_compute(fit, targets=[1e23])
    >>> ax.get_xscale(), ax.get_yscale()
    ('log', 'log')
    """
    ax = get_axes(ax)
    runs = fit.runs.frame
    c_obs, loss = runs["C"].to_numpy(), runs["loss"].to_numpy()
    joint = set(fit.law.inputs) >= {"N", "D"}
    table = runs_table_like(targets) if targets is not None else None
    c_targets = None
    if targets is not None:
        if table is None:
            c_targets = np.atleast_1d(np.asarray(targets, dtype=float))
        else:
            # A table keeps its own C (its FLOPs convention); only missing sizes are derived.
            both = "N" in table and "D" in table
            sizes = complete_sizes(table.get("N"), table.get("D"),
                                   None if both else table.get("C"), fit.runs.flops_factor)
            table.update({k: v for k, v in zip("NDC", sizes, strict=True)
                          if v is not None and k not in table})
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
    draw_bands(ax, grid, curve, colour, label=label)

    if "N" in runs:
        points = ax.scatter(c_obs, loss, c=runs["N"].to_numpy(), cmap="cividis",
                            norm=matplotlib.colors.LogNorm(), s=13, edgecolor="none",
                            zorder=4, label="training runs")
        colorbar = ax.figure.colorbar(points, ax=ax, pad=0.01)
        colorbar.set_label("model size N (parameters)")
    else:
        points = ax.scatter(c_obs, loss, color="k", s=13, zorder=4, label="training runs")
    points.set_gid("runs")

    shade = ax.axvspan(c_obs.max(), c_hi, color=EXTRAPOLATION_GREY, zorder=0, lw=0)
    shade.set_gid("extrapolation")
    ax.axvline(c_obs.max(), color=GREY, lw=0.8, ls=":", zorder=1)
    ax.text(c_obs.max() * 1.15, 0.02, "extrapolation \u2192", transform=ax.get_xaxis_transform(),
            ha="left", va="bottom", fontsize="small", color="0.35")

    if c_targets is not None:
        if table is None:
            log_curve = np.log(fit.allocation_draws(c_targets)["loss_opt"]) if joint else \
                np.log(fit.predict_draws(C=c_targets))
        else:
            log_curve = np.log(fit.predict_draws(**{k: table[k] for k in fit.law.inputs}))
        log_pred = log_curve + noise_log_draws(fit, log_curve.shape, seed)
        sizes = {"C": c_targets, **({} if table is None else
                                    {k: np.asarray(table[k], dtype=float) for k in table})}
        if discrepancy.axis_of(fit.law) in sizes:  # honest beyond the data (zero inside)
            noise_seed = fit.seed + 1 if seed is None else seed
            log_pred, _, _ = discrepancy.with_discrepancy(fit, sizes, log_pred, extrapolation,
                                                          noise_seed + 1)
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
    sci_log_axis(ax, "x")
    plain_log_axis(ax, "y")
    ax.set_xlabel(compute_label(fit))
    ax.set_ylabel(LOSS_LABEL)
    ax.set_title(f"{law_label(fit)} law fitted to {fit.runs.num_runs} runs", fontsize="medium")
    # Loss falls with compute: the top right (above the frontier) is free of data.
    ax.legend(loc="upper right", fontsize="small", frameon=True, framealpha=0.9,
              edgecolor="none")
    return ax


def _prior_draws(fit: ScalingFit, priors: Mapping[str, Any] | None, num_samples: int,
                 seed: int) -> dict[str, np.ndarray]:
    """Draws of every site of the fit's model under its priors: :func:`models.predictive.prior_draws`."""
    return prior_draws(fit, priors, num_samples, seed)


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
        Priors to draw the prior from; default: the priors the fit recorded
        (``fit.priors``: the ``priors=`` it was made with), else the law's
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
    names = default_var_names(fit, var_names)
    if priors is None:
        priors = getattr(fit, "priors", None)
    prior = _prior_draws(fit, priors, num_samples, seed)
    log_names = fit.law.log_scale_params if log_offsets else ()
    post = fit.posterior["posterior"]
    posterior = dict(display_draws(post[n].values, n, log_names) for n in names)
    prior_disp = dict(display_draws(prior[n][None, :], n, log_names) for n in names)
    tree = azb.from_dict({"posterior": posterior, "prior": prior_disp})
    ncols = min(len(names), 3)
    nrows = int(np.ceil(len(names) / ncols))
    size = figsize or (3.6 * ncols, 2.5 * nrows + 0.4)
    with okabe_ito_cycle():
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
    fig.suptitle(f"prior vs posterior ({law_label(fit)} law; prior: {num_samples} draws "
                 "from the model)", fontsize="medium")
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
    >>> figure = plot(fit, kind="frontier", C_range=(1e19, 1e25))
    >>> type(figure).__name__
    'Figure'
    """
    try:
        func = KINDS[kind]
    except KeyError:
        raise ValueError(f"kind must be one of {sorted(KINDS)}, got {kind!r}") from None
    return func(fit, **kwargs)


# ScalingFit's method(s) of the same name call these (results layer: no import upwards).
register("plot", plot)
