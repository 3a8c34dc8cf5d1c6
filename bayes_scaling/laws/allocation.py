"""Compute-optimal allocation per posterior draw.

For a budget ``C`` and ``C = k N D``, the compute-optimal model minimises the
law along the iso-FLOP line. Laws with a closed form (Chinchilla) use it; the
others are minimised numerically over ``log N`` (a coarse grid followed by a
golden-section search), vectorised over draws and budgets, all inside JAX.
"""

from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp

from . import Law
from .base import Array

__all__ = ["log_optimal_allocation", "numeric_log_allocation"]

#: Half-width of the search window in log tokens-per-parameter around D = N:
#: tokens per parameter between e^-24 and e^24, far beyond any sensible answer.
_HALF_WINDOW = 12.0
_INV_PHI = 0.6180339887498949


def numeric_log_allocation(
    law: Law,
    params: Mapping[str, Array],
    log_compute: Array,
    log_flops_factor: float,
    *,
    num_grid: int = 257,
    num_refine: int = 48,
) -> tuple[Array, Array, Array]:
    """Minimise ``law`` along ``C = k N D`` in ``log N``.

    Parameters
    ----------
    law : Law
    params : mapping
        Parameter draws, each of shape ``(S,)``.
    log_compute : array, shape (M,)
    log_flops_factor : float

    Returns
    -------
    log_N_opt, log_D_opt : arrays of shape (S, M)
    at_edge : bool array of shape (S, M)
        True where the minimum sits at the edge of the search window (no
        interior optimum within tokens-per-parameter e^-24 .. e^24).
    """
    p = {k: jnp.asarray(v)[:, None, None] for k, v in params.items()}
    log_c = jnp.asarray(log_compute)[None, :, None] - log_flops_factor  # log(N D)
    mid = 0.5 * log_c

    def objective(log_n):
        return law.log_mean(p, {"N": log_n, "D": log_c - log_n})

    grid = mid + jnp.linspace(-_HALF_WINDOW, _HALF_WINDOW, num_grid)[None, None, :]
    values = objective(grid)
    values = jnp.where(jnp.isfinite(values), values, jnp.inf)
    best = jnp.argmin(values, axis=-1)
    at_edge = (best == 0) | (best == num_grid - 1)
    step = 2 * _HALF_WINDOW / (num_grid - 1)
    centre = jnp.take_along_axis(grid, best[..., None], axis=-1)
    lo, hi = centre - step, centre + step

    def golden(_, bounds):
        lo, hi = bounds
        x1 = hi - _INV_PHI * (hi - lo)
        x2 = lo + _INV_PHI * (hi - lo)
        left_better = objective(x1) < objective(x2)
        return jnp.where(left_better, lo, x1), jnp.where(left_better, x2, hi)

    lo, hi = jax.lax.fori_loop(0, num_refine, golden, (lo, hi))
    log_n = (0.5 * (lo + hi))[..., 0]
    return log_n, log_c[..., 0] - log_n, at_edge


def log_optimal_allocation(
    law: Law,
    params: Mapping[str, Array],
    log_compute: Array,
    log_flops_factor: float,
) -> tuple[Array, Array, Array]:
    """``(log N_opt, log D_opt, at_edge)``, each of shape ``(S, M)`` for S draws, M budgets."""
    if law.has_closed_form_allocation:
        p = {k: jnp.asarray(v)[:, None] for k, v in params.items()}
        log_n, log_d = law.log_optimal_allocation(
            p, jnp.asarray(log_compute)[None, :], log_flops_factor
        )
        return log_n, log_d, jnp.zeros(jnp.shape(log_n), dtype=bool)
    if not set(law.inputs) >= {"N", "D"}:
        raise ValueError(
            f"{law!r} depends on {', '.join(law.inputs)} only: compute-optimal allocation needs "
            "a law of both N and D (e.g. 'chinchilla' or 'kaplan')"
        )
    return numeric_log_allocation(law, params, log_compute, log_flops_factor)
