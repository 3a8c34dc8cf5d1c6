r"""Classical (point-estimate) Chinchilla baselines: Approach 3 and Approach 2.

These are the fits the Bayesian models are compared against.

**Approach 3** (Hoffmann et al. 2022, Sec. 3.3; replication by Besiroglu et al.
2024) fits the parametric loss surface

.. math::

    L(N, D) = E + \frac{A}{N^\alpha} + \frac{B}{D^\beta}

by minimising :math:`\sum_i w_i\,\mathrm{Huber}_\delta\big(\log \hat L_i - \log L_i\big)`
with :math:`\delta = 10^{-3}` and

.. math::

    \log \hat L_i = \operatorname{logsumexp}\big(a - \alpha \log N_i,\;
    b - \beta \log D_i,\; e\big), \qquad A = e^a,\; B = e^b,\; E = e^e,

with L-BFGS (optax, zoom line search) from a grid of initialisations, keeping
the best. Intervals come from a non-parametric bootstrap over runs.

**Approach 2** (iso-FLOP profiles) fits, for each compute budget :math:`C`, a
parabola of the loss against :math:`\log N`, takes its vertex as
:math:`N_{opt}(C)` and fits the power laws :math:`N_{opt} = G_N C^a`,
:math:`D_{opt} = G_D C^b` by least squares in log space.

Both fit objects expose ``summary()`` and ``optimal_allocation(C=...)`` with the
same column layout, so the two approaches (and the Bayesian fits) can be put
side by side.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
import optax
import optax.tree_utils as otu
import pandas as pd

from ..data.runs import RunsTable, RunsTableError, load_runs

__all__ = [
    "ClassicalFit",
    "IsoFlopFit",
    "NoInteriorMinimumError",
    "approach3_grid",
    "fit_approach2",
    "fit_approach3",
]

logger = logging.getLogger("bayes_scaling")

#: Parameter names of the Chinchilla law, in the order reported.
PARAMETER_NAMES: tuple[str, ...] = ("E", "A", "alpha", "B", "beta")
#: Order of the unconstrained vector the optimiser works on.
THETA_NAMES: tuple[str, ...] = ("a", "b", "e", "alpha", "beta")

_ALLOCATION_QUANTITIES = ("N_opt", "D_opt", "tokens_per_param", "loss_opt")


# ---------------------------------------------------------------------------
# Shared helpers
# ---------------------------------------------------------------------------


def _as_runs(runs: pd.DataFrame | RunsTable, flops_factor: float) -> RunsTable:
    """A validated :class:`RunsTable` (``load_runs`` copies, so the caller's frame is safe)."""
    if isinstance(runs, RunsTable):
        return runs
    if isinstance(runs, pd.DataFrame):
        return load_runs(runs, flops_factor=flops_factor)
    raise TypeError(f"expected a pandas DataFrame or a RunsTable, got {type(runs).__name__}")


def _select_group(table: RunsTable, group: str | None) -> np.ndarray:
    """Boolean mask of the rows of one group; refuse to pool several groups silently."""
    frame = table.frame
    mask = np.ones(len(frame), dtype=bool)
    if group is not None:
        if not table.has_groups:
            raise RunsTableError(f"group={group!r} given but the table has no group column",
                                 column="group")
        mask = (frame["group"].astype(str) == str(group)).to_numpy()
        if not mask.any():
            raise RunsTableError(
                f"no runs in group {group!r}", column="group",
                fix=f"choose one of {', '.join(table.group_labels)}",
            )
    elif table.has_groups and len(table.group_labels) > 1:
        # One law across data mixtures / architectures is rarely what is meant.
        raise RunsTableError(
            f"the table has {len(table.group_labels)} groups ({', '.join(table.group_labels)})",
            column="group",
            fix="fit one group at a time with group=..., or drop the group column to pool them",
        )
    return mask


def _check_level(level: float) -> float:
    level = float(level)
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie strictly between 0 and 1, got {level!r}")
    return level


def _percentile_interval(samples: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap interval along axis 0 (NaN replicates ignored)."""
    q = np.array([(1.0 - level) / 2.0, (1.0 + level) / 2.0])
    with warnings.catch_warnings():
        # An all-NaN column yields NaN bounds, which is the honest answer.
        warnings.simplefilter("ignore", RuntimeWarning)
        lo, hi = np.nanquantile(samples, q, axis=0)
    return lo, hi


def _as_float_array(values: object, name: str) -> np.ndarray:
    arr = np.atleast_1d(np.asarray(values, dtype=np.float64))
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a scalar or a 1-D array")
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(f"{name} must be positive and finite")
    return arr


def _complete_ndc(N: object, D: object, C: object, k: float) -> tuple[np.ndarray, ...]:  # noqa: N803
    """Two of N, D, C (broadcast) -> all three, using C = k N D."""
    given = {name: _as_float_array(v, name) for name, v in (("N", N), ("D", D), ("C", C))
             if v is not None}
    if len(given) < 2:
        raise ValueError("give two of N, D, C (the third follows from C = k N D)")
    arrays = np.broadcast_arrays(*given.values())
    given = dict(zip(given, arrays, strict=True))
    if len(given) == 3:
        if not np.allclose(given["C"], k * given["N"] * given["D"], rtol=1e-6):
            raise ValueError(f"N, D and C are inconsistent with C = {k:g} N D; give only two")
        return given["N"], given["D"], given["C"]
    if "C" not in given:
        return given["N"], given["D"], k * given["N"] * given["D"]
    if "D" not in given:
        return given["N"], given["C"] / (k * given["N"]), given["C"]
    return given["C"] / (k * given["D"]), given["D"], given["C"]


def _allocation_frame(C: np.ndarray, point: dict[str, np.ndarray],  # noqa: N803
                      draws: dict[str, np.ndarray] | None, level: float) -> pd.DataFrame:
    """The common ``optimal_allocation`` layout: C, then each quantity with _lower/_upper."""
    out = {"C": C}
    for name in _ALLOCATION_QUANTITIES:
        out[name] = point[name]
        if draws is not None and name in draws:
            lo, hi = _percentile_interval(draws[name], level)
        else:
            lo = hi = np.full_like(C, np.nan)
        out[f"{name}_lower"] = lo
        out[f"{name}_upper"] = hi
    return pd.DataFrame(out)


# ---------------------------------------------------------------------------
# Approach 3: the Huber fit of the parametric law, in JAX
# ---------------------------------------------------------------------------


def _log_predict(theta: jax.Array, log_n: jax.Array, log_d: jax.Array) -> jax.Array:
    """log L(N, D) = logsumexp(a - alpha log N, b - beta log D, e), stable for any theta."""
    a, b, e, alpha, beta = theta
    return jnp.logaddexp(jnp.logaddexp(a - alpha * log_n, b - beta * log_d), e)


def _huber(r: jax.Array, delta: float) -> jax.Array:
    """Huber loss 0.5 r^2 for |r| <= delta, delta (|r| - delta/2) beyond (scipy.special.huber)."""
    abs_r = jnp.abs(r)
    return jnp.where(abs_r <= delta, 0.5 * r * r, delta * (abs_r - 0.5 * delta))


def _objective(theta, weights, log_n, log_d, log_l, delta):
    # A weighted *sum* (not mean) as in the replication: bootstrap replicates are
    # multinomial count weights, so a replicate is the same problem, same shapes.
    return jnp.sum(weights * _huber(_log_predict(theta, log_n, log_d) - log_l, delta))


def _lbfgs_solve(theta0, weights, log_n, log_d, log_l, delta, tol, max_iter):
    """One L-BFGS run; stops at ||grad|| <= tol, no decrease, a non-finite value or max_iter."""

    def fun(theta):
        return _objective(theta, weights, log_n, log_d, log_l, delta)

    solver = optax.lbfgs(
        memory_size=10,
        linesearch=optax.scale_by_zoom_linesearch(
            max_linesearch_steps=30, initial_guess_strategy="one"
        ),
    )
    # Reuses the value and gradient the line search already computed.
    value_and_grad = optax.value_and_grad_from_state(fun)

    def step(carry):
        theta, state, _, _ = carry
        value, grad = value_and_grad(theta, state=state)
        updates, state = solver.update(grad, state, theta, value=value, grad=grad, value_fn=fun)
        return optax.apply_updates(theta, updates), state, value, value

    def keep_going(carry):
        _, state, previous, _ = carry
        count = otu.tree_get(state, "count")
        grad_norm = otu.tree_norm(otu.tree_get(state, "grad"))
        value = otu.tree_get(state, "value")
        # NaN makes every comparison False, so a diverging start stops by itself.
        return (count == 0) | ((count < max_iter) & (grad_norm > tol) & (value < previous))

    init = (theta0, solver.init(theta0), jnp.inf, jnp.inf)
    theta, state, _, _ = jax.lax.while_loop(keep_going, step, init)
    return theta, otu.tree_get(state, "value"), otu.tree_get(state, "count")


@partial(jax.jit, static_argnames=("max_iter", "batch_size"))
def _solve_many(theta0, weights, log_n, log_d, log_l, delta, tol, *, max_iter, batch_size):
    """Solve many independent problems: rows of ``theta0`` paired with rows of ``weights``."""

    def one(args):
        t0, w = args
        return _lbfgs_solve(t0, w, log_n, log_d, log_l, delta, tol, max_iter)

    if batch_size is None or batch_size >= theta0.shape[0]:
        return jax.vmap(one)((theta0, weights))
    # lax.map vmaps within chunks of batch_size and scans over the chunks.
    return jax.lax.map(one, (theta0, weights), batch_size=batch_size)


def _resolve_batch_size(batch_size: int | None | Literal["auto"]) -> int | None:
    if batch_size == "auto":
        # Measured on CPU: a vmapped while-loop (every start waits for the slowest
        # and every line-search branch runs masked) costs ~30x more per start than
        # solving starts one after another inside one compiled scan. Accelerators
        # prefer the whole batch at once.
        return 1 if jax.default_backend() == "cpu" else None
    if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
        raise ValueError(f"batch_size must be 'auto', None or a positive int, got {batch_size!r}")
    return batch_size


def approach3_grid(kind: Literal["default", "full"] = "default") -> np.ndarray:
    """Initialisation grid for Approach 3, columns ``(a, b, e, alpha, beta)``.

    Parameters
    ----------
    kind : {"default", "full"}
        ``"full"`` is Hoffmann et al.'s grid as used by Besiroglu et al. (2024):
        alpha, beta in {0, 0.5, 1, 1.5, 2}, e in {-1, -0.5, 0, 0.5, 1}, a, b in
        {0, 5, ..., 25} (4,500 starts). ``"default"`` spans the same box with
        three values per axis (alpha, beta in {0, 1, 2}, e in {-1, 0, 1},
        a, b in {0, 12.5, 25}; 243 starts).

    Returns
    -------
    numpy.ndarray
        Shape ``(num_starts, 5)``.
    """
    if kind == "full":
        exps, es, logs = (0.0, 0.5, 1.0, 1.5, 2.0), (-1.0, -0.5, 0.0, 0.5, 1.0), (
            0.0, 5.0, 10.0, 15.0, 20.0, 25.0)
    elif kind == "default":
        exps, es, logs = (0.0, 1.0, 2.0), (-1.0, 0.0, 1.0), (0.0, 12.5, 25.0)
    else:
        raise ValueError(f"grid must be 'default', 'full' or an array, got {kind!r}")
    mesh = np.meshgrid(logs, logs, es, exps, exps, indexing="ij")
    return np.stack([m.ravel() for m in mesh], axis=1)


def _grid_array(grid: str | np.ndarray | pd.DataFrame) -> np.ndarray:
    if isinstance(grid, str):
        return approach3_grid(grid)  # type: ignore[arg-type]
    if isinstance(grid, pd.DataFrame):
        missing = set(THETA_NAMES) - set(grid.columns)
        if missing:
            raise ValueError(f"grid DataFrame lacks columns {sorted(missing)}")
        grid = grid[list(THETA_NAMES)].to_numpy()
    arr = np.asarray(grid, dtype=np.float64)
    if arr.ndim == 1 and arr.shape[0] == 5:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != 5 or arr.shape[0] == 0:
        raise ValueError("grid array must have shape (num_starts, 5): columns a, b, e, alpha, beta")
    if not np.all(np.isfinite(arr)):
        raise ValueError("grid contains non-finite starting values")
    return arr


def _theta_to_params(theta: np.ndarray) -> dict[str, np.ndarray]:
    theta = np.asarray(theta, dtype=np.float64)
    a, b, e, alpha, beta = (theta[..., i] for i in range(5))
    return {"E": np.exp(e), "A": np.exp(a), "alpha": alpha, "B": np.exp(b), "beta": beta}


def _params_to_theta(params: Mapping[str, float] | pd.DataFrame) -> np.ndarray:
    cols = [np.log(np.asarray(params["A"], dtype=np.float64)),
            np.log(np.asarray(params["B"], dtype=np.float64)),
            np.log(np.asarray(params["E"], dtype=np.float64)),
            np.asarray(params["alpha"], dtype=np.float64),
            np.asarray(params["beta"], dtype=np.float64)]
    return np.stack(cols, axis=-1)


def _log_loss_np(theta: np.ndarray, log_n: np.ndarray, log_d: np.ndarray) -> np.ndarray:
    """NumPy twin of :func:`_log_predict`; ``theta`` (..., 5) broadcasts against the data."""
    a, b, e, alpha, beta = (theta[..., i, None] for i in range(5))
    return np.logaddexp(np.logaddexp(a - alpha * log_n, b - beta * log_d), e)


def _allocation_np(theta: np.ndarray, log_c_over_k: np.ndarray) -> dict[str, np.ndarray]:
    """Closed-form compute-optimal allocation in log space, theta (..., 5) x C (m,)."""
    a, b, e, alpha, beta = (theta[..., i, None] for i in range(5))
    with np.errstate(invalid="ignore", divide="ignore"):
        s = alpha + beta
        # G = (alpha A / (beta B))^(1/(alpha+beta)); undefined unless alpha, beta > 0.
        log_g = (np.log(alpha) + a - np.log(beta) - b) / s
        log_n = log_g + beta / s * log_c_over_k
        log_d = alpha / s * log_c_over_k - log_g
        loss = np.exp(np.logaddexp(np.logaddexp(a - alpha * log_n, b - beta * log_d), e))
    return {"N_opt": np.exp(log_n), "D_opt": np.exp(log_d),
            "tokens_per_param": np.exp(log_d - log_n), "loss_opt": loss}


def _distinct_solutions(theta: np.ndarray, value: np.ndarray, k: int, atol: float = 1e-3
                        ) -> np.ndarray:
    """Up to ``k`` best solutions that differ by more than ``atol`` (max-norm, log space)."""
    order = np.argsort(value, kind="stable")
    picked: list[np.ndarray] = []
    for i in order:
        if len(picked) == k:
            break
        if all(np.max(np.abs(theta[i] - p)) > atol for p in picked):
            picked.append(theta[i])
    return np.array(picked)


@dataclass(frozen=True)
class ClassicalFit:
    """Result of :func:`fit_approach3` (immutable).

    Attributes
    ----------
    params : dict
        Best fit ``E``, ``A``, ``alpha``, ``B``, ``beta``.
    objective : float
        Sum of Huber losses at the best fit.
    bootstrap : pandas.DataFrame or None
        One row per successful bootstrap replicate (columns ``E``, ``A``,
        ``alpha``, ``B``, ``beta``, ``objective``), ``None`` without bootstrap.
    solutions : pandas.DataFrame
        Final point and objective of every start (``finite`` marks the kept ones):
        several distinct minima with near-equal objective signal weak
        identification.
    level : float
        Default interval level of :meth:`summary`, :meth:`predict`,
        :meth:`optimal_allocation`.
    flops_factor : float
        ``k`` in ``C = k N D``.
    huber_delta : float
    num_runs : int
    num_starts : int
    num_failed_starts : int
        Starts that ended non-finite (discarded, never clipped).
    num_failed_bootstrap : int
        Replicates whose every start ended non-finite (discarded).
    n_iter : int
        L-BFGS iterations of the best start.
    """

    params: dict[str, float]
    objective: float
    bootstrap: pd.DataFrame | None
    solutions: pd.DataFrame = field(repr=False)
    level: float = 0.9
    flops_factor: float = 6.0
    huber_delta: float = 1e-3
    num_runs: int = 0
    num_starts: int = 0
    num_failed_starts: int = 0
    num_failed_bootstrap: int = 0
    n_iter: int = 0

    @property
    def theta(self) -> np.ndarray:
        """Best fit as the optimiser's vector ``(a, b, e, alpha, beta)``."""
        return _params_to_theta(self.params)

    def _boot_theta(self) -> np.ndarray | None:
        if self.bootstrap is None or len(self.bootstrap) == 0:
            return None
        return _params_to_theta(self.bootstrap)

    def summary(self, level: float | None = None) -> pd.DataFrame:
        """Estimates with percentile bootstrap intervals.

        Rows ``E``, ``A``, ``alpha``, ``B``, ``beta`` and the allocation exponents
        ``a = beta/(alpha+beta)`` (``N_opt ~ C^a``) and ``b = alpha/(alpha+beta)``
        (``D_opt ~ C^b``), which line up with :meth:`IsoFlopFit.summary` (these
        are not the optimiser's log-coefficients ``a = log A``, ``b = log B``).

        Parameters
        ----------
        level : float, optional
            Interval level (default: the fit's ``level``). Bounds are NaN without
            bootstrap replicates.

        Returns
        -------
        pandas.DataFrame
            Columns ``parameter``, ``estimate``, ``lower``, ``upper``, ``method``.
        """
        level = _check_level(self.level if level is None else level)
        p = self.params
        s = p["alpha"] + p["beta"]
        estimates = [p[name] for name in PARAMETER_NAMES] + [p["beta"] / s, p["alpha"] / s]
        names = [*PARAMETER_NAMES, "a", "b"]
        if self.bootstrap is not None and len(self.bootstrap):
            bs = self.bootstrap
            draws = np.column_stack(
                [bs[name].to_numpy() for name in PARAMETER_NAMES]
                + [bs["beta"] / (bs["alpha"] + bs["beta"]), bs["alpha"] / (bs["alpha"] + bs["beta"])]
            )
            lower, upper = _percentile_interval(draws, level)
        else:
            lower = upper = np.full(len(names), np.nan)
        return pd.DataFrame({"parameter": names, "estimate": estimates, "lower": lower,
                             "upper": upper, "method": "approach3"})

    def predict(self, *, N: object = None, D: object = None, C: object = None,  # noqa: N803
                level: float | None = None) -> pd.DataFrame:
        """Predicted loss ``E + A/N^alpha + B/D^beta`` with a bootstrap band.

        Parameters
        ----------
        N, D, C : float or array-like, optional
            Two of the three (broadcast against each other); the third follows
            from ``C = k N D``.
        level : float, optional
            Level of the band (percentiles of the replicates' mean curves; NaN
            without bootstrap).

        Returns
        -------
        pandas.DataFrame
            Columns ``N``, ``D``, ``C``, ``loss``, ``loss_lower``, ``loss_upper``.
        """
        level = _check_level(self.level if level is None else level)
        n, d, c = _complete_ndc(N, D, C, self.flops_factor)
        log_n, log_d = np.log(n), np.log(d)
        loss = np.exp(_log_loss_np(self.theta, log_n, log_d))
        boot = self._boot_theta()
        if boot is not None:
            lo, hi = _percentile_interval(np.exp(_log_loss_np(boot, log_n, log_d)), level)
        else:
            lo = hi = np.full_like(loss, np.nan)
        return pd.DataFrame({"N": n, "D": d, "C": c, "loss": loss, "loss_lower": lo,
                             "loss_upper": hi})

    def optimal_allocation(self, *, C: object, level: float | None = None  # noqa: N803
                           ) -> pd.DataFrame:
        r"""Compute-optimal N and D for budgets ``C`` under ``C = k N D`` (closed form).

        .. math::

            G = \left(\frac{\alpha A}{\beta B}\right)^{1/(\alpha+\beta)},\quad
            N_{opt} = G \left(\frac{C}{k}\right)^{\beta/(\alpha+\beta)},\quad
            D_{opt} = G^{-1} \left(\frac{C}{k}\right)^{\alpha/(\alpha+\beta)}

        evaluated in log space.

        Parameters
        ----------
        C : float or array-like
            Compute budgets in FLOPs.
        level : float, optional
            Bootstrap interval level.

        Returns
        -------
        pandas.DataFrame
            Columns ``C``, ``N_opt``, ``D_opt``, ``tokens_per_param``, ``loss_opt``,
            each quantity followed by ``_lower`` / ``_upper`` (NaN without bootstrap).

        Raises
        ------
        ValueError
            If the best fit has ``alpha <= 0`` or ``beta <= 0`` (no finite optimum).
        """
        level = _check_level(self.level if level is None else level)
        if not (self.params["alpha"] > 0 and self.params["beta"] > 0):
            raise ValueError("the fit has alpha <= 0 or beta <= 0: no finite compute-optimal "
                             "allocation exists")
        c = _as_float_array(C, "C")
        log_ck = np.log(c / self.flops_factor)
        point = {k: v[0] for k, v in _allocation_np(self.theta[None, :], log_ck).items()}
        boot = self._boot_theta()
        draws = _allocation_np(boot, log_ck) if boot is not None else None
        return _allocation_frame(c, point, draws, level)


def fit_approach3(
    runs: pd.DataFrame | RunsTable,
    *,
    grid: Literal["default", "full"] | np.ndarray | pd.DataFrame = "default",
    huber_delta: float = 1e-3,
    num_bootstrap: int = 0,
    bootstrap_starts: int = 8,
    level: float = 0.9,
    seed: int = 0,
    flops_factor: float = 6.0,
    group: str | None = None,
    max_iter: int = 1000,
    tol: float = 1e-10,
    batch_size: int | None | Literal["auto"] = "auto",
) -> ClassicalFit:
    r"""Chinchilla Approach 3: Huber fit of ``L = E + A/N^alpha + B/D^beta``.

    Minimises

    .. math::

        \sum_i \mathrm{Huber}_\delta\Big(\operatorname{logsumexp}(a - \alpha\log N_i,\,
        b - \beta \log D_i,\, e) - \log L_i\Big)

    over :math:`(a, b, e, \alpha, \beta)` with L-BFGS (``optax.lbfgs`` with a zoom
    line search) from every point of ``grid``, and keeps the lowest objective.
    Starts ending non-finite are discarded.

    Parameters
    ----------
    runs : pandas.DataFrame or RunsTable
        Needs ``N``, ``D`` (or two of N, D, C) and ``loss``. Not modified.
    grid : {"default", "full"} or array of shape (S, 5) or DataFrame
        Starting points, columns ``(a, b, e, alpha, beta)``; see
        :func:`approach3_grid`. ``"full"`` is the 4,500-point grid of Hoffmann et al.
    huber_delta : float, default 1e-3
    num_bootstrap : int, default 0
        Bootstrap replicates (runs resampled with replacement, as multinomial
        weights). Each replicate starts from the best full-data solution and the
        next ``bootstrap_starts - 1`` distinct local minima of the full-data fit
        (padded with grid points) and keeps its best.
    bootstrap_starts : int, default 8
    level : float, default 0.9
        Default level of the percentile intervals.
    seed : int, default 0
        Seed of the bootstrap resampling (``numpy.random.default_rng``).
    flops_factor : float, default 6
        ``k`` in ``C = k N D`` (used to complete the table and for allocation).
    group : str, optional
        Fit only this group; required when the table has several groups.
    max_iter : int, default 1000
        L-BFGS iterations per start.
    tol : float, default 1e-10
        Stop a start when the gradient norm of the (summed) objective is below this.
    batch_size : "auto", int or None
        Starts solved together (``jax.lax.map`` chunks); ``None`` vmaps all at
        once. ``"auto"``: 1 on CPU (fastest there), all on accelerators.

    Returns
    -------
    ClassicalFit

    Raises
    ------
    RuntimeError
        If every start ends non-finite.
    """
    level = _check_level(level)
    if not huber_delta > 0:
        raise ValueError(f"huber_delta must be positive, got {huber_delta!r}")
    if num_bootstrap < 0 or bootstrap_starts < 1:
        raise ValueError("num_bootstrap must be >= 0 and bootstrap_starts >= 1")
    table = _as_runs(runs, flops_factor)
    table.require(("N", "D", "loss"), min_runs=6, law="Chinchilla law (5 parameters)")
    frame = table.frame[_select_group(table, group)]
    flops_factor = table.flops_factor
    starts = _grid_array(grid)
    bsize = _resolve_batch_size(batch_size)
    n = len(frame)

    log_n_np = np.log(frame["N"].to_numpy(np.float64))
    log_d_np = np.log(frame["D"].to_numpy(np.float64))
    log_l_np = np.log(frame["loss"].to_numpy(np.float64))

    with jax.enable_x64(True):
        log_n, log_d, log_l = (jnp.asarray(x) for x in (log_n_np, log_d_np, log_l_np))
        solve = partial(_solve_many, log_n=log_n, log_d=log_d, log_l=log_l,
                        delta=huber_delta, tol=tol, max_iter=int(max_iter), batch_size=bsize)
        theta, value, count = solve(jnp.asarray(starts), jnp.ones((len(starts), n)))
        theta, value, count = np.asarray(theta), np.asarray(value), np.asarray(count)

        finite = np.isfinite(value) & np.all(np.isfinite(theta), axis=1)
        if not finite.any():
            raise RuntimeError(f"all {len(starts)} Approach 3 starts ended non-finite")
        best = int(np.flatnonzero(finite)[np.argmin(value[finite])])
        best_theta = theta[best]

        bootstrap = None
        failed_boot = 0
        if num_bootstrap > 0:
            local = _distinct_solutions(theta[finite], value[finite], bootstrap_starts)
            if len(local) < bootstrap_starts:
                # Pad with evenly spread grid points so every replicate has the same shape.
                extra = starts[np.linspace(0, len(starts) - 1, bootstrap_starts - len(local))
                               .round().astype(int)]
                local = np.concatenate([local, extra])
            rng = np.random.default_rng(seed)
            counts = rng.multinomial(n, np.full(n, 1.0 / n), size=num_bootstrap).astype(np.float64)
            b_theta0 = np.tile(local, (num_bootstrap, 1))
            b_weights = np.repeat(counts, bootstrap_starts, axis=0)
            bt, bv, _ = solve(jnp.asarray(b_theta0), jnp.asarray(b_weights))
            bt = np.asarray(bt).reshape(num_bootstrap, bootstrap_starts, 5)
            bv = np.asarray(bv).reshape(num_bootstrap, bootstrap_starts)
            ok = np.isfinite(bv) & np.all(np.isfinite(bt), axis=2)
            bv_masked = np.where(ok, bv, np.inf)
            pick = np.argmin(bv_masked, axis=1)
            good = ok.any(axis=1)
            failed_boot = int((~good).sum())
            rows = np.arange(num_bootstrap)[good]
            chosen = bt[rows, pick[good]]
            bootstrap = pd.DataFrame(_theta_to_params(chosen))
            bootstrap["objective"] = bv[rows, pick[good]]
            bootstrap.index = pd.Index(rows, name="replicate")
            if failed_boot:
                logger.warning("%d of %d bootstrap replicates failed (all starts non-finite) and "
                               "were dropped", failed_boot, num_bootstrap)

    sol = pd.DataFrame(_theta_to_params(theta))
    sol["objective"] = value
    sol["n_iter"] = count
    sol["finite"] = finite
    params = {k: float(v) for k, v in _theta_to_params(best_theta).items()}
    return ClassicalFit(
        params=params, objective=float(value[best]), bootstrap=bootstrap, solutions=sol,
        level=level, flops_factor=float(flops_factor), huber_delta=float(huber_delta),
        num_runs=n, num_starts=len(starts), num_failed_starts=int((~finite).sum()),
        num_failed_bootstrap=failed_boot, n_iter=int(count[best]),
    )


# ---------------------------------------------------------------------------
# Approach 2: iso-FLOP profiles
# ---------------------------------------------------------------------------


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
        level = _check_level(self.level if level is None else level)
        used = self.budgets[self.budgets["used"]]
        names = ["a", "b"] + ["N_opt"] * len(used)
        budgets = np.concatenate([[np.nan, np.nan], used["budget"].to_numpy()])
        est = np.concatenate([[self.params["a"], self.params["b"]], used["N_opt"].to_numpy()])
        if self.bootstrap is not None and len(self.bootstrap):
            draws = np.column_stack([self.bootstrap["a"], self.bootstrap["b"],
                                     self.bootstrap_N_opt.to_numpy()])
            lower, upper = _percentile_interval(draws, level)
        else:
            lower = upper = np.full(len(names), np.nan)
        return pd.DataFrame({"parameter": names, "budget": budgets, "estimate": est,
                             "lower": lower, "upper": upper, "method": "approach2"})

    def optimal_allocation(self, *, C: object, level: float | None = None  # noqa: N803
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
        level = _check_level(self.level if level is None else level)
        c = _as_float_array(C, "C")
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
        return _allocation_frame(c, point, draws, level)


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
        sizes) raises :class:`NoInteriorMinimumError`, or is left out and marked
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
    level = _check_level(level)
    if on_bad_budget not in ("raise", "skip"):
        raise ValueError(f"on_bad_budget must be 'raise' or 'skip', got {on_bad_budget!r}")
    if num_bootstrap < 0:
        raise ValueError("num_bootstrap must be >= 0")
    table = _as_runs(runs, flops_factor)
    table.require(("N", "C", "loss"), min_runs=6, law="iso-FLOP analysis")
    mask = _select_group(table, group)
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
