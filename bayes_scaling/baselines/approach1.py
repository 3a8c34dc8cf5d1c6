r"""Chinchilla Approach 1: the envelope of training curves.

Hoffmann et al. (2022, Sec. 3.1) train each model size for several horizons and,
for every FLOPs value :math:`C`, take the lowest loss reached by any run at that
compute: the *envelope* of the training curves. The run that attains it gives
:math:`N_{opt}(C)` and :math:`D_{opt}(C) = C / (k N_{opt})`; power laws

.. math::

    N_{opt} = G_N C^a, \qquad D_{opt} = G_D C^b

are fitted by least squares in log space over the envelope points.

Each run's loss is interpolated linearly in :math:`\log C` between its checkpoints
on a common log-spaced grid (never extrapolated). Points where fewer than
``min_runs`` runs reach that compute, or where the winner is the smallest or
largest model size (the optimum may lie beyond the sizes trained: the point is
censored), are left out of the power-law fit (``drop_edges``).

Intervals come from a bootstrap over *runs* (the unit that was sampled: which
model sizes were trained): each replicate resamples runs with replacement,
rebuilds the envelope from the distinct runs drawn and refits the power laws.

:func:`fit_approach1` returns an :class:`EnvelopeFit` with the same ``summary()``
and ``optimal_allocation(C=...)`` tables as Approaches 2 and 3
(:mod:`bayes_scaling.classical`), so the three and the posterior can be put side
by side.

Examples
--------
>>> import numpy as np
>>> import bayes_scaling as bs
>>> from bayes_scaling.baselines.approach1 import fit_approach1
>>> from bayes_scaling.results.learning_curves import simulate_learning_curves
>>> truth = bs.EXAMPLE_TRUTH
>>> curves = simulate_learning_curves("chinchilla", truth, N=np.geomspace(1e7, 1e9, 12),
...                                   D_final=np.geomspace(1e7, 1e9, 12) * 200,
...                                   num_checkpoints=30, tau=0.0, noise=0.0, seed=0)
>>> result = fit_approach1(curves, num_bootstrap=50, seed=0)
>>> a_true = truth["beta"] / (truth["alpha"] + truth["beta"])
>>> bool(abs(result.params["a"] - a_true) < 0.05)
True
>>> list(result.summary().columns)
['parameter', 'budget', 'estimate', 'lower', 'upper', 'method']
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .._lazy import lazy_import
from ..data.runs import RunsTable, RunsTableError
from .approach2 import IsoFlopFit, _power_law
from .classical import as_runs as _as_runs
from .classical import check_level as _check_level
from .classical import percentile_interval as _percentile_interval
from .classical import select_group as _group_mask

pd = lazy_import("pandas")

__all__ = ["EnvelopeFit", "fit_approach1", "training_envelope"]


def _curve_matrix(frame: pd.DataFrame, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                    np.ndarray]:
    """Loss of every run on the log-C grid (NaN outside its checkpoints): (runs, grid)."""
    names = pd.unique(frame["run"])
    loss = np.full((len(names), len(grid)), np.nan)
    sizes = np.empty(len(names))
    log_grid = np.log(grid)
    for i, name in enumerate(names):
        run = frame[frame["run"] == name].sort_values("C")
        n_values = run["N"].unique()
        if len(n_values) != 1:
            raise RunsTableError(f"run {name!r} has {len(n_values)} different model sizes",
                                 column="N", fix="give each run one N (one model)")
        sizes[i] = n_values[0]
        log_c = np.log(run["C"].to_numpy(np.float64))
        inside = (log_grid >= log_c[0]) & (log_grid <= log_c[-1])
        loss[i, inside] = np.interp(log_grid[inside], log_c, run["loss"].to_numpy(np.float64))
    return np.asarray(names), sizes, loss


def _envelope(loss: np.ndarray, sizes: np.ndarray, present: np.ndarray, min_runs: int,
              drop_edges: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Winner index, envelope loss and usable flag per grid point, batched over replicates.

    ``present`` (R, runs) marks the runs drawn in each replicate.
    """
    masked = np.where(present[:, :, None], loss[None], np.inf)  # (R, runs, grid)
    masked = np.where(np.isnan(masked), np.inf, masked)
    winner = np.argmin(masked, axis=1)  # (R, grid)
    best = np.take_along_axis(masked, winner[:, None, :], axis=1)[:, 0, :]
    covering = np.isfinite(masked).sum(axis=1)
    usable = np.isfinite(best) & (covering >= min_runs)
    if drop_edges:
        n_win = sizes[winner]
        n_lo = np.where(present, sizes[None], np.inf).min(axis=1)[:, None]
        n_hi = np.where(present, sizes[None], -np.inf).max(axis=1)[:, None]
        usable &= (n_win > n_lo) & (n_win < n_hi)
    return winner, best, usable


def training_envelope(curves: pd.DataFrame | RunsTable, *, num_points: int = 200,
                      min_runs: int = 3, drop_edges: bool = True, flops_factor: float = 6.0,
                      group: str | None = None) -> pd.DataFrame:
    """The envelope of training curves: the lowest loss at each FLOPs value.

    Parameters
    ----------
    curves : pandas.DataFrame or RunsTable
        Checkpoints: columns ``run``, ``N``, ``loss`` and ``D`` or ``C`` (aliases of
        :func:`bayes_scaling.load_runs`), several rows per run.
    num_points : int, default 200
        Log-spaced compute values spanning the checkpoints.
    min_runs : int, default 3
        A point is ``used`` only if at least this many runs reach its compute.
    drop_edges : bool, default True
        Mark as unused the points won by the smallest or largest model size.
    flops_factor : float, default 6
    group : str, optional
        Use only this group of a table with a ``group`` column.

    Returns
    -------
    pandas.DataFrame
        One row per grid point: ``C``, ``loss`` (envelope), ``run``, ``N_opt``,
        ``D_opt`` (``C / (k N_opt)``), ``num_runs`` (runs reaching ``C``), ``used``.
    """
    table, frame = _checkpoints(curves, flops_factor, group)
    grid = _grid(frame, num_points)
    names, sizes, loss = _curve_matrix(frame, grid)
    present = np.ones((1, len(names)), dtype=bool)
    winner, best, usable = _envelope(loss, sizes, present, min_runs, drop_edges)
    n_opt = sizes[winner[0]]
    return pd.DataFrame({"C": grid, "loss": best[0], "run": names[winner[0]], "N_opt": n_opt,
                         "D_opt": grid / (table.flops_factor * n_opt),
                         "num_runs": np.isfinite(loss).sum(axis=0), "used": usable[0]})


def _checkpoints(curves: pd.DataFrame | RunsTable, flops_factor: float, group: str | None
                 ) -> tuple[RunsTable, pd.DataFrame]:
    table = _as_runs(curves, flops_factor)
    table.require(("N", "C", "loss"), min_runs=6, law="training-curve envelope")
    if "run" not in table.frame.columns:
        raise RunsTableError("column is missing", column="run",
                             fix="name each run's checkpoints by a 'run' column")
    frame = table.frame[_group_mask(table, group)]
    if frame["run"].nunique() < 3:
        raise RunsTableError(f"need at least 3 runs, got {frame['run'].nunique()}",
                             column="run")
    return table, frame


def _grid(frame: pd.DataFrame, num_points: int) -> np.ndarray:
    if num_points < 10:
        raise ValueError(f"num_points must be >= 10, got {num_points}")
    return np.geomspace(frame["C"].min(), frame["C"].max(), num_points)


@dataclass(frozen=True)
class EnvelopeFit:
    """Result of :func:`fit_approach1` (immutable).

    Attributes
    ----------
    params : dict
        ``a``, ``b`` (exponents), ``G_N``, ``G_D`` of ``N_opt = G_N C^a``,
        ``D_opt = G_D C^b``.
    envelope : pandas.DataFrame
        The envelope of the full data (see :func:`training_envelope`).
    bootstrap : pandas.DataFrame or None
        Replicates of ``a``, ``b``, ``G_N``, ``G_D`` (runs resampled).
    level : float
    flops_factor : float
    num_failed_bootstrap : int
        Replicates with fewer than two usable envelope points (discarded).
    """

    params: dict[str, float]
    envelope: pd.DataFrame
    bootstrap: pd.DataFrame | None = None
    level: float = 0.9
    flops_factor: float = 6.0
    num_failed_bootstrap: int = field(default=0)

    def _as_isoflop(self) -> IsoFlopFit:
        # The allocation from two power laws is the same computation as Approach 2's.
        return IsoFlopFit(params=self.params, budgets=pd.DataFrame(), bootstrap=self.bootstrap,
                          level=self.level, flops_factor=self.flops_factor)

    def summary(self, level: float | None = None) -> pd.DataFrame:
        """Exponents and ``N_opt`` at each decade of the used envelope, with intervals.

        Returns
        -------
        pandas.DataFrame
            Columns ``parameter``, ``budget``, ``estimate``, ``lower``, ``upper``,
            ``method`` (``"approach1"``), as :meth:`IsoFlopFit.summary`.
        """
        level = _check_level(self.level if level is None else level)
        used = self.envelope[self.envelope["used"]]
        lo, hi = np.log10(used["C"].min()), np.log10(used["C"].max())
        decades = 10.0 ** np.arange(math.ceil(lo), math.floor(hi) + 1)
        alloc = self._as_isoflop().optimal_allocation(C=decades, level=level) if len(
            decades) else None
        names = ["a", "b"]
        est = [self.params["a"], self.params["b"]]
        lower, upper = [np.nan, np.nan], [np.nan, np.nan]
        if self.bootstrap is not None and len(self.bootstrap):
            (la, lb), (ua, ub) = _percentile_interval(
                self.bootstrap[["a", "b"]].to_numpy(), level)
            lower, upper = [la, lb], [ua, ub]
        budgets = [np.nan, np.nan]
        if alloc is not None:
            names += ["N_opt"] * len(decades)
            budgets += list(decades)
            est += list(alloc["N_opt"])
            lower += list(alloc["N_opt_lower"])
            upper += list(alloc["N_opt_upper"])
        return pd.DataFrame({"parameter": names, "budget": budgets, "estimate": est,
                             "lower": lower, "upper": upper, "method": "approach1"})

    def optimal_allocation(self, *, C: object, level: float | None = None  # noqa: N803
                           ) -> pd.DataFrame:
        """``N_opt = G_N C^a``, ``D_opt = G_D C^b`` at ``C``: the layout of Approaches 2 and 3.

        ``loss_opt`` is NaN (the envelope fit has no loss model).
        """
        return self._as_isoflop().optimal_allocation(C=C, level=level)


def fit_approach1(
    curves: pd.DataFrame | RunsTable,
    *,
    num_points: int = 200,
    min_runs: int = 3,
    drop_edges: bool = True,
    num_bootstrap: int = 0,
    level: float = 0.9,
    seed: int = 0,
    flops_factor: float = 6.0,
    group: str | None = None,
) -> EnvelopeFit:
    """Chinchilla Approach 1: power laws of N_opt(C), D_opt(C) fitted to the training envelope.

    Parameters
    ----------
    curves : pandas.DataFrame or RunsTable
        Checkpoints with ``run``, ``N``, ``loss`` and ``D`` or ``C`` (not modified).
    num_points, min_runs, drop_edges, flops_factor, group
        As in :func:`training_envelope`.
    num_bootstrap : int, default 0
        Bootstrap replicates resampling runs with replacement.
    level : float, default 0.9
        Percentile interval level.
    seed : int, default 0

    Returns
    -------
    EnvelopeFit

    Raises
    ------
    RunsTableError
        No ``run`` column, fewer than 3 runs, or a run with several model sizes.
    ValueError
        Fewer than two usable envelope points.
    """
    level = _check_level(level)
    if num_bootstrap < 0:
        raise ValueError("num_bootstrap must be >= 0")
    table, frame = _checkpoints(curves, flops_factor, group)
    k = table.flops_factor
    grid = _grid(frame, num_points)
    names, sizes, loss = _curve_matrix(frame, grid)
    log_c = np.log(grid)

    def fit_rows(present: np.ndarray) -> tuple[np.ndarray, ...]:
        winner, _, usable = _envelope(loss, sizes, present, min_runs, drop_edges)
        log_n = np.log(sizes[winner])
        a, log_gn = _power_law(log_c, log_n, usable)
        b, log_gd = _power_law(log_c, log_c - math.log(k) - log_n, usable)
        # Fewer than two distinct winners leave the slope undefined.
        distinct = np.array([len(np.unique(w[u])) for w, u in zip(winner, usable, strict=True)])
        bad = distinct < 2
        return (np.where(bad, np.nan, a), np.where(bad, np.nan, b), log_gn, log_gd)

    a, b, log_gn, log_gd = fit_rows(np.ones((1, len(names)), dtype=bool))
    if not np.isfinite(a[0]):
        raise ValueError("fewer than two model sizes win a usable part of the envelope: "
                         "train more sizes, or set drop_edges=False / lower min_runs")
    params = {"a": float(a[0]), "b": float(b[0]), "G_N": float(np.exp(log_gn[0])),
              "G_D": float(np.exp(log_gd[0]))}
    envelope = training_envelope(table, num_points=num_points, min_runs=min_runs,
                                 drop_edges=drop_edges, group=group)

    bootstrap, failed = None, 0
    if num_bootstrap:
        rng = np.random.default_rng(seed)
        picks = rng.integers(0, len(names), size=(num_bootstrap, len(names)))
        present = np.zeros((num_bootstrap, len(names)), dtype=bool)
        np.put_along_axis(present, picks, True, axis=1)
        a_b, b_b, lgn_b, lgd_b = fit_rows(present)
        ok = np.isfinite(a_b) & np.isfinite(b_b)
        failed = int((~ok).sum())
        bootstrap = pd.DataFrame({"a": a_b[ok], "b": b_b[ok], "G_N": np.exp(lgn_b[ok]),
                                  "G_D": np.exp(lgd_b[ok])},
                                 index=pd.Index(np.flatnonzero(ok), name="replicate"))
    return EnvelopeFit(params=params, envelope=envelope, bootstrap=bootstrap, level=level,
                       flops_factor=float(k), num_failed_bootstrap=failed)
