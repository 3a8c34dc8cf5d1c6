"""Chinchilla Approach 3: the parametric law fitted by Huber-loss L-BFGS from a grid of starts, bootstrapped."""

from __future__ import annotations

from functools import partial
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np

from .._lazy import lazy_import
from ..data.runs import RunsTable
from ..inference.progress import progress_enabled, stage
from .classical import (
    THETA_NAMES,
    ClassicalFit,
    _log_loss_np,
    as_runs,
    check_level,
    log_predict,
    logger,
    select_group,
    theta_to_params,
)

pd = lazy_import("pandas")
optax = lazy_import("optax")  # the L-BFGS fits only
otu = lazy_import("optax.tree_utils")

__all__ = ["approach3_grid", "fit_approach3"]


def _huber(r: jax.Array, delta: float) -> jax.Array:
    """Huber loss 0.5 r^2 for |r| <= delta, delta (|r| - delta/2) beyond (scipy.special.huber)."""
    abs_r = jnp.abs(r)
    return jnp.where(abs_r <= delta, 0.5 * r * r, delta * (abs_r - 0.5 * delta))


def _objective(theta, weights, log_n, log_d, log_l, delta):
    # A weighted *sum* (not mean) as in the replication: bootstrap replicates are
    # multinomial count weights, so a replicate is the same problem, same shapes.
    return jnp.sum(weights * _huber(log_predict(theta, log_n, log_d) - log_l, delta))


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
    progress: bool | None = None,
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
        ``approach3_grid``. ``"full"`` is the 4,500-point grid of Hoffmann et al.
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
    progress : bool, optional
        Show a bar while the starts and the bootstrap replicates are solved
        (default: in terminals and notebooks; see
        :mod:`bayes_scaling.inference.progress`).

    Returns
    -------
    ClassicalFit

    Raises
    ------
    RuntimeError
        If every start ends non-finite.
    """
    level = check_level(level)
    if not huber_delta > 0:
        raise ValueError(f"huber_delta must be positive, got {huber_delta!r}")
    if num_bootstrap < 0 or bootstrap_starts < 1:
        raise ValueError("num_bootstrap must be >= 0 and bootstrap_starts >= 1")
    table = as_runs(runs, flops_factor)
    table.require(("N", "D", "loss"), min_runs=6, law="Chinchilla law (5 parameters)")
    frame = table.frame[select_group(table, group)]
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
        show = progress_enabled(progress)
        with stage(f"Approach 3: {len(starts)} starts", show):
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
            with stage(f"Approach 3 bootstrap: {num_bootstrap} replicates x "
                       f"{bootstrap_starts} starts", show):
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
            bootstrap = pd.DataFrame(theta_to_params(chosen))
            bootstrap["objective"] = bv[rows, pick[good]]
            bootstrap.index = pd.Index(rows, name="replicate")
            if failed_boot:
                logger.warning("%d of %d bootstrap replicates failed (all starts non-finite) and "
                               "were dropped", failed_boot, num_bootstrap)

    sol = pd.DataFrame(theta_to_params(theta))
    sol["objective"] = value
    sol["n_iter"] = count
    sol["finite"] = finite
    params = {k: float(v) for k, v in theta_to_params(best_theta).items()}
    # Observation noise of the predictive band: RMS of the best fit's log residuals.
    residual = _log_loss_np(np.asarray(best_theta), log_n_np, log_d_np) - log_l_np
    return ClassicalFit(
        params=params, objective=float(value[best]), bootstrap=bootstrap, solutions=sol,
        level=level, flops_factor=float(flops_factor), huber_delta=float(huber_delta),
        num_runs=n, num_starts=len(starts), num_failed_starts=int((~finite).sum()),
        num_failed_bootstrap=failed_boot, n_iter=int(count[best]),
        residual_sd=float(np.sqrt(np.mean(residual ** 2))),
    )
