"""Inference-aware allocation: the cheapest model that reaches a loss, counting its use.

Compute-optimal (Chinchilla) allocation minimises training FLOPs for a loss. A
model that will then generate ``T`` tokens costs ``2 N`` FLOPs per token more
(one forward pass), so the cheapest model *over its lifetime* is smaller and
trained on more tokens (Sardana et al. 2023). Per posterior draw this module
solves

.. math::

    \\min_N \\; k N D(N) + 2 N T \\quad\\text{s.t.}\\quad L(N, D(N)) = L^*

where ``D(N)`` is the token count at which a model of ``N`` parameters reaches
the target loss ``L*``.

Chinchilla form (fast path)
    ``D(N) = (B / (L* - E - A N^-alpha))^(1/beta)``, defined for
    ``A N^-alpha < L* - E``. With ``g = A N^-alpha / (L* - E)``, the share of the
    reducible loss left to the model-size term, ``log N`` is a decreasing
    function of ``g`` on ``(0, 1)`` and the log-cost is convex in
    ``u = logit(g)``: a dense grid over ``u`` followed by golden-section
    refinement finds the minimum per draw. The training-only optimum
    (``T = 0``) is ``g = beta / (alpha + beta)``, the Chinchilla-optimal
    allocation for that loss.
Any law of ``N`` and ``D`` (through ``law.log_mean``)
    ``log D(N)`` is found by bisection (the loss decreases in ``D``) and the
    cost minimised over a grid of ``log N`` around the data, refined by golden
    section.

A target at or below the irreducible loss (``L* <= E``: no finite model reaches
it) makes a draw infeasible; its share is reported (``p_infeasible``), the
other numbers are conditional on feasibility, and an
:class:`InfeasibleTargetWarning` says so.

References
----------
Sardana, Portes, Doubov & Frankle (2023), "Beyond Chinchilla-Optimal: Accounting
for Inference in Language Model Scaling Laws".
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import numpy as np

from .._lazy import lazy_import
from ..laws import Law

if TYPE_CHECKING:
    from ..results.scaling_fit import ScalingFit

from ..exceptions import AllocationWarning, InfeasibleTargetWarning

pd = lazy_import("pandas")

__all__ = ["inference_aware_allocation", "inference_aware_allocation_draws",
           "InfeasibleTargetWarning"]

_INV_PHI = 0.6180339887498949
#: logit(g) window of the Chinchilla path: g from 1e-13 to 1 - 1e-26.
_U_RANGE = (-30.0, 60.0)
#: log N window (natural log) around the data's central model size, generic path.
_LOG_N_WINDOW = (-25.0, 35.0)
#: log D bracket of the bisection for D(N): 1 to e^120 tokens.
_LOG_D_BRACKET = (0.0, 120.0)


# ------------------------------------------------------------------ minimisers
def _golden(objective, lo, hi, steps: int):
    def body(_, bounds):
        lo, hi = bounds
        x1, x2 = hi - _INV_PHI * (hi - lo), lo + _INV_PHI * (hi - lo)
        left = objective(x1) < objective(x2)
        return jnp.where(left, lo, x1), jnp.where(left, x2, hi)

    lo, hi = jax.lax.fori_loop(0, steps, body, (lo, hi))
    return 0.5 * (lo + hi)


def _grid_then_golden(objective, lo: float, hi: float, shape, num_grid: int, steps: int):
    """Minimise ``objective`` (elementwise over ``shape + (grid,)``) over ``[lo, hi]``."""
    grid = jnp.broadcast_to(jnp.linspace(lo, hi, num_grid), shape + (num_grid,))
    values = objective(grid)
    values = jnp.where(jnp.isnan(values), jnp.inf, values)
    best = jnp.argmin(values, axis=-1)[..., None]
    step = (hi - lo) / (num_grid - 1)
    centre = jnp.take_along_axis(grid, best, axis=-1)
    x = _golden(objective, centre - step, centre + step, steps)
    at_edge = (best[..., 0] == 0) | (best[..., 0] == num_grid - 1)
    feasible = jnp.isfinite(jnp.min(values, axis=-1))
    return x[..., 0], at_edge, feasible


def _log_cost(log_n, log_d, log_k, log_two_t):
    return log_n + jnp.logaddexp(log_k + log_d, log_two_t)


@partial(jax.jit, static_argnums=(4, 5))
def _chinchilla_path(p, log_target, log_two_t, log_k, num_grid, steps):
    """``(log N, log D, feasible)`` per draw and scenario, shapes ``(S, M)``."""
    reducible = jnp.exp(log_target) - p["E"]  # L* - E
    feasible = reducible > 0
    log_r = jnp.log(jnp.where(feasible, reducible, 1.0))
    log_a, log_b = jnp.log(p["A"])[..., None], jnp.log(p["B"])[..., None]
    alpha, beta = p["alpha"][..., None], p["beta"][..., None]

    def sizes(u):  # u = logit(g); log g = -softplus(-u), log(1 - g) = -softplus(u)
        log_n = (log_a - log_r[..., None] + jax.nn.softplus(-u)) / alpha
        log_d = (log_b - log_r[..., None] + jax.nn.softplus(u)) / beta
        return log_n, log_d

    def objective(u):
        log_n, log_d = sizes(u)
        return _log_cost(log_n, log_d, log_k, log_two_t[..., None])

    u, at_edge, _ = _grid_then_golden(objective, *_U_RANGE, jnp.shape(log_r), num_grid, steps)
    log_n, log_d = sizes(u[..., None])
    return log_n[..., 0], log_d[..., 0], feasible, at_edge


def _log_tokens_for(law: Law, p, log_n, log_target, steps: int):
    """``log D`` with ``L(N, D) = L*`` by bisection; ``+inf`` where ``L(N, inf) >= L*``."""
    lo = jnp.full(jnp.shape(log_n), _LOG_D_BRACKET[0])
    hi = jnp.full(jnp.shape(log_n), _LOG_D_BRACKET[1])
    reachable = law.log_mean(p, {"N": log_n, "D": hi}) < log_target

    def body(_, bounds):
        lo, hi = bounds
        mid = 0.5 * (lo + hi)
        above = law.log_mean(p, {"N": log_n, "D": mid}) > log_target  # need more tokens
        return jnp.where(above, mid, lo), jnp.where(above, hi, mid)

    lo, hi = jax.lax.fori_loop(0, steps, body, (lo, hi))
    return jnp.where(reachable, 0.5 * (lo + hi), jnp.inf)


@partial(jax.jit, static_argnums=(0, 6, 7))
def _generic_path(law: Law, p, log_target, log_two_t, log_k, log_n_centre, num_grid, steps):
    pe = {k: v[..., None] for k, v in p.items()}
    target = log_target[..., None]

    def objective(log_n):
        log_d = _log_tokens_for(law, pe, log_n, target, 64)
        return _log_cost(log_n, log_d, log_k, log_two_t[..., None])

    log_n, at_edge, feasible = _grid_then_golden(
        objective, log_n_centre + _LOG_N_WINDOW[0], log_n_centre + _LOG_N_WINDOW[1],
        jnp.shape(log_target), num_grid, steps)
    log_d = _log_tokens_for(law, p, log_n, log_target, 64)
    return log_n, log_d, feasible & jnp.isfinite(log_d), at_edge & feasible


def inference_aware_allocation_draws(
    law: Law, params: Mapping[str, Any], target_loss: Any, inference_tokens: Any, *,
    flops_factor: float = 6.0, method: str = "auto", log_n_centre: float = np.log(1e9),
    num_grid: int = 513, num_refine: int = 60,
) -> dict[str, np.ndarray]:
    """Per draw and scenario: lifetime-optimal and Chinchilla-optimal allocations.

    Parameters
    ----------
    law : Law
        A law of ``N`` and ``D``.
    params : mapping
        Parameter draws, each of shape ``(S,)`` (scalars allowed).
    target_loss, inference_tokens : array-like
        Broadcast together into ``M`` scenarios (flattened).
    flops_factor : float, default 6
        ``k`` of the training FLOPs ``k N D``; inference costs ``2 N`` per token.
    method : {"auto", "closed_form", "numeric"}
        ``"auto"``: the Chinchilla fast path when the law has a closed-form
        allocation, else the numerical root for ``D(N)``.
    log_n_centre : float
        Centre of the ``log N`` search window of the numeric path (``+-`` e^25..e^35).
    num_grid, num_refine : int
        Grid points and golden-section steps.

    Returns
    -------
    dict of ndarray, each ``(S, M)``
        ``N``, ``D``, ``tokens_per_param``, ``training_flops``,
        ``inference_flops``, ``total_flops``; the same with prefix
        ``chinchilla_`` for the training-only optimum at the same loss (also
        charged the inference); ``saving`` (``1 - total / chinchilla_total``)
        and ``saving_flops``; ``feasible`` (bool) and ``at_edge`` (optimum on
        the edge of the search window). Infeasible entries are NaN.
    """
    if not set(law.inputs) >= {"N", "D"}:
        raise ValueError(f"inference-aware allocation needs a law of N and D, not {law!r}")
    if method not in ("auto", "closed_form", "numeric"):
        raise ValueError(f"method must be 'auto', 'closed_form' or 'numeric', got {method!r}")
    closed = law.has_closed_form_allocation if method == "auto" else method == "closed_form"
    if closed and set(law.param_names) != {"E", "A", "alpha", "B", "beta"}:
        raise ValueError(f"the closed-form path needs the Chinchilla form, not {law!r}")
    target, tokens = np.broadcast_arrays(np.asarray(target_loss, dtype=np.float64),
                                         np.asarray(inference_tokens, dtype=np.float64))
    target, tokens = target.ravel(), tokens.ravel()
    if not (np.all(np.isfinite(target)) and np.all(target > 0)):
        raise ValueError(f"target_loss must be positive and finite, got {target_loss!r}")
    if not (np.all(np.isfinite(tokens)) and np.all(tokens >= 0)):
        raise ValueError(f"inference_tokens must be >= 0 and finite, got {inference_tokens!r}")
    if not (np.isfinite(flops_factor) and flops_factor > 0):
        raise ValueError(f"flops_factor must be positive, got {flops_factor!r}")
    with jax.enable_x64(True):
        p = {k: jnp.atleast_1d(jnp.asarray(params[k], dtype=jnp.float64))[:, None]
             for k in law.param_names}
        num_draws = max(int(v.shape[0]) for v in p.values())
        log_target = jnp.broadcast_to(jnp.log(jnp.asarray(target))[None, :],
                                      (num_draws, target.size))
        log_two_t = jnp.broadcast_to(jnp.log(2.0 * jnp.asarray(tokens))[None, :],
                                     (num_draws, target.size))
        no_inference = jnp.full(log_two_t.shape, -jnp.inf)
        log_k = jnp.asarray(np.log(flops_factor))

        def solve(log_two):
            if closed:
                return _chinchilla_path(p, log_target, log_two, log_k, num_grid, num_refine)
            return _generic_path(law, p, log_target, log_two, log_k,
                                 jnp.asarray(float(log_n_centre)), num_grid, num_refine)

        log_n, log_d, feasible, at_edge = solve(log_two_t)
        if closed:  # training-only optimum in closed form: g = beta / (alpha + beta)
            reducible = jnp.where(feasible, jnp.exp(log_target) - p["E"], 1.0)
            s = p["alpha"] + p["beta"]
            c_n = (jnp.log(p["A"]) - jnp.log(reducible) - jnp.log(p["beta"] / s)) / p["alpha"]
            c_d = (jnp.log(p["B"]) - jnp.log(reducible) - jnp.log(p["alpha"] / s)) / p["beta"]
            c_n, c_d = jnp.broadcast_to(c_n, log_n.shape), jnp.broadcast_to(c_d, log_n.shape)
        else:
            c_n, c_d, _, _ = solve(no_inference)
        arrays = {k: np.asarray(v) for k, v in
                  {"log_n": log_n, "log_d": log_d, "c_n": c_n, "c_d": c_d,
                   "feasible": feasible, "at_edge": at_edge}.items()}
    ok = arrays["feasible"]
    tokens2 = np.broadcast_to(tokens[None, :], ok.shape)
    out: dict[str, np.ndarray] = {}
    for prefix, ln, ld in (("", arrays["log_n"], arrays["log_d"]),
                           ("chinchilla_", arrays["c_n"], arrays["c_d"])):
        n = np.where(ok, np.exp(ln), np.nan)
        d = np.where(ok, np.exp(ld), np.nan)
        out[f"{prefix}N"], out[f"{prefix}D"] = n, d
        out[f"{prefix}tokens_per_param"] = d / n
        out[f"{prefix}training_flops"] = flops_factor * n * d
        out[f"{prefix}inference_flops"] = 2.0 * n * tokens2
        out[f"{prefix}total_flops"] = out[f"{prefix}training_flops"] + \
            out[f"{prefix}inference_flops"]
    out["saving_flops"] = out["chinchilla_total_flops"] - out["total_flops"]
    out["saving"] = out["saving_flops"] / out["chinchilla_total_flops"]
    out["feasible"] = ok
    out["at_edge"] = arrays["at_edge"] & ok
    return out


_REPORTED = ("N", "D", "tokens_per_param", "training_flops", "inference_flops", "total_flops",
             "chinchilla_N", "chinchilla_D", "chinchilla_tokens_per_param",
             "chinchilla_total_flops", "saving", "saving_flops")


def inference_aware_allocation(
    fit: ScalingFit, target_loss: Any, inference_tokens: Any, *, level: float | None = None,
    group: str | None = None, method: str = "auto",
) -> pd.DataFrame:
    """Lifetime-FLOPs-optimal model size and tokens for a target loss, with intervals.

    Per posterior draw, minimises training plus inference FLOPs,
    ``k N D + 2 N T``, over model sizes ``N`` whose token count ``D(N)`` reaches
    ``target_loss`` (see the module docstring), and compares with the
    Chinchilla-optimal (training-only) allocation for the same loss.

    Parameters
    ----------
    fit : ScalingFit
        A fit of a law of ``N`` and ``D`` (``chinchilla``, ``kaplan``, ...).
        ``k`` is the fit's ``flops_factor``; ``N`` means the fit's parameter
        count (see :mod:`bayes_scaling.accounting`).
    target_loss : float or array
        Loss to reach (same units as the fit's loss).
    inference_tokens : float or array
        Tokens generated over the model's lifetime (``0``: Chinchilla-optimal).
        Broadcast with ``target_loss``; one row per pair.
    level : float, optional
        Interval mass (default: the fit's, 0.9).
    group : str, optional
        Group label for a fit with groups.
    method : {"auto", "closed_form", "numeric"}
        See :func:`inference_aware_allocation_draws`.

    Returns
    -------
    pandas.DataFrame
        One row per scenario: ``target_loss``, ``inference_tokens``; for each of
        ``N``, ``D``, ``tokens_per_param``, ``training_flops``,
        ``inference_flops``, ``total_flops``, ``chinchilla_N``,
        ``chinchilla_D``, ``chinchilla_tokens_per_param``,
        ``chinchilla_total_flops`` (training-only optimum, charged the same
        inference), ``saving`` (fraction of the Chinchilla allocation's lifetime
        FLOPs saved) and ``saving_flops``: the median and ``_lower``/``_upper``
        over the feasible draws; ``p_infeasible``; ``level``.

    Warns
    -----
    InfeasibleTargetWarning
        When the target is unreachable (below the law's floor) in some draws.

    Examples
    --------
    >>> fit = bs.fit(runs)
    >>> table = inference_aware_allocation(fit, target_loss=2.0, inference_tokens=[0, 1e13])
    >>> len(table)
    2
    """
    level = fit.level if level is None else level
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    params = fit._params_for(group)
    log_n_centre = fit.design.log_centre.get("N", float(np.log(1e9)))
    draws = inference_aware_allocation_draws(
        fit.law, params, target_loss, inference_tokens, flops_factor=fit.runs.flops_factor,
        method=method, log_n_centre=log_n_centre)
    target, tokens = np.broadcast_arrays(np.asarray(target_loss, dtype=np.float64),
                                         np.asarray(inference_tokens, dtype=np.float64))
    out: dict[str, Any] = {"target_loss": target.ravel(), "inference_tokens": tokens.ravel()}
    ok = draws["feasible"]
    p_infeasible = 1.0 - ok.mean(axis=0)
    tail = (1.0 - level) / 2.0
    for name in _REPORTED:
        values = draws[name]
        q = np.full((3, values.shape[1]), np.nan)
        for j in range(values.shape[1]):
            column = values[ok[:, j], j]
            if column.size:
                q[:, j] = np.quantile(column, [0.5, tail, 1.0 - tail])
        out[name], out[f"{name}_lower"], out[f"{name}_upper"] = q
    out["p_infeasible"] = p_infeasible
    out["level"] = level
    table = pd.DataFrame(out)
    if np.any(p_infeasible > 0):
        worst = int(np.argmax(p_infeasible))
        warnings.warn(
            f"target loss {table['target_loss'].iloc[worst]:g} is at or below the law's floor "
            f"(irreducible loss) in {100 * p_infeasible[worst]:.1f}% of posterior draws: no "
            "finite model reaches it there. The reported allocation is conditional on the "
            "feasible draws (p_infeasible says how many were not); choose a higher target or "
            "check the posterior of E.", InfeasibleTargetWarning, stacklevel=2)
    edge = float(np.mean(draws["at_edge"]))
    if edge > 0:
        warnings.warn(f"{100 * edge:.1f}% of the optima sit at the edge of the search window: "
                      "those allocations are unreliable (an extreme target or inference volume)",
                      AllocationWarning, stacklevel=2)
    return table
