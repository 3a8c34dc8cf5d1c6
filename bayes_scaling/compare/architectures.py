"""Comparing groups (architectures, optimisers): offsets, loss differences, crossovers, LOO.

Every answer is a posterior computed draw by draw from one joint fit (see
:mod:`bayes_scaling.groups`), so the uncertainty of shared parameters is
propagated into the differences instead of being counted twice.

:func:`compare`
    per compute budget: the loss difference ``L_b - L_a`` (each group at its
    own compute-optimal allocation, and optionally at a fixed model size or
    token count), ``P(b has lower loss than a)`` and the *compute multiplier*:
    the compute ``b`` needs to reach ``a``'s loss, divided by the budget.
:func:`crossover`
    the compute at which the two groups' compute-optimal loss curves cross,
    and the probability that they cross at all inside a range.
:func:`group_effects`
    offsets (log ratios of the terms at the design centre) and exponent or
    ``E`` differences of each group relative to a reference group.
:func:`compare_models`
    PSIS-LOO comparison of fits of the same runs with different group
    structures (e.g. shared vs separate exponents), via ``arviz_stats``.
    To compare different *laws* fitted to the same runs, and to average their
    predictions, see :mod:`bayes_scaling.model_averaging`.

Intervals are equal-tailed at ``level`` (the fit's default, 90%).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import numpy as np

from .._lazy import lazy_import
from ..laws import Law

if TYPE_CHECKING:
    from ..results.scaling_fit import ScalingFit

from ..exceptions import ParetoKWarning
from ..results.extensions import register
from .loo import loo_compare

pd = lazy_import("pandas")

__all__ = ["compare", "crossover", "group_effects", "compare_models", "Crossover",
           "ParetoKWarning"]

#: Half-width (natural-log units, e^30 ~ 1e13) of the bracket searched for the
#: compute at which one group reaches another's loss.
_SEARCH_HALF_WIDTH = 30.0
_BISECTION_STEPS = 48
_INV_PHI = 0.6180339887498949


# --------------------------------------------------------------------------- curves
def check_pair(fit: ScalingFit, a: str, b: str) -> tuple[str, str]:
    if fit.groups is None:
        raise ValueError("comparing groups needs a fit with groups: give the runs table a "
                         "'group' column and fit it with bayes_scaling.fit")
    a, b = str(a), str(b)
    for label in (a, b):
        fit._group_position(label)  # validates the label
    if a == b:
        raise ValueError(f"compare two different groups, got a = b = {a!r}")
    return a, b


def _law_axis(law: Law) -> str:
    """``"joint"`` for laws of N and D, ``"C"`` for a law of compute alone."""
    if set(law.inputs) == {"N", "D"}:
        return "joint"
    if tuple(law.inputs) == ("C",):
        return "C"
    raise ValueError(
        f"the {law!r} law depends on {', '.join(law.inputs)} only, so it has no compute axis to "
        "compare groups along; fit a law of compute ('power_law_C') or of both N and D "
        "('chinchilla', 'kaplan'), or compare predictions with fit.predict_draws(group=...)")


def _numeric_frontier(law: Law, p: Mapping[str, Any], log_nd: Any) -> Any:
    """Minimum of ``law`` along ``N D = exp(log_nd)`` per element (grid, then golden section)."""
    p3 = {k: v[..., None] for k, v in p.items()}
    log_nd3 = log_nd[..., None]

    def objective(log_n):
        return law.log_mean(p3, {"N": log_n, "D": log_nd3 - log_n})

    half, num = 12.0, 97
    grid = 0.5 * log_nd3 + jnp.linspace(-half, half, num)
    values = objective(grid)
    values = jnp.where(jnp.isfinite(values), values, jnp.inf)
    centre = jnp.take_along_axis(grid, jnp.argmin(values, axis=-1)[..., None], axis=-1)
    step = 2 * half / (num - 1)

    def golden(_, bounds):
        lo, hi = bounds
        x1, x2 = hi - _INV_PHI * (hi - lo), lo + _INV_PHI * (hi - lo)
        left = objective(x1) < objective(x2)
        return jnp.where(left, lo, x1), jnp.where(left, x2, hi)

    lo, hi = jax.lax.fori_loop(0, 36, golden, (centre - step, centre + step))
    return objective(0.5 * (lo + hi))[..., 0]


def _curve_fn(fit: ScalingFit, group: str, allocation: str, fixed: Any = None) -> Callable:
    """``log_c (S, M) -> log-loss (S, M)`` of ``group``'s draws along a compute axis.

    ``allocation``: ``"compute-optimal"`` (each draw at its own optimum),
    ``"fixed N"`` (model size ``fixed``, tokens ``C / (k N)``) or ``"fixed D"``.
    """
    law = fit.law
    log_k = float(np.log(fit.runs.flops_factor))
    # NumPy float64 here: JAX converts inside the callers' enable_x64 contexts.
    p = {k: np.asarray(v)[:, None] for k, v in fit.param_draws(group=group).items()}
    axis = _law_axis(law)
    if axis == "C":
        return lambda log_c: law.log_mean(p, {"C": log_c})
    if allocation == "fixed N":
        log_n = float(np.log(fixed))
        return lambda log_c: law.log_mean(p, {"N": log_n, "D": log_c - log_k - log_n})
    if allocation == "fixed D":
        log_d = float(np.log(fixed))
        return lambda log_c: law.log_mean(p, {"N": log_c - log_k - log_d, "D": log_d})
    if law.has_closed_form_allocation:
        def frontier(log_c):
            log_n, log_d = law.log_optimal_allocation(p, log_c, log_k)
            return law.log_mean(p, {"N": log_n, "D": log_d})
        return frontier
    return lambda log_c: _numeric_frontier(law, p, log_c - log_k)


def _solve_log_compute(curve: Callable, target: Any, log_c: Any) -> np.ndarray:
    """Per element, the ``log C'`` at which ``curve`` (decreasing in C) equals ``target``.

    Log-space bisection inside ``log_c +- 30``; ``+inf`` where the curve stays above
    the target (unreachable: the group's floor is higher), ``-inf`` where it is
    below the target at the lower end.
    """
    lo = log_c - _SEARCH_HALF_WIDTH
    hi = log_c + _SEARCH_HALF_WIDTH
    reachable = curve(hi) <= target
    below = curve(lo) <= target

    def step(_, bounds):
        lo, hi = bounds
        mid = 0.5 * (lo + hi)
        above = curve(mid) > target  # still worse: need more compute
        return jnp.where(above, mid, lo), jnp.where(above, hi, mid)

    lo, hi = jax.lax.fori_loop(0, _BISECTION_STEPS, step, (lo, hi))
    out = jnp.where(reachable, 0.5 * (lo + hi), jnp.inf)
    return np.asarray(jnp.where(below, -jnp.inf, out))


def _interval(values: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Median and equal-tailed bounds over axis 0; ``inverted_cdf`` copes with infinities."""
    tail = (1.0 - level) / 2.0
    q = np.quantile(values, [tail, 0.5, 1.0 - tail], axis=0, method="inverted_cdf")
    return q[1], q[0], q[2]


def _budgets(C: Any) -> np.ndarray:  # noqa: N803
    compute = np.atleast_1d(np.asarray(C, dtype=np.float64)).ravel()
    if compute.size == 0 or not np.all(np.isfinite(compute)) or np.any(compute <= 0):
        raise ValueError(f"compute budgets C must be positive and finite, got {C!r}")
    return compute


# -------------------------------------------------------------------------- compare
def compare(
    fit: ScalingFit,
    a: str,
    b: str,
    C: Any = None,  # noqa: N803 - the field's notation
    *,
    level: float | None = None,
    N: Any = None,  # noqa: N803
    D: Any = None,  # noqa: N803
) -> pd.DataFrame:
    r"""Posterior comparison of groups ``b`` and ``a`` at compute budgets ``C``.

    For every budget and every posterior draw:

    * ``L_a``, ``L_b``: each group's loss at its own compute-optimal allocation
      (the draw's own ``N_opt(C)``, ``D_opt(C)``); with ``N=`` (or ``D=``) also at
      that fixed model size (token count), ``D = C / (k N)``;
    * the difference ``L_b - L_a`` (negative: ``b`` is better) and the
      probability ``P(L_b < L_a)``;
    * the compute multiplier ``m = C_b / C`` where ``C_b`` solves
      ``L_b(C_b) = L_a(C)`` along ``b``'s curve of the same kind (its
      compute-optimal frontier; at fixed N its token axis, at fixed D its size
      axis), found per draw by log-space bisection. ``m < 1``: ``b`` reaches
      ``a``'s loss with ``1/m`` times less compute. ``m = inf`` for draws in
      which ``b`` never reaches it (its irreducible loss is higher);
      ``p_reachable`` is the share of draws in which it does.

    Parameters
    ----------
    fit : ScalingFit
        A fit with groups.
    a, b : str
        Group labels; ``a`` is the baseline.
    C : float or array
        Compute budgets (FLOPs). For a law of compute alone (``power_law_C``)
        the loss at ``C`` is used directly.
    level : float, optional
        Interval mass (default: the fit's, 0.9).
    N, D : float or array, optional
        Also compare at these fixed model sizes / token counts.

    Returns
    -------
    pandas.DataFrame
        One row per (budget, allocation): ``a``, ``b``, ``allocation``
        (``"compute-optimal"``, ``"fixed N"``, ``"fixed D"``), ``C``, ``N``,
        ``D`` (the fixed one, else NaN), ``loss_a``, ``loss_b`` (medians),
        ``diff`` with ``diff_lower``/``diff_upper``, ``rel_diff`` (median of
        ``L_b / L_a - 1``), ``p_b_better``, ``multiplier`` with
        ``multiplier_lower``/``multiplier_upper``, ``p_reachable``, ``level``.

    Examples
    --------
    >>> # Long run (a grouped sampler to compile); tests/test_groups.py makes these calls.
    >>> fit = bs.fit(runs_with_groups)                                  # doctest: +SKIP
    >>> fit.compare("baseline", "new", C=[1e21, 1e23, 1e25])          # doctest: +SKIP
    """
    a, b = check_pair(fit, a, b)
    level = fit.level if level is None else level
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    if C is None:
        raise ValueError("give the compute budgets C (FLOPs) to compare at, e.g. C=[1e21, 1e23]")
    compute = _budgets(C)
    axis = _law_axis(fit.law)
    specs: list[tuple[str, float]] = [("compute-optimal", np.nan)]
    for name, values in (("N", N), ("D", D)):
        if values is None:
            continue
        if axis != "joint":
            raise ValueError(f"fixed {name} needs a law of N and D, not {fit.law!r}")
        specs += [(f"fixed {name}", float(v)) for v in _budgets(values)]
    frames = []
    for allocation, fixed in specs:
        loss_a, loss_b, multiplier = pair_draws(fit, a, b, compute, allocation, fixed)
        diff = loss_b - loss_a
        row: dict[str, Any] = {
                "a": a, "b": b, "allocation": allocation, "C": compute,
                "N": fixed if allocation == "fixed N" else np.nan,
                "D": fixed if allocation == "fixed D" else np.nan,
                "loss_a": np.median(loss_a, axis=0), "loss_b": np.median(loss_b, axis=0),
        }
        row["diff"], row["diff_lower"], row["diff_upper"] = _interval(diff, level)
        row["rel_diff"] = np.median(loss_b / loss_a - 1.0, axis=0)
        row["p_b_better"] = np.mean(diff < 0, axis=0)
        (row["multiplier"], row["multiplier_lower"],
         row["multiplier_upper"]) = _interval(multiplier, level)
        row["p_reachable"] = np.mean(np.isfinite(multiplier), axis=0)
        row["level"] = level
        frames.append(pd.DataFrame(row))
    return pd.concat(frames, ignore_index=True)


def pair_draws(
    fit: ScalingFit, a: str, b: str, compute: np.ndarray, allocation: str = "compute-optimal",
    fixed: float = np.nan,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-draw ``(L_a, L_b, multiplier)`` at budgets ``compute``, each ``(num_draws, M)``."""
    with jax.enable_x64(True):
        log_c = jnp.broadcast_to(jnp.log(jnp.asarray(compute))[None, :],
                                 (fit.num_draws, compute.size))
        curve_a = _curve_fn(fit, a, allocation, fixed)
        curve_b = _curve_fn(fit, b, allocation, fixed)
        log_la, log_lb = curve_a(log_c), curve_b(log_c)
        log_cb = _solve_log_compute(curve_b, log_la, log_c)
        loss_a, loss_b = np.exp(np.asarray(log_la)), np.exp(np.asarray(log_lb))
    return loss_a, loss_b, np.exp(log_cb - np.asarray(log_c))


# ------------------------------------------------------------------------ crossover
@dataclass(frozen=True)
class Crossover:
    """Posterior of the compute at which two groups' compute-optimal loss curves cross.

    Attributes
    ----------
    a, b : str
    C_range : (float, float)
        The compute range searched.
    p_cross : float
        Share of draws whose curves cross at least once inside ``C_range``.
    C_cross, C_lower, C_upper : float
        Median and equal-tailed interval of the (first) crossing compute *given*
        that the curves cross in the range (NaN when no draw crosses).
    p_multiple : float
        Share of draws crossing more than once.
    p_b_better_start, p_b_better_end : float
        ``P(L_b < L_a)`` at the two ends of the range.
    level : float
    draws : ndarray
        First crossing compute per draw (NaN for draws without a crossing).
    """

    a: str
    b: str
    C_range: tuple[float, float]
    p_cross: float
    C_cross: float
    C_lower: float
    C_upper: float
    p_multiple: float
    p_b_better_start: float
    p_b_better_end: float
    level: float
    draws: np.ndarray = field(repr=False)

    def to_frame(self) -> pd.DataFrame:
        """One-row tidy DataFrame of the summary numbers."""
        return pd.DataFrame([{k: getattr(self, k) for k in (
            "a", "b", "p_cross", "C_cross", "C_lower", "C_upper", "p_multiple",
            "p_b_better_start", "p_b_better_end", "level")}
            | {"C_min": self.C_range[0], "C_max": self.C_range[1]}])


def crossover(
    fit: ScalingFit,
    a: str,
    b: str,
    C_range: tuple[float, float] = (1e18, 1e27),  # noqa: N803
    *,
    level: float | None = None,
    num_grid: int = 256,
) -> Crossover:
    """Where (in compute) the compute-optimal loss curves of groups ``a`` and ``b`` cross.

    Per draw, the sign of ``L_b(C) - L_a(C)`` is scanned on a log grid of
    ``num_grid`` budgets in ``C_range``; the first sign change is refined by
    bisection. Curves of groups that differ only by offsets never cross; with
    different exponents they cross at most once or twice.

    Returns
    -------
    Crossover
        ``p_cross`` (probability of a crossing in the range), the crossing
        compute's median and interval given a crossing, and the per-draw values.
    """
    a, b = check_pair(fit, a, b)
    level = fit.level if level is None else level
    lo_c, hi_c = (float(x) for x in C_range)
    if not (0 < lo_c < hi_c and np.isfinite(hi_c)):
        raise ValueError(f"C_range must be (low, high) with 0 < low < high, got {C_range!r}")
    with jax.enable_x64(True):
        curve_a = _curve_fn(fit, a, "compute-optimal")
        curve_b = _curve_fn(fit, b, "compute-optimal")
        grid = jnp.linspace(np.log(lo_c), np.log(hi_c), num_grid)
        log_grid = jnp.broadcast_to(grid[None, :], (fit.num_draws, num_grid))
        gap = np.asarray(curve_b(log_grid) - curve_a(log_grid))  # (S, K) log-loss difference
        sign = np.sign(gap)
        changes = sign[:, 1:] * sign[:, :-1] < 0
        num_changes = changes.sum(axis=1)
        crosses = num_changes > 0
        first = np.argmax(changes, axis=1)
        lo = jnp.asarray(np.asarray(grid)[first])[:, None]
        hi = jnp.asarray(np.asarray(grid)[first + 1])[:, None]
        sign_lo = jnp.asarray(sign[np.arange(sign.shape[0]), first])[:, None]

        def step(_, bounds):
            lo, hi = bounds
            mid = 0.5 * (lo + hi)
            same = jnp.sign(curve_b(mid) - curve_a(mid)) == sign_lo
            return jnp.where(same, mid, lo), jnp.where(same, hi, mid)

        lo, hi = jax.lax.fori_loop(0, 40, step, (lo, hi))
        cross = np.exp(np.asarray(0.5 * (lo + hi))[:, 0])
    draws = np.where(crosses, cross, np.nan)
    if crosses.any():
        median, lower, upper = _interval(draws[crosses], level)
    else:
        median = lower = upper = np.nan
    return Crossover(
        a=a, b=b, C_range=(lo_c, hi_c), p_cross=float(crosses.mean()),
        C_cross=float(median), C_lower=float(lower), C_upper=float(upper),
        p_multiple=float(np.mean(num_changes > 1)),
        p_b_better_start=float(np.mean(gap[:, 0] < 0)),
        p_b_better_end=float(np.mean(gap[:, -1] < 0)), level=level, draws=draws,
    )


# -------------------------------------------------------------------- group effects
def group_effects(
    fit: ScalingFit, level: float | None = None, *, reference: str | None = None
) -> pd.DataFrame:
    """Differences between groups in every per-group parameter, relative to ``reference``.

    * Offsets (``A``, ``B``; Kaplan's ``N_c``, ``D_c``) are compared through the
      sampled centred site (``log_A_c``): the log ratio of the term at the design's
      central model size / token count, ``log(A_g N0^-alpha_g / (A_ref N0^-alpha_ref))``
      (the log ratio of ``A`` itself when the exponent is shared). ``ratio`` is
      its exponential: ``0.9`` means group ``g``'s term is 10% smaller.
    * Exponents and ``E`` are compared by their difference.

    Parameters
    ----------
    fit : ScalingFit
        A fit with groups.
    level : float, optional
    reference : str, optional
        Baseline group (default: the first label in sorted order).

    Returns
    -------
    pandas.DataFrame
        One row per (parameter, group other than the reference): ``parameter``,
        ``site``, ``group``, ``reference``, ``effect`` (``"log_ratio"`` or
        ``"difference"``), ``median``, ``lower``, ``upper``, ``p_positive``,
        ``ratio`` (offsets only, else NaN), ``level``. Shared parameters have no
        rows (their difference is zero by construction).
    """
    if fit.groups is None:
        raise ValueError("group_effects needs a fit with groups")
    level = fit.level if level is None else level
    labels = fit.group_labels
    reference = labels[0] if reference is None else str(reference)
    ref = fit._group_position(reference)
    rows = []
    for name in fit.groups.per_group:
        site = fit.law.site_of(name)
        values = fit.draws(site)
        is_offset = site != name
        for g, label in enumerate(labels):
            if g == ref:
                continue
            delta = values[:, g] - values[:, ref]
            median, lower, upper = _interval(delta, level)
            rows.append({
                "parameter": name, "site": site, "group": label, "reference": reference,
                "effect": "log_ratio" if is_offset else "difference",
                "median": float(median), "lower": float(lower), "upper": float(upper),
                "p_positive": float(np.mean(delta > 0)),
                "ratio": float(np.exp(median)) if is_offset else np.nan, "level": level,
            })
    columns = ["parameter", "site", "group", "reference", "effect", "median", "lower", "upper",
               "p_positive", "ratio", "level"]
    return pd.DataFrame(rows, columns=columns)


# ------------------------------------------------------------------- model choice
def compare_models(
    fits: Mapping[str, ScalingFit], *, method: str = "stacking"
) -> pd.DataFrame:
    """Compare fits of the same runs (e.g. shared vs separate exponents) by PSIS-LOO.

    Each fit's pointwise log-likelihood (the ``log_likelihood`` group, variable
    ``log_loss`` over dimension ``run``) goes through :func:`arviz_stats.loo`;
    the ranking is :func:`arviz_stats.compare`. Runs whose Pareto-k exceeds the
    sample-size-dependent threshold (``min(1 - 1/log10(S), 0.7)``; the one rule of
    ``bayes_scaling.compare.loo.loo_compare``, shared with ``compare_laws``) make that
    fit's ELPD unreliable: a :class:`ParetoKWarning` names the fit and the count
    (refit with ``likelihood="student_t"`` or check those runs).

    Parameters
    ----------
    fits : mapping of name -> ScalingFit
        At least two fits of the same runs (same table, same order).
    method : {"stacking", "BB-pseudo-BMA", "pseudo-BMA"}
        How ``arviz_stats.compare`` computes model weights.

    Returns
    -------
    pandas.DataFrame
        ``arviz_stats.compare``'s table (index: fit names, best first; columns
        ``rank``, ``elpd_diff``, ``dse``, ``p_worse``, ``diag_diff``, ``diag_elpd``,
        ``p``, ``elpd``, ``se``, ``weight``) plus ``pareto_k_high`` (number of runs
        above the threshold) and ``pareto_k_max``.

    Examples
    --------
    >>> # Long run (two grouped samplers to compile); tests/test_groups.py makes these calls.
    >>> shared = bs.fit(runs)                                           # doctest: +SKIP
    >>> separate = bs.fit(runs, groups="separate")                     # doctest: +SKIP
    >>> bs.compare_models({"shared": shared, "separate": separate})   # doctest: +SKIP
    """
    return loo_compare(fits, method=method, caller="compare_models")


# ScalingFit's method(s) of the same name call these (results layer: no import upwards).
register("compare", compare)
register("crossover", crossover)
register("group_effects", group_effects)
