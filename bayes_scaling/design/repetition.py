"""Questions of data-constrained training, answered posterior draw by draw.

For a fit of a law with unique tokens ``U`` as an input (``"data_constrained"``,
Muennighoff et al. 2023):

* :func:`epochs_worth`: with compute ``C`` and a cap of ``U`` unique tokens, what
  does each number of epochs cost? For ``e`` epochs the run sees ``D = e U``
  tokens and the budget fixes the model size ``N = C / (k D)``. Per draw the
  loss, its *repetition penalty* (against the same ``N`` and ``D`` with fresh,
  never-repeated tokens: the cost of repeating), its gap to the compute-optimal
  loss with unlimited unique data at the same ``C``, and which epoch count is
  best; then a one-line answer.
* :func:`optimal_allocation_constrained`: the compute-optimal ``N``, ``D`` and
  epochs at ``C`` under the cap, by a vectorised numeric minimisation along the
  iso-FLOP line (:func:`bayes_scaling.allocation.numeric_log_allocation`).

Intervals are equal-tailed at ``level`` (the fit's, 90% by default), as in
:meth:`bayes_scaling.ScalingFit.predict`.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._lazy import lazy_import
from ..inference import diagnostics
from ..inference.intervals import quantile_columns
from ..laws.allocation import numeric_log_allocation
from ..laws.base import Array
from ..results.scaling_fit import ScalingFit

pd = lazy_import("pandas")


__all__ = ["EpochsWorth", "epochs_worth", "optimal_allocation_constrained",
           "DEFAULT_EPOCHS"]

#: Epoch counts examined by default: every whole number from 1 to 60.
DEFAULT_EPOCHS = np.arange(1, 61, dtype=np.float64)


@dataclass(frozen=True)
class EpochsWorth:
    """Answer of :func:`epochs_worth`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per epoch count: ``epochs``, ``D`` (= epochs x U), ``N`` (= C/(k D)),
        ``tokens_per_param``; ``loss``, ``penalty`` (relative loss increase
        against fresh tokens at the same N and D) and ``excess`` (relative loss
        increase against the compute-optimal loss with unlimited unique data at
        C), each as median with ``_lower``/``_upper``; ``p_penalty_below``
        (posterior probability that the penalty is below ``tolerance``) and
        ``p_best`` (posterior probability that this epoch count has the lowest
        loss among those examined).
    answer : str
        The one-line answer.
    max_cheap_epochs : float
        Largest epoch count up to which every count examined has a penalty below
        ``tolerance`` with probability at least ``level`` (NaN when even the first
        fails).
    best_epochs, best_lower, best_upper : float
        Median and equal-tailed interval of the per-draw best epoch count.
    C, unique_tokens, tolerance, level : float
    best_draws : ndarray
        The best epoch count of every posterior draw.
    """

    table: pd.DataFrame
    answer: str
    max_cheap_epochs: float
    best_epochs: float
    best_lower: float
    best_upper: float
    C: float
    unique_tokens: float
    tolerance: float
    level: float
    best_draws: np.ndarray = field(repr=False)

    def __str__(self) -> str:
        return self.answer


def _check_law(fit: ScalingFit) -> None:
    if "U" not in fit.law.inputs:
        raise ValueError(
            f"the {fit.law.name} law has no unique-token input U; fit law='data_constrained' "
            "(with a U column of unique tokens) to ask about repeated epochs")


def _positive(name: str, value: Any) -> np.ndarray:
    array = np.atleast_1d(np.asarray(value, dtype=np.float64)).ravel()
    if array.size == 0 or not np.all(np.isfinite(array)) or np.any(array <= 0):
        raise ValueError(f"{name} must be positive and finite, got {value!r}")
    return array


def _scalar(name: str, value: Any) -> float:
    array = _positive(name, value)
    if array.size != 1:
        raise ValueError(f"{name} must be one number, got {array.size} values")
    return float(array[0])


def _params(fit: ScalingFit, group: str | None, extra_dims: int) -> dict[str, Array]:
    shape = (-1,) + (1,) * extra_dims
    return {k: jnp.reshape(jnp.asarray(v), shape) for k, v in fit._params_for(group).items()}


def epochs_worth(
    fit: ScalingFit,
    C: float,  # noqa: N803 - the field's notation
    unique_tokens: float,
    epochs: Any = None,
    level: float | None = None,
    *,
    tolerance: float = 0.01,
    group: str | None = None,
) -> EpochsWorth:
    """How many epochs of ``unique_tokens`` are worth it at compute ``C``?

    For each epoch count ``e`` the run trains on ``D = e U`` tokens and the
    budget fixes ``N = C / (k D)`` (``k`` the fit's FLOPs factor). Per
    posterior draw: the loss ``L(N, D, U)``, the repetition penalty
    ``L(N, D, U) / L(N, D, U=inf) - 1`` (what repeating costs against fresh
    data at the same ``N`` and ``D``), the excess over the compute-optimal loss
    with unlimited unique data at ``C``, and the epoch count with the lowest loss.

    Parameters
    ----------
    fit : ScalingFit
        A fit of a law with unique tokens as an input (``"data_constrained"``).
    C : float
        Training compute in FLOPs.
    unique_tokens : float
        Unique tokens available, ``U``. (Same order as
        :func:`optimal_allocation_constrained`: compute, then unique tokens.)
    epochs : array-like, optional
        Epoch counts to examine (positive; fractions allowed). Default
        :data:`DEFAULT_EPOCHS` (1, 2, ..., 60).
    level : float, optional
        Interval mass and the probability required in the answer (default: the fit's).
    tolerance : float, default 0.01
        Relative loss increase counted as "costing" (1%).
    group : str, optional
        The group, for a fit with groups.

    Returns
    -------
    EpochsWorth
        ``table`` (one row per epoch count), ``answer`` (one line) and the
        numbers behind it.

    Examples
    --------
    >>> # fit: a "data_constrained" fit (see bayes_scaling.DataConstrained)
    >>> ans = epochs_worth(fit, unique_tokens=25e9, C=1e22)
    >>> print(ans)
    At C = 1e+22 FLOPs with 2.5e+10 unique tokens the loss is lowest at ...
    >>> ans.table[["epochs", "N", "loss", "penalty", "p_best"]].shape
    (60, 5)
    """
    _check_law(fit)
    level = fit.level if level is None else float(level)
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    if not 0 < tolerance:
        raise ValueError(f"tolerance must be positive, got {tolerance!r}")
    u = _scalar("unique_tokens", unique_tokens)
    compute = _scalar("C", C)
    grid = np.sort(_positive("epochs", DEFAULT_EPOCHS if epochs is None else epochs))
    k = fit.runs.flops_factor
    d = grid * u
    n = compute / (k * d)
    with jax.enable_x64(True):
        log_loss, log_fresh, log_best_inf = map(np.asarray, _epochs_log_losses(
            fit.law, _params(fit, group, 1), jnp.log(jnp.asarray(n)), jnp.log(jnp.asarray(d)),
            jnp.log(u), jnp.log(compute), np.log(k)))
    loss = np.exp(log_loss)
    penalty = np.expm1(log_loss - log_fresh)
    excess = np.expm1(log_loss - log_best_inf)
    best_index = np.argmin(log_loss, axis=1)
    best_draws = grid[best_index]
    p_best = np.bincount(best_index, minlength=grid.size) / best_index.size
    p_below = np.mean(penalty < tolerance, axis=0)

    table = pd.DataFrame({"epochs": grid, "D": d, "N": n, "tokens_per_param": d / n})
    for name, values in (("loss", loss), ("penalty", penalty), ("excess", excess)):
        for col, vals in quantile_columns(name, values, level).items():
            table[col] = vals
    table["p_penalty_below"] = p_below
    table["p_best"] = p_best
    table["level"] = level

    ok = p_below >= level
    first_bad = int(np.argmin(ok)) if not ok.all() else grid.size
    max_cheap = float(grid[first_bad - 1]) if first_bad > 0 else float("nan")
    tail = (1.0 - level) / 2.0
    best_lo, best_med, best_hi = np.quantile(best_draws, [tail, 0.5, 1.0 - tail])
    best_excess = np.quantile(excess[np.arange(excess.shape[0]), best_index],
                              [tail, 0.5, 1.0 - tail])
    answer = _answer(compute, u, grid, max_cheap, first_bad, tolerance, level,
                     (float(best_med), float(best_lo), float(best_hi)), p_best, best_excess)
    return EpochsWorth(table=table, answer=answer, max_cheap_epochs=max_cheap,
                       best_epochs=float(best_med), best_lower=float(best_lo),
                       best_upper=float(best_hi), C=compute, unique_tokens=u,
                       tolerance=tolerance, level=level, best_draws=best_draws)


@functools.partial(jax.jit, static_argnames=("law",))
def _epochs_log_losses(law, p, log_n, log_d, log_u, log_c, log_k):
    """Per draw and epoch count: log loss with the cap, with fresh data, and the
    compute-optimal log loss with unlimited unique data (one compilation per shape)."""
    log_n, log_d = log_n[None, :], log_d[None, :]
    log_loss = law.log_mean(p, {"N": log_n, "D": log_d, "U": jnp.full_like(log_n, log_u)})
    log_fresh = law.log_mean(p, {"N": log_n, "D": log_d})
    n_inf, d_inf = law.log_optimal_allocation(p, log_c, log_k)
    return log_loss, log_fresh, law.log_mean(p, {"N": n_inf, "D": d_inf})


def _answer(compute: float, u: float, grid: np.ndarray, max_cheap: float, first_bad: int,
            tolerance: float, level: float, best: tuple[float, float, float],
            p_best: np.ndarray, best_excess: np.ndarray) -> str:
    mode = float(grid[int(np.argmax(p_best))])
    med, lo, hi = best
    text = (f"At C = {compute:.3g} FLOPs with {u:.3g} unique tokens the loss is lowest at "
            f"~{med:g} epochs ({level:.0%} interval {lo:g} to {hi:g}; most probable {mode:g}, "
            f"P = {p_best.max():.2f}), {best_excess[1]:.1%} [{best_excess[0]:.1%}, "
            f"{best_excess[2]:.1%}] above the compute-optimal loss with unlimited unique data; ")
    if first_bad == grid.size:
        text += (f"every epoch count examined (up to {grid[-1]:g}) costs less than "
                 f"{tolerance:.0%} loss against fresh tokens with {level:.0%} probability")
    elif first_bad == 0:
        text += (f"even {grid[0]:g} epoch(s) cost {tolerance:.0%} or more against fresh tokens "
                 f"with probability above {1 - level:.0%} (the model C/(kD) is larger than "
                 "the unique data can use)")
    else:
        text += (f"up to ~{max_cheap:g} epochs cost less than {tolerance:.0%} loss against "
                 f"fresh tokens with {level:.0%} probability")
    return text + "."


def _constrained_law(law: Any, log_unique: Array) -> Any:
    """``law`` with the unique tokens fixed, for the iso-FLOP search over (N, D)."""

    class _Fixed:
        inputs = ("N", "D")

        @staticmethod
        def log_mean(params: Mapping[str, Array], log_inputs: Mapping[str, Array]) -> Array:
            return law.log_mean(params, {**log_inputs, "U": log_unique})

    return _Fixed()


@functools.partial(jax.jit, static_argnames=("law", "log_k"))
def _constrained_log_allocation(law, params, log_c, log_u, log_k):
    """``log N_opt, log D_opt, log L_opt`` under the cap, the unconstrained optimal log loss
    and the search-edge flags, each ``(S, M)``."""
    log_n, log_d, at_edge = numeric_log_allocation(
        _constrained_law(law, log_u[None, :, None]), params, log_c, log_k)
    p = {k: v[:, None] for k, v in params.items()}
    log_loss = law.log_mean(p, {"N": log_n, "D": log_d, "U": log_u[None, :]})
    n_inf, d_inf = law.log_optimal_allocation(p, log_c[None, :], log_k)
    return log_n, log_d, log_loss, law.log_mean(p, {"N": n_inf, "D": d_inf}), at_edge


def constrained_allocation_draws(
    fit: ScalingFit, C: Any, unique_tokens: Any, *, group: str | None = None,  # noqa: N803
) -> dict[str, np.ndarray]:
    """Per-draw compute-optimal allocation under a unique-data cap.

    ``C`` and ``unique_tokens`` broadcast to ``M`` points. Returns arrays of shape
    ``(num_draws, M)``: ``N_opt``, ``D_opt``, ``epochs_opt`` (``D_opt / U``),
    ``tokens_per_param``, ``loss_opt`` and, with unlimited unique data at the
    same ``C``, ``loss_unconstrained`` and ``penalty`` (``loss_opt /
    loss_unconstrained - 1``); plus ``C`` and ``U`` (each ``(M,)``).
    """
    _check_law(fit)
    compute, unique = np.broadcast_arrays(_positive("C", C), _positive("unique_tokens",
                                                                       unique_tokens))
    log_k = float(np.log(fit.runs.flops_factor))
    with jax.enable_x64(True):
        params = {k: jnp.asarray(v) for k, v in fit._params_for(group).items()}
        log_n, log_d, log_loss, log_free, at_edge = map(np.asarray, _constrained_log_allocation(
            fit.law, params, jnp.log(jnp.asarray(compute)), jnp.log(jnp.asarray(unique)), log_k))
    share = float(np.mean(at_edge))
    if share > 0:
        diagnostics.warn_allocation_edge(share)
    return {
        "C": compute, "U": unique,
        "N_opt": np.exp(log_n), "D_opt": np.exp(log_d),
        "epochs_opt": np.exp(log_d) / unique[None, :],
        "tokens_per_param": np.exp(log_d - log_n),
        "loss_opt": np.exp(log_loss),
        "loss_unconstrained": np.exp(log_free),
        "penalty": np.expm1(log_loss - log_free),
    }


def optimal_allocation_constrained(
    fit: ScalingFit,
    C: Any,  # noqa: N803
    unique_tokens: Any,
    level: float | None = None,
    *,
    group: str | None = None,
) -> pd.DataFrame:
    """Compute-optimal model size, tokens and epochs at ``C`` with at most ``unique_tokens``.

    Per posterior draw, the law ``L(N, C/(kN), U)`` is minimised over ``log N``
    along the iso-FLOP line (a coarse grid over tokens-per-parameter
    ``e^-24..e^24``, then golden-section refinement; vectorised over draws and
    budgets). Under a cap the optimum trades repeating the data (whose value
    decays at rate ``R_D*``) against parameters beyond what the unique data can
    use (decaying at ``R_N*``); with ``R_D* > R_N*``, as published, it takes
    more epochs rather than a larger model.

    Parameters
    ----------
    fit : ScalingFit
        A fit of a law with unique tokens as an input (``"data_constrained"``).
    C : float or array-like
        Training compute in FLOPs.
    unique_tokens : float or array-like
        Unique tokens available; broadcasts with ``C``.
    level : float, optional
        Interval mass (default: the fit's).
    group : str, optional
        The group, for a fit with groups.

    Returns
    -------
    pandas.DataFrame
        One row per (C, U): ``C``, ``U``; for each of ``N_opt``, ``D_opt``,
        ``epochs_opt``, ``tokens_per_param``, ``loss_opt``,
        ``loss_unconstrained`` and ``penalty`` the posterior median with
        ``_lower``/``_upper``; ``level``.

    Warns
    -----
    AllocationWarning
        When some draws have no interior optimum in the search window.

    Examples
    --------
    >>> table = optimal_allocation_constrained(fit, C=1e22, unique_tokens=25e9)
    >>> table[["N_opt", "D_opt", "epochs_opt", "penalty"]].shape
    (1, 4)
    """
    level = fit.level if level is None else float(level)
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    draws = constrained_allocation_draws(fit, C, unique_tokens, group=group)
    out: dict[str, Any] = {"C": draws.pop("C"), "U": draws.pop("U")}
    for name, values in draws.items():
        out.update(quantile_columns(name, values, level))
    table = pd.DataFrame(out)
    table["level"] = level
    return table
