"""Chinchilla Approach 2: iso-FLOP parabolas, then power laws of the optima in compute."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from .._lazy import lazy_import
from ..data.runs import RunsTable, RunsTableError
from .classical import (
    allocation_frame,
    as_float_array,
    as_runs,
    check_level,
    logger,
    percentile_interval,
    select_group,
)

pd = lazy_import("pandas")

__all__ = ["IsoFlopFit", "NoInteriorMinimumError", "fit_approach2"]


class NoInteriorMinimumError(ValueError):
    """An iso-FLOP budget whose loss-vs-log N parabola has no minimum inside its runs.

    Attributes
    ----------
    budget : float
        The compute budget C (FLOPs).
    reason : str
    """

    def __init__(self, budget: float, reason: str):
        self.budget = float(budget)
        self.reason = reason
        super().__init__(
            f"iso-FLOP budget C={budget:.4g}: {reason}. Add runs on both sides of the optimum, "
            "or pass on_bad_budget='skip' to leave this budget out"
        )


def _cluster_budgets(c: np.ndarray, rtol: float) -> tuple[np.ndarray, np.ndarray]:
    """Cluster compute values: sorted log C split where the gap exceeds log(1 + rtol).

    Returns the cluster index of each run and each cluster's geometric-mean C.
    """
    log_c = np.log(c)
    order = np.argsort(log_c, kind="stable")
    gaps = np.diff(log_c[order]) > math.log1p(rtol)
    labels_sorted = np.concatenate([[0], np.cumsum(gaps)])
    labels = np.empty_like(labels_sorted)
    labels[order] = labels_sorted
    centres = np.array([np.exp(log_c[labels == j].mean()) for j in range(labels.max() + 1)])
    return labels, centres


def _parabola_vertex(x: np.ndarray, y: np.ndarray, w: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Weighted least-squares parabolas ``y = c0 + c1 x + c2 x^2``, batched over rows of ``w``.

    Returns vertex x, vertex y, curvature c2 and a flag for a valid fit (>= 3
    distinct x with positive weight, c2 > 0, vertex inside the weighted x range).
    """
    xc = x.mean()
    u = x - xc  # centred for conditioning
    design = np.stack([np.ones_like(u), u, u * u], axis=1)  # (n, 3)
    gram = np.einsum("bn,ni,nj->bij", w, design, design)
    rhs = np.einsum("bn,ni,n->bi", w, design, y)
    present = w > 0
    ux, inverse = np.unique(x, return_inverse=True)
    onehot = np.zeros((len(x), len(ux)))
    onehot[np.arange(len(x)), inverse] = 1.0
    distinct = ((present @ onehot) > 0).sum(axis=1)
    enough = distinct >= 3
    gram = np.where(enough[:, None, None], gram, np.eye(3))
    coef = np.linalg.solve(gram, rhs[..., None])[..., 0]
    c0, c1, c2 = coef[:, 0], coef[:, 1], coef[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        vx = -c1 / (2.0 * c2)
        vy = c0 - c1 * c1 / (4.0 * c2)
    lo = np.where(present, u[None, :], np.inf).min(axis=1)
    hi = np.where(present, u[None, :], -np.inf).max(axis=1)
    valid = enough & (c2 > 0) & (vx >= lo) & (vx <= hi)
    return vx + xc, vy, c2, valid


def _power_law(log_c: np.ndarray, log_y: np.ndarray, mask: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares slope and intercept of ``log_y`` (..., J) on ``log_c`` (J,).

    ``mask`` (..., J) leaves budgets out row by row (NaN where fewer than two remain).
    """
    log_y = np.asarray(log_y, dtype=np.float64)
    m = np.ones_like(log_y) if mask is None else np.asarray(mask, dtype=np.float64)
    y = np.where(m > 0, log_y, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        count = m.sum(axis=-1)
        mean_c = (m * log_c).sum(axis=-1) / count
        mean_y = (m * y).sum(axis=-1) / count
        dc = log_c - mean_c[..., None]
        slope = (m * dc * (y - mean_y[..., None])).sum(axis=-1) / (m * dc * dc).sum(axis=-1)
        intercept = mean_y - slope * mean_c
    few = count < 2
    return np.where(few, np.nan, slope), np.where(few, np.nan, intercept)


@dataclass(frozen=True)
class IsoFlopFit:
    """Result of :func:`fit_approach2` (immutable).

    Attributes
    ----------
    params : dict
        ``a``, ``b`` (exponents), ``G_N``, ``G_D`` of ``N_opt = G_N C^a``,
        ``D_opt = G_D C^b``.
    budgets : pandas.DataFrame
        One row per budget: ``budget`` (C), ``n_runs``, ``N_opt``, ``D_opt``,
        ``loss_opt`` (parabola minimum), ``curvature`` (d^2 loss / d(log N)^2 / 2),
        ``N_min``/``N_max`` of its runs, ``used`` (False when skipped), ``reason`` and,
        with bootstrap, ``bootstrap_invalid`` (fraction of replicates in which the
        budget had no interior minimum and was left out).
    bootstrap : pandas.DataFrame or None
        Replicates of ``a``, ``b``, ``G_N``, ``G_D``.
    bootstrap_N_opt : pandas.DataFrame or None
        Replicates of each used budget's vertex (one column per budget).
    level : float
    flops_factor : float
    num_failed_bootstrap : int
        Replicates discarded because fewer than two budgets kept an interior minimum.
    """

    params: dict[str, float]
    budgets: pd.DataFrame
    bootstrap: pd.DataFrame | None = None
    bootstrap_N_opt: pd.DataFrame | None = field(default=None, repr=False)  # noqa: N815
    level: float = 0.9
    flops_factor: float = 6.0
    num_failed_bootstrap: int = 0

    def summary(self, level: float | None = None) -> pd.DataFrame:
        """Exponents and per-budget optima with percentile bootstrap intervals.

        Returns
        -------
        pandas.DataFrame
            Columns ``parameter``, ``budget``, ``estimate``, ``lower``, ``upper``,
            ``method``: rows ``a`` and ``b`` (``budget`` NaN), then one ``N_opt``
            row per used budget.
        """
        level = check_level(self.level if level is None else level)
        used = self.budgets[self.budgets["used"]]
        names = ["a", "b"] + ["N_opt"] * len(used)
        budgets = np.concatenate([[np.nan, np.nan], used["budget"].to_numpy()])
        est = np.concatenate([[self.params["a"], self.params["b"]], used["N_opt"].to_numpy()])
        if self.bootstrap is not None and len(self.bootstrap):
            draws = np.column_stack([self.bootstrap["a"], self.bootstrap["b"],
                                     self.bootstrap_N_opt.to_numpy()])
            lower, upper = percentile_interval(draws, level)
        else:
            lower = upper = np.full(len(names), np.nan)
        return pd.DataFrame({"parameter": names, "budget": budgets, "estimate": est,
                             "lower": lower, "upper": upper, "method": "approach2"})

    def optimal_allocation(self, C: object, *, level: float | None = None  # noqa: N803
                           ) -> pd.DataFrame:
        """Compute-optimal N and D from the fitted power laws, same layout as Approach 3.

        ``N_opt = G_N C^a``, ``D_opt = G_D C^b``. Approach 2 has no loss model, so
        ``loss_opt`` and its bounds are NaN.

        Parameters
        ----------
        C : float or array-like
            Compute budgets in FLOPs.
        level : float, optional
            Bootstrap interval level.

        Returns
        -------
        pandas.DataFrame
            Columns ``C``, ``N_opt``, ``D_opt``, ``tokens_per_param``, ``loss_opt``
            with ``_lower`` / ``_upper``.
        """
        level = check_level(self.level if level is None else level)
        c = as_float_array(C, "C")
        log_c = np.log(c)

        def alloc(a, b, g_n, g_d):
            log_n = np.log(g_n)[..., None] + np.asarray(a)[..., None] * log_c
            log_d = np.log(g_d)[..., None] + np.asarray(b)[..., None] * log_c
            return {"N_opt": np.exp(log_n), "D_opt": np.exp(log_d),
                    "tokens_per_param": np.exp(log_d - log_n)}

        p = self.params
        point = alloc(p["a"], p["b"], p["G_N"], p["G_D"])
        point["loss_opt"] = np.full_like(c, np.nan)
        draws = None
        if self.bootstrap is not None and len(self.bootstrap):
            bs = self.bootstrap
            draws = alloc(bs["a"].to_numpy(), bs["b"].to_numpy(), bs["G_N"].to_numpy(),
                          bs["G_D"].to_numpy())
        return allocation_frame(c, point, draws, level)


def fit_approach2(
    runs: pd.DataFrame | RunsTable,
    *,
    budget_column: str | None = None,
    budget_rtol: float = 0.1,
    on_bad_budget: Literal["raise", "skip"] = "raise",
    num_bootstrap: int = 0,
    level: float = 0.9,
    seed: int = 0,
    flops_factor: float = 6.0,
    group: str | None = None,
) -> IsoFlopFit:
    r"""Chinchilla Approach 2: iso-FLOP parabolas, then power laws of the optima.

    For each budget :math:`C_j`, least squares
    :math:`L \approx c_0 + c_1 x + c_2 x^2` with :math:`x = \log N`; the vertex
    :math:`x^* = -c_1 / (2 c_2)` gives :math:`N_{opt}(C_j) = e^{x^*}` and
    :math:`D_{opt}(C_j) = C_j / (k N_{opt})`. It is used only if :math:`c_2 > 0`
    and :math:`x^*` lies within the budget's range of :math:`\log N`. Then
    :math:`\log N_{opt} = \log G_N + a \log C` and
    :math:`\log D_{opt} = \log G_D + b \log C` by least squares (so
    :math:`a + b = 1`).

    Parameters
    ----------
    runs : pandas.DataFrame or RunsTable
        The runs (not modified).
    budget_column : str, optional
        Column of the caller's DataFrame (or ``runs.frame``) holding each run's
        nominal budget. Without it, C values are clustered: sorted log C is split
        wherever consecutive values differ by more than ``log(1 + budget_rtol)``,
        and a budget's C is the geometric mean of its runs' C.
    budget_rtol : float, default 0.1
    on_bad_budget : {"raise", "skip"}
        A budget without an interior minimum (or with fewer than 3 distinct model
        sizes) raises ``NoInteriorMinimumError``, or is left out and marked
        in ``budgets``.
    num_bootstrap : int, default 0
        Replicates resampling runs with replacement *within each budget*. A budget
        whose resample has no interior minimum is left out of that replicate's
        power-law fit (its ``N_opt`` draw is NaN); a replicate left with fewer
        than two budgets is discarded (counted in ``num_failed_bootstrap``).
    level : float, default 0.9
    seed : int, default 0
    flops_factor : float, default 6
    group : str, optional
        Fit only this group; required when the table has several groups.

    Returns
    -------
    IsoFlopFit

    Raises
    ------
    NoInteriorMinimumError
        With ``on_bad_budget="raise"``, for the first bad budget.
    ValueError
        Fewer than two usable budgets.
    """
    level = check_level(level)
    if on_bad_budget not in ("raise", "skip"):
        raise ValueError(f"on_bad_budget must be 'raise' or 'skip', got {on_bad_budget!r}")
    if num_bootstrap < 0:
        raise ValueError("num_bootstrap must be >= 0")
    table = as_runs(runs, flops_factor)
    table.require(("N", "C", "loss"), min_runs=6, law="iso-FLOP analysis")
    mask = select_group(table, group)
    frame = table.frame[mask]
    k = table.flops_factor

    if budget_column is not None:
        source = runs if isinstance(runs, pd.DataFrame) else table.frame
        if budget_column not in source.columns:
            raise RunsTableError("budget column not found", column=budget_column)
        # Positional: the runs table keeps the caller's row order (labels may repeat).
        raw = pd.to_numeric(source[budget_column].iloc[np.flatnonzero(mask)], errors="coerce")
        budget_values = raw.to_numpy(np.float64)
        if not np.all(np.isfinite(budget_values)) or np.any(budget_values <= 0):
            raise RunsTableError("budgets must be positive numbers", column=budget_column)
        centres, labels = np.unique(budget_values, return_inverse=True)
    else:
        labels, centres = _cluster_budgets(frame["C"].to_numpy(np.float64), budget_rtol)

    log_n_all = np.log(frame["N"].to_numpy(np.float64))
    loss_all = frame["loss"].to_numpy(np.float64)
    rows = []
    members: list[np.ndarray] = []
    for j, c_j in enumerate(centres):
        idx = np.flatnonzero(labels == j)
        x, y = log_n_all[idx], loss_all[idx]
        vx, vy, c2, valid = _parabola_vertex(x, y, np.ones((1, len(idx))))
        reason = ""
        if len(np.unique(x)) < 3:
            reason = f"fewer than 3 distinct model sizes ({len(np.unique(x))})"
        elif not c2[0] > 0:
            reason = "the parabola of loss vs log N opens downwards (no minimum)"
        elif not valid[0]:
            reason = (f"the parabola's minimum N={math.exp(vx[0]):.4g} lies outside the runs' "
                      f"range [{math.exp(x.min()):.4g}, {math.exp(x.max()):.4g}]")
        if reason and on_bad_budget == "raise":
            raise NoInteriorMinimumError(c_j, reason)
        ok = not reason
        n_opt = math.exp(vx[0]) if ok else np.nan
        rows.append({"budget": c_j, "n_runs": len(idx), "N_opt": n_opt,
                     "D_opt": c_j / (k * n_opt) if ok else np.nan,
                     "loss_opt": vy[0] if ok else np.nan, "curvature": c2[0],
                     "N_min": math.exp(x.min()), "N_max": math.exp(x.max()), "used": ok,
                     "reason": reason})
        if ok:
            members.append(idx)
        else:
            logger.warning("iso-FLOP budget C=%.4g skipped: %s", c_j, reason)
    budgets = pd.DataFrame(rows)
    used = budgets[budgets["used"]]
    if len(used) < 2:
        raise ValueError(f"need at least two budgets with an interior minimum, got {len(used)} "
                         f"(of {len(budgets)} budgets)")
    log_c = np.log(used["budget"].to_numpy())
    a, log_gn = _power_law(log_c, np.log(used["N_opt"].to_numpy()))
    b, log_gd = _power_law(log_c, np.log(used["D_opt"].to_numpy()))
    params = {"a": float(a), "b": float(b), "G_N": float(np.exp(log_gn)),
              "G_D": float(np.exp(log_gd))}

    bootstrap = boot_nopt = None
    failed = 0
    if num_bootstrap > 0:
        rng = np.random.default_rng(seed)
        log_vertex = np.empty((num_bootstrap, len(members)))
        valid = np.empty((num_bootstrap, len(members)), dtype=bool)
        for j, idx in enumerate(members):  # loop over budgets; replicates are vectorised
            m = len(idx)
            w = rng.multinomial(m, np.full(m, 1.0 / m), size=num_bootstrap).astype(np.float64)
            log_vertex[:, j], _, _, valid[:, j] = _parabola_vertex(log_n_all[idx], loss_all[idx], w)
        # A budget whose resample loses its interior minimum is left out of that
        # replicate (the on_bad_budget="skip" rule); discarding whole replicates
        # would keep only the well-behaved resamples and narrow the intervals.
        log_vertex = np.where(valid, log_vertex, np.nan)
        a_b, lgn_b = _power_law(log_c, log_vertex, valid)
        # log D_opt = log C - log k - log N_opt for every budget of the replicate.
        b_b, lgd_b = _power_law(log_c, log_c - math.log(k) - log_vertex, valid)
        ok = np.isfinite(a_b) & np.isfinite(b_b)
        failed = int((~ok).sum())
        rep_index = pd.Index(np.flatnonzero(ok), name="replicate")
        bootstrap = pd.DataFrame({"a": a_b[ok], "b": b_b[ok], "G_N": np.exp(lgn_b[ok]),
                                  "G_D": np.exp(lgd_b[ok])}, index=rep_index)
        boot_nopt = pd.DataFrame(np.exp(log_vertex[ok]), columns=used["budget"].to_numpy(),
                                 index=rep_index)
        budgets["bootstrap_invalid"] = np.nan
        budgets.loc[budgets["used"], "bootstrap_invalid"] = (~valid).mean(axis=0)
        if failed:
            logger.warning("%d of %d iso-FLOP bootstrap replicates kept fewer than two budgets "
                           "and were dropped", failed, num_bootstrap)

    return IsoFlopFit(params=params, budgets=budgets, bootstrap=bootstrap,
                      bootstrap_N_opt=boot_nopt, level=level, flops_factor=float(k),
                      num_failed_bootstrap=failed)
