"""Shared look of every figure (Okabe-Ito colours, log axes, bands) and the helpers the figures share."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from .._lazy import lazy_import

if TYPE_CHECKING:
    from ..results.scaling_fit import ScalingFit

matplotlib = lazy_import("matplotlib")  # imported when a figure is drawn
mticker = lazy_import("matplotlib.ticker")

#: Okabe & Ito (2008) colour-blind-safe palette: blue, orange, bluish green,
#: vermillion, reddish purple, sky blue, yellow, black.
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442",
             "#000000")


BAND_LEVELS = (0.5, 0.9)


GREY = "0.45"


EXTRAPOLATION_GREY = "0.93"


#: Tokens per parameter of the Chinchilla rule of thumb (Hoffmann et al. 2022).
CHINCHILLA_TOKENS_PER_PARAM = 20.0


# ----------------------------------------------------------------------- helpers
def get_pyplot():
    import matplotlib.pyplot as plt

    return plt


def get_axes(ax: Any, figsize: tuple[float, float] = (6.4, 4.4)) -> Any:
    if ax is not None:
        return ax
    _, ax = get_pyplot().subplots(figsize=figsize, layout="constrained")
    return ax


def axes_grid(axes: Any, num: int, ncols: int, panel_size: tuple[float, float]) -> tuple:
    """``(figure, flat list of num Axes)``, creating a figure when ``axes`` is None."""
    if axes is not None:
        flat = list(np.ravel(np.asarray(axes, dtype=object)))
        if len(flat) < num:
            raise ValueError(f"axes: expected at least {num} Axes, got {len(flat)}; pass "
                             f"axes=None to create a figure")
        return flat[0].figure, flat[:num]
    nrows = int(np.ceil(num / ncols))
    fig, grid = get_pyplot().subplots(nrows, ncols, figsize=(panel_size[0] * ncols,
                                                          panel_size[1] * nrows),
                                   layout="constrained", squeeze=False)
    flat = list(grid.ravel())
    for extra in flat[num:]:
        extra.remove()
    return fig, flat[:num]


@functools.cache
def _plain_log_locator_class() -> type:
    """The locator class, built on first use: matplotlib is imported only when plotting."""

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

    return _PlainLogLocator


def plain_log_axis(ax: Any, which: str = "y") -> None:
    axis = ax.yaxis if which == "y" else ax.xaxis
    (ax.set_yscale if which == "y" else ax.set_xscale)("log")
    axis.set_major_locator(_plain_log_locator_class()())
    axis.set_major_formatter(mticker.FuncFormatter(lambda v, _: f"{v:.4g}"))
    axis.set_minor_locator(mticker.NullLocator())


def sci_log_axis(ax: Any, which: str = "x") -> None:
    """Log scale with 10^k labels on decades (matplotlib's scientific formatter)."""
    axis = ax.xaxis if which == "x" else ax.yaxis
    (ax.set_xscale if which == "x" else ax.set_yscale)("log")
    axis.set_major_locator(mticker.LogLocator(base=10, numticks=12))
    axis.set_major_formatter(mticker.LogFormatterSciNotation())
    axis.set_minor_locator(mticker.LogLocator(base=10, subs=np.arange(2, 10), numticks=12))
    axis.set_minor_formatter(mticker.NullFormatter())


def sci_label(value: float) -> str:
    """``6e18`` -> ``$6\\times10^{18}$`` (mathtext)."""
    mantissa, exponent = f"{value:.1e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    exponent = int(exponent)
    if mantissa == "1":
        return f"$10^{{{exponent}}}$"
    return f"${mantissa}\\times10^{{{exponent}}}$"


def compute_label(fit: ScalingFit) -> str:
    return f"training compute C (FLOPs, C = {fit.runs.flops_factor:g} N D)"


LOSS_LABEL = "final loss (nats/token)"


def quantile_bands(draws: np.ndarray) -> dict[str, np.ndarray]:
    lo90, lo50, mid, hi50, hi90 = np.quantile(draws, [0.05, 0.25, 0.5, 0.75, 0.95], axis=0)
    return {"lo90": lo90, "lo50": lo50, "median": mid, "hi50": hi50, "hi90": hi90}


def draw_bands(ax: Any, x: np.ndarray, draws: np.ndarray, colour: str, *, label: str | None,
                bands: bool = True, lw: float = 1.8) -> dict[str, Any]:
    """Median line with 50% and 90% equal-tailed bands of ``draws`` (shape (S, len(x)))."""
    q = quantile_bands(draws)
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


def law_label(fit: ScalingFit) -> str:
    """``chinchilla``, ``kaplan``, ``power_law(C)``: the law's name and its options."""
    options = [str(v) for k, v in fit.law.spec().items() if k != "name"]
    return fit.law.name + (f"({', '.join(options)})" if options else "")


def requires_joint(fit: ScalingFit, what: str) -> None:
    if not set(fit.law.inputs) >= {"N", "D"}:
        raise ValueError(
            f"{what} needs a law of both N and D (e.g. 'chinchilla' or 'kaplan'); this fit's "
            f"{law_label(fit)} law depends on {', '.join(fit.law.inputs)} only"
        )


def noise_log_draws(fit: ScalingFit, shape: tuple[int, int], seed: int | None) -> np.ndarray:
    """Observation-noise draws of log-loss, one row per posterior draw (NumPy, seeded).

    The same noise model as :meth:`~bayes_scaling.ScalingFit.noise_draws`, drawn with
    NumPy so the figures (and their baseline images) stay what they were.
    """
    rng = np.random.default_rng(fit.seed + 1 if seed is None else seed)
    sigma = fit.draws("sigma")[:, None]
    if fit.likelihood == "student_t":
        eps = rng.standard_t(fit.draws("nu")[:, None], size=shape)
    else:
        eps = rng.standard_normal(shape)
    return eps * sigma


def runs_table_like(obj: Any) -> dict[str, np.ndarray] | None:
    """Columns of a DataFrame/mapping of run sizes, or None for a plain list of budgets."""
    if hasattr(obj, "columns") or isinstance(obj, Mapping):
        return {str(k): np.atleast_1d(np.asarray(obj[k], dtype=float)) for k in
                (obj.columns if hasattr(obj, "columns") else obj.keys())
                if str(k) in ("N", "D", "C", "loss")}
    return None


def okabe_ito_cycle():
    from cycler import cycler

    return matplotlib.rc_context({"axes.prop_cycle": cycler(color=list(OKABE_ITO))})
