"""The one regime detector, :func:`power_law_regime`: which runs sit outside the
power-law regime. Two methods, one :class:`RegimeReport`:

* ``method="broken"`` (default): a broken-power-law fit gives each run a posterior
  probability of lying outside the regime, and the break locations (below);
* ``method="ends"``: cheap tests of a fitted law's residuals at the ends of the
  data, plus optional held-out refits (``bayes_scaling.checks.end_tests``; the
  old :func:`bayes_scaling.checks.regime_check` is deprecated in its favour).

Loss curves have three regimes: a near-random start (the loss barely moves
from the random-guess value), the power-law middle and the approach to the
irreducible loss ``E``. A fit of ``E + A x^-alpha`` belongs in the middle; runs
on the plateau (or past a slow-down) bias its exponent.
:func:`power_law_regime` fits a smoothly broken power law
(:class:`~bayes_scaling.laws.BrokenPowerLaw`, Caballero et al. 2022) and asks,
per posterior draw, whether the reducible loss ``L - E`` has at each run the
exponent of the main segment (the segment holding most runs, i.e. the middle
power law) or a materially different one. The approach to ``E`` is part of
the law (``E`` is a parameter), so saturation alone does not flag a run.

Examples
--------
>>> from bayes_scaling.checks import power_law_regime
>>> # Long run (a broken-power-law sampler); tests/test_broken_power_law.py makes these calls.
>>> report = power_law_regime(runs, x="C")                     # doctest: +SKIP
>>> power_law_regime(fit, method="ends", refit=True).tests     # doctest: +SKIP
>>> report.runs.query("flagged")                               # doctest: +SKIP
>>> report.breaks                                              # doctest: +SKIP
>>> bs.fit(runs[~report.exclude], law="power_law_C")           # doctest: +SKIP
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .._lazy import lazy_import
from ..data.runs import RunsTable, load_runs
from ..inference.diagnostics import RegimeWarning
from ..laws import BrokenPowerLaw
from ..results.scaling_fit import ScalingFit
from ..results.scaling_fit import fit as fit_law
from .outliers import log_mean_at_runs
from .regime_ends import REGIME_THRESHOLD, end_tests

pd = lazy_import("pandas")


if TYPE_CHECKING:
    from ..results.scaling_fit import ScalingFit

__all__ = ["power_law_regime", "RegimeReport", "local_exponent_draws"]

#: A run is outside the regime in a draw when its local exponent differs from the
#: main segment's by more than this share of the latter.
DEFAULT_TOLERANCE = 0.25
#: Posterior probability above which a run is flagged.
DEFAULT_THRESHOLD = 0.5
BREAK_COLUMNS = ("break", "location", "location_lower", "location_upper", "change",
                 "change_lower", "change_upper", "sharpness", "sharpness_lower",
                 "sharpness_upper", "exponent_before", "exponent_after", "p_material")


@dataclass(frozen=True)
class RegimeReport:
    """Result of :func:`power_law_regime`.

    Attributes
    ----------
    runs : DataFrame
        One row per run, indexed like the table the fit was given, with
        ``flagged``. ``method="broken"``: ``x`` and ``loss`` columns, ``local_exponent`` (posterior median of the reducible
        loss's exponent at the run), ``segment`` (most probable segment, 0 =
        before the first break), ``p_outside`` (posterior probability that the
        run's exponent differs from the main segment's by more than
        ``tolerance``) and ``flagged`` (``p_outside > threshold``).
        ``method="ends"``: the law's inputs, ``loss``, ``residual`` (log loss minus the
        posterior-median log curve) and ``flagged`` (the cut of
        :func:`~bayes_scaling.checks.suggest_exclusions`).
    breaks : DataFrame
        One row per break: ``location`` (``d_i``) with ``_lower``/``_upper``
        bounds at ``level``; ``change`` (``c_i``, the change of exponent) with
        bounds; ``sharpness`` (``f_i``) with bounds; ``exponent_before`` /
        ``exponent_after`` (medians); ``p_material``: posterior probability that
        the change exceeds ``tolerance`` times the main segment's exponent.
    main_exponent : DataFrame
        Posterior median and bounds of the main segment's exponent (one row).
    fit : ScalingFit
        The broken-power-law fit (``method="ends"``: the fit checked).
    x : str
    tolerance, threshold, level : float
    method : {"broken", "ends"}
    tests : DataFrame or None
        ``method="ends"``: one row per end test (see
        ``bayes_scaling.checks.end_tests``); ``None`` otherwise. With
        ``method="ends"``, ``breaks`` is empty and ``main_exponent`` is ``None``.
    """

    runs: pd.DataFrame
    breaks: pd.DataFrame
    main_exponent: pd.DataFrame
    fit: ScalingFit
    x: str
    tolerance: float
    threshold: float
    level: float
    method: str = "broken"
    tests: pd.DataFrame | None = None

    @property
    def exclude(self) -> pd.Series:
        """Boolean mask of the flagged runs (``table[~report.exclude]`` keeps the regime)."""
        return self.runs["flagged"].rename("exclude")

    @property
    def flagged(self) -> pd.DataFrame:
        """The flagged rows of :attr:`runs`."""
        return self.runs[self.runs["flagged"]]

    def __repr__(self) -> str:
        return (f"RegimeReport(method={self.method!r}, x={self.x!r}, runs={len(self.runs)}, "
                f"flagged={int(self.runs['flagged'].sum())}, breaks={len(self.breaks)})")


def local_exponent_draws(fit: ScalingFit, x_values: Any) -> np.ndarray:
    """Draws of the reducible loss's local exponent at ``x_values``: ``(num_draws, num_points)``."""
    law = _require_broken(fit)
    params = {k: v[:, None] for k, v in fit.param_draws().items()}
    log_x = np.log(np.atleast_1d(np.asarray(x_values, dtype=np.float64)))[None, :]
    import jax

    with jax.enable_x64(True):
        return np.asarray(law.local_exponent(params, log_x))


def _require_broken(fit: ScalingFit) -> BrokenPowerLaw:
    if not isinstance(fit.law, BrokenPowerLaw):
        raise TypeError(f"needs a fit of a BrokenPowerLaw, got {fit.law!r}")
    return fit.law


def _segment_exponents(draws: dict[str, np.ndarray], breaks: int) -> np.ndarray:
    """Exponent of each segment per draw: ``(num_draws, breaks + 1)``."""
    c = np.stack([draws["c0"]] + [draws[f"c{i}"] for i in range(1, breaks + 1)], axis=1)
    return np.cumsum(c, axis=1)


def _quantiles(values: np.ndarray, level: float) -> tuple[np.ndarray, ...]:
    tail = (1.0 - level) / 2.0
    return tuple(np.quantile(values, [0.5, tail, 1.0 - tail], axis=0))


def _analyse(fit: ScalingFit, tolerance: float, threshold: float, level: float) -> RegimeReport:
    law = _require_broken(fit)
    x_values = fit.runs.column(law.x)
    log_x = np.log(x_values)
    draws = fit.param_draws()
    local = local_exponent_draws(fit, x_values)  # (S, n)
    segments = _segment_exponents(draws, law.breaks)  # (S, k+1)
    num_draws = segments.shape[0]
    if law.breaks:
        log_d = np.stack([np.log(draws[f"d{i}"]) for i in range(1, law.breaks + 1)], axis=1)
        seg_of_run = np.sum(log_x[None, :, None] > log_d[:, None, :], axis=2)  # (S, n)
    else:
        seg_of_run = np.zeros((num_draws, len(x_values)), dtype=int)
    counts = np.stack([np.sum(seg_of_run == k, axis=1) for k in range(law.breaks + 1)], axis=1)
    # Main segment: most runs; ties go to the later (larger-x) segment.
    main = law.breaks - np.argmax(counts[:, ::-1], axis=1)
    main_exponent = segments[np.arange(num_draws), main]
    scale = tolerance * np.abs(main_exponent)
    outside = np.abs(local - main_exponent[:, None]) > scale[:, None]
    p_outside = outside.mean(axis=0)

    frame = fit.runs.frame
    runs = pd.DataFrame({law.x: x_values, "loss": fit.runs.loss}, index=frame.index)
    runs["local_exponent"] = np.median(local, axis=0)
    runs["segment"] = [int(np.bincount(col, minlength=law.breaks + 1).argmax())
                       for col in seg_of_run.T]
    runs["p_outside"] = p_outside
    runs["flagged"] = p_outside > threshold

    rows = []
    for i in range(1, law.breaks + 1):
        row: dict[str, Any] = {"break": i}
        for label, name in (("location", f"d{i}"), ("change", f"c{i}"), ("sharpness", f"f{i}")):
            mid, lo, hi = _quantiles(draws[name], level)
            row.update({label: mid, f"{label}_lower": lo, f"{label}_upper": hi})
        row["exponent_before"] = float(np.median(segments[:, i - 1]))
        row["exponent_after"] = float(np.median(segments[:, i]))
        row["p_material"] = float(np.mean(np.abs(draws[f"c{i}"]) > scale))
        rows.append(row)
    breaks = pd.DataFrame(rows, columns=list(BREAK_COLUMNS))
    mid, lo, hi = _quantiles(main_exponent, level)
    main_table = pd.DataFrame({"median": [mid], "lower": [lo], "upper": [hi], "level": [level]},
                              index=["main_exponent"])
    for table in (runs, breaks):
        table.attrs.update({"tolerance": tolerance, "threshold": threshold, "level": level})
    return RegimeReport(runs=runs, breaks=breaks, main_exponent=main_table, fit=fit, x=law.x,
                        tolerance=tolerance, threshold=threshold, level=level)


def _ends_report(fit: ScalingFit, x: str, threshold: float, level: float, warn: bool,
                 options: dict[str, Any]) -> RegimeReport:
    """``method="ends"``: the end tests of :mod:`bayes_scaling.checks.regime_ends`."""
    if not isinstance(fit, ScalingFit):
        raise TypeError("method='ends' tests a fitted law: pass a ScalingFit, got "
                        f"{type(fit).__name__}")
    unknown = set(options) - {"refit", "holdout", "ends", "priors", "max_share"}
    if unknown:
        raise TypeError(f"method='ends' takes refit, holdout, ends, priors, max_share; got "
                        f"{sorted(unknown)}")
    tests, exclude = end_tests(fit, threshold=threshold, warn=warn, **options)
    runs = pd.DataFrame({k: fit.runs.column(k) for k in ("N", "D", "C")
                         if k in fit.runs.frame.columns}, index=fit.runs.frame.index)
    runs["loss"] = fit.runs.loss
    runs["residual"] = np.log(fit.runs.loss) - np.median(log_mean_at_runs(fit), axis=0)
    runs["flagged"] = exclude.to_numpy()
    runs.attrs.update(exclude.attrs)
    return RegimeReport(runs=runs, breaks=pd.DataFrame(columns=list(BREAK_COLUMNS)),
                        main_exponent=None, fit=fit, x=x, tolerance=float("nan"),
                        threshold=threshold, level=level, method="ends", tests=tests)


def power_law_regime(
    data: Any,
    x: str = "C",
    *,
    method: str = "broken",
    breaks: int = 1,
    tolerance: float = DEFAULT_TOLERANCE,
    threshold: float | None = None,
    level: float = 0.9,
    warn: bool = True,
    **fit_kwargs: Any,
) -> RegimeReport:
    """Which runs lie outside the power-law regime: the one regime detector.

    ``method="broken"`` (default, below) fits a broken power law and gives the
    break locations. ``method="ends"`` tests a fitted law (``data`` a
    :class:`ScalingFit` of any law) at the ends of its data:
    ``bayes_scaling.checks.end_tests`` (``threshold`` is then a ``|z|``, default
    3.5; ``refit``, ``holdout``, ``ends``, ``priors``, ``max_share`` go there), with
    the test table in ``report.tests`` and the runs to drop in ``report.exclude``.

    Fits ``E + A x^-c0 prod_i (1 + (x/d_i)^(1/f_i))^(-c_i f_i)`` (breaks inside
    the observed range of ``x``) with NUTS, unless ``data`` already is such a
    fit. Per posterior draw, the *main segment* is the one holding most runs
    (the middle power law; ties go to the larger-``x`` segment), and a run is
    outside the regime when the local exponent of its reducible loss,
    ``-d log(L - E) / d log x = c0 + sum_i c_i sigmoid((ln x - ln d_i)/f_i)``,
    differs from the main segment's exponent by more than ``tolerance`` times
    that exponent. ``p_outside`` is the share of draws in which it is. A break
    the data do not support has ``c_i ~ 0`` and flags nothing, wherever its
    location wanders; the approach to ``E`` is modelled by ``E`` and flags
    nothing either.

    Parameters
    ----------
    data : DataFrame, path, RunsTable or ScalingFit
        Runs (with column ``x``), or a fit: a :class:`BrokenPowerLaw` fit is
        used as is; any other fit gives its runs (``method="ends"``: a fit, tested as is).
    method : {"broken", "ends"}
        The broken-power-law fit, or the end tests of a fitted law.
    x : {"N", "D", "C"}
        Resource along which regimes are sought.
    breaks : int, default 1
        Breaks of the fitted law (2: a plateau and a slow-down at once).
    tolerance : float, default 0.25
        Relative exponent difference that counts as a different regime.
    threshold : float, optional
        ``p_outside`` above which a run is flagged (default 0.5); ``method="ends"``:
        the ``|z|`` of a flagged test (default 3.5).
    level : float
        Mass of the intervals in the breaks table.
    warn : bool
        Warn :class:`~bayes_scaling.diagnostics.RegimeWarning` naming the
        flagged runs, and pass the fit's sampling warnings on. Expect some
        when the data show no break: its location and sharpness are then not
        identified (``c_i ~ 0``), which is the answer, not a failure.
    **fit_kwargs
        Passed to :func:`bayes_scaling.fit` (``chains``, ``draws``, ``seed``,
        ``priors``, ``likelihood``, ...); ``target_accept`` defaults to 0.95.

    Returns
    -------
    RegimeReport
        ``runs`` (per run ``p_outside`` and ``flagged``), ``breaks`` (location,
        change of exponent and sharpness with intervals), ``main_exponent``,
        ``exclude`` (mask) and the ``fit``.
    """
    if method == "ends":
        return _ends_report(data, x, REGIME_THRESHOLD if threshold is None else threshold,
                            level, warn, fit_kwargs)
    if method != "broken":
        raise ValueError(f"method must be 'broken' or 'ends', got {method!r}")
    threshold = DEFAULT_THRESHOLD if threshold is None else threshold
    if not 0 < tolerance:
        raise ValueError(f"tolerance must be positive, got {tolerance!r}")
    if not 0 < threshold < 1:
        raise ValueError(f"threshold must be in (0, 1), got {threshold!r}")
    if isinstance(data, ScalingFit) and isinstance(data.law, BrokenPowerLaw):
        if fit_kwargs:
            raise ValueError("fit options given with a fitted BrokenPowerLaw: nothing is refitted")
        result = data
    else:
        runs = data.runs if isinstance(data, ScalingFit) else data
        if not isinstance(runs, RunsTable):
            runs = load_runs(runs, flops_factor=fit_kwargs.pop("flops_factor", 6.0),
                             columns=fit_kwargs.pop("columns", None))
        runs.require((x,), law="broken power law")
        law = BrokenPowerLaw.for_runs(runs, x=x, breaks=breaks)
        fit_kwargs.setdefault("groups", False)
        fit_kwargs.setdefault("warn", warn)
        # Breaks the data do not support leave a mildly funnel-shaped posterior.
        fit_kwargs.setdefault("target_accept", 0.95)
        result = fit_law(runs, law, **fit_kwargs)
    report = _analyse(result, tolerance, threshold, level)
    if warn and report.runs["flagged"].any():
        flagged = report.flagged
        values = ", ".join(f"{v:.3g}" for v in flagged[report.x].to_numpy()[:8])
        more = "" if len(flagged) <= 8 else f" and {len(flagged) - 8} more"
        warnings.warn(
            f"{len(flagged)} run(s) lie outside the power-law regime along {report.x} "
            f"({report.x} = {values}{more}): their loss does not follow the main segment's "
            "exponent (near-random plateau or a slow-down). Fit the power law without them: "
            "table[~report.exclude], or model them with the broken or saturating law.",
            RegimeWarning, stacklevel=2)
    return report
