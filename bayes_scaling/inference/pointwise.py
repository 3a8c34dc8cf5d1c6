"""Pointwise log-likelihood of a fit, computed on demand and in chunks.

Storing ``log p(y_i | theta_s)`` for every draw and run costs draws x runs
float64 values (6.4 GB for 8,000 draws of 100,000 runs), so fits do not store
it; LOO, model comparison and outlier reports ask for it through
:meth:`bayes_scaling.results.scaling_fit.ScalingFit.log_likelihood`, which calls
:func:`pointwise_log_likelihood`.

It evaluates the same density as the model's ``log_loss`` site (Normal or
Student-t on log-loss around the law's log-mean) from the posterior draws of
the user-facing parameters, in blocks of draws whose size is a power of two,
on runs padded to the fit's bucket size (:mod:`bayes_scaling.inference.buckets`): one
compiled program per (law, likelihood, groups, block, bucket), reused by
every later table in the same bucket. Peak memory beyond the result is a few
blocks of ``block x bucket`` values (about 32 MB each).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist

from .buckets import bucket_size

__all__ = ["pointwise_log_likelihood", "block_size", "over_draw_blocks", "BLOCK_ELEMENTS"]

#: Values (draws x padded runs) per block.
BLOCK_ELEMENTS = 1 << 22


@functools.cache
def _block_fn(law: Any, likelihood: str, grouped: bool) -> Any:
    def block(params: Mapping[str, Any], log_inputs: Mapping[str, Any], log_loss: Any,
              index: Any) -> Any:
        if grouped:  # per-group parameters have shape (draws, groups): gather per run
            per_run = {k: v[:, index] if v.ndim == 2 else v[:, None] for k, v in params.items()}
        else:
            per_run = {k: v[:, None] for k, v in params.items()}
        mean = law.log_mean(per_run, {k: v[None, :] for k, v in log_inputs.items()})
        sigma = per_run["sigma"]
        if likelihood == "student_t":
            density = dist.StudentT(per_run["nu"], mean, sigma)
        else:
            density = dist.Normal(mean, sigma)
        return density.log_prob(log_loss[None, :])

    return jax.jit(block)


def block_size(num_draws: int, padded_runs: int) -> int:
    """Largest power of two <= BLOCK_ELEMENTS / runs, capped at the draws' power of two."""
    block = max(1, BLOCK_ELEMENTS // max(padded_runs, 1))
    block = 1 << (block.bit_length() - 1)
    return min(block, 1 << max(0, (num_draws - 1).bit_length()))


def over_draw_blocks(fn: Any, draws: Mapping[str, np.ndarray], rows: int,
                     columns: int | None = None) -> Any:
    """``fn`` over the draws in blocks of :func:`block_size` draws; results stacked on the host.

    ``fn(block)`` takes a dict of ``(block, ...)`` draws and returns an array, or a
    tuple of arrays, of shape ``(block, n)``; ``rows`` (values per draw inside
    ``fn``) sets the block size. The last block is padded with repeats of its last
    draw, so one compiled program serves every block. Each result is written into a
    preallocated ``(num_draws, columns)`` float64 array (``columns``: keep the first
    ``columns`` of ``n``; default all), so memory beyond the result stays a few blocks.

    Examples
    --------
    >>> import numpy as np
    >>> over_draw_blocks(lambda b: b["x"][:, None] * np.ones((1, 3)), {"x": np.arange(5.0)},
    ...                  rows=3).sum(axis=1).tolist()
    [0.0, 3.0, 6.0, 9.0, 12.0]
    """
    num_draws = next(iter(draws.values())).shape[0]
    block = block_size(num_draws, rows)
    out = None
    for lo in range(0, num_draws, block):
        hi = min(lo + block, num_draws)
        take = np.minimum(np.arange(lo, lo + block), num_draws - 1)
        result = fn({k: v[take] for k, v in draws.items()})
        parts = result if isinstance(result, tuple) else (result,)
        if out is None:
            width = [np.shape(x)[1] if columns is None else columns for x in parts]
            out = tuple(np.empty((num_draws, w), dtype=np.float64) for w in width)
        for target, part in zip(out, parts, strict=True):
            target[lo:hi] = np.asarray(part)[: hi - lo, : target.shape[1]]
    return out if isinstance(result, tuple) else out[0]


def pointwise_log_likelihood(fit: Any) -> np.ndarray:
    """``log p(log_loss_i | draw s)`` for every draw and run: shape ``(chains, draws, runs)``.

    Parameters
    ----------
    fit : ScalingFit
        Any fit with ``runs``, ``law``, ``likelihood``, ``groups``, ``posterior``
        and ``param_draws()`` (the results layer's ScalingFit; typed loosely
        because the inference layer does not import results).

    Returns
    -------
    numpy.ndarray
        float64; padded rows never appear (the result has exactly
        ``fit.runs.num_runs`` columns).
    """
    runs = fit.runs
    n = runs.num_runs
    size = bucket_size(n)
    params = fit.param_draws()
    num_draws = next(iter(params.values())).shape[0]
    extra = size - n

    def pad_runs(values: np.ndarray) -> np.ndarray:
        return np.concatenate([values, np.repeat(values[:1], extra)]) if extra else values

    log_inputs = {k: pad_runs(np.log(runs.column(k))) for k in fit.law.inputs}
    log_loss = pad_runs(np.log(runs.loss))
    grouped = fit.groups is not None
    index = pad_runs(runs.group_index.astype(np.int32)) if grouped else np.zeros(size, np.int32)
    fn = _block_fn(fit.law, fit.likelihood, grouped)
    with jax.enable_x64(True):
        inputs = {k: jnp.asarray(v) for k, v in log_inputs.items()}
        loss, idx = jnp.asarray(log_loss), jnp.asarray(index)
        out = over_draw_blocks(lambda chunk: fn(chunk, inputs, loss, idx), params, size,
                               columns=n)
    chains = int(fit.posterior["posterior"].sizes["chain"])
    return out.reshape(chains, num_draws // chains, n)
