"""NumPyro models of learning curves: checkpoints with a run-level random effect, iid or AR(1) noise.

Two forms of one model. The *latent* form samples each run's effect
(non-centred, ``u_i = tau z_i``); it serves Student-t noise, simulation and
the pointwise log-likelihood given the run effects. The *collapsed* form, for
normal noise, integrates the run effects out in closed form (Gaussian in
``u_i``), so NUTS sees the law's parameters, ``sigma``, ``tau`` (and ``rho``)
alone: no funnel between ``tau`` and the run effects, and a handful of
dimensions at any number of runs. The run effects are then drawn from their
exact conditional :func:`run_effect_conditional` (given every posterior draw),
so both forms have the same joint posterior.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist

from ..laws import Law
from ..models.likelihood import noise_priors, observe

__all__ = ["EXTRA_PRIORS", "build_learning_curve_model", "chunked_layout", "collapsed_terms",
           "run_effect_conditional"]


EXTRA_PRIORS = {"tau": dist.HalfNormal(0.05), "rho": dist.Uniform(-1.0, 1.0)}

_HALF_LOG_2PI = 0.5 * float(np.log(2.0 * np.pi))


def chunked_layout(run_index: np.ndarray, tokens: np.ndarray, num_runs: int,
                   pad: Callable[[int], int] = lambda n: n) -> dict[str, np.ndarray]:
    """Checkpoint slots for the collapsed model: runs contiguous, each padded to whole chunks.

    Rows are sorted by run, then tokens (so a checkpoint's predecessor is the slot
    before it), and each run is padded to a multiple of ``chunk`` slots (a power
    of two near the median checkpoints per run, at most 64). Per-run sums are
    then sums along the chunk axis plus a sum over a few chunks per run: on XLA
    CPU a scatter over every checkpoint (``segment_sum``) costs more than the
    law's own gradient, a reduction along an axis a fraction of it. ``pad``
    maps the numbers of chunks and of runs to padded sizes (shape buckets): a
    padded slot repeats a real row and is masked out, a padded run has no slot.

    Returns
    -------
    dict
        ``rows`` (source row of each slot), ``real``, ``first`` (a run's first
        checkpoint), ``chunk_run`` (run of each chunk), ``rest`` (checkpoints
        after the first, per run; ``-1`` marks a padded run) and ``chunk`` (int).

    Examples
    --------
    >>> import numpy as np
    >>> layout = chunked_layout(np.array([1, 0, 0, 1, 0]), np.array([2., 3., 1., 1., 2.]), 2)
    >>> layout["chunk"], layout["rows"].tolist(), layout["real"].tolist()
    (2, [2, 4, 1, 2, 3, 0], [True, True, True, False, True, True])
    >>> layout["chunk_run"].tolist(), layout["rest"].tolist()
    ([0, 0, 1], [2, 1])
    """
    counts = np.bincount(run_index, minlength=num_runs)
    chunk = 1 << int(np.clip(np.log2(max(np.median(counts), 1.0)), 0, 6))
    order = np.lexsort((tokens, run_index))
    chunks = -(-counts // chunk)
    num_chunks = pad(int(chunks.sum()))
    rows = np.full(num_chunks * chunk, order[0], dtype=np.int32)
    real = np.zeros(num_chunks * chunk, dtype=bool)
    first = np.zeros(num_chunks * chunk, dtype=bool)
    # padded chunks belong to the last run (sorted, as segment_sum is told), with no real slot
    chunk_run = np.full(num_chunks, num_runs - 1, dtype=np.int32)
    starts = np.concatenate([[0], np.cumsum(chunks)[:-1]]) * chunk
    row_starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    for i in range(num_runs):
        slots = slice(starts[i], starts[i] + counts[i])
        rows[slots] = order[row_starts[i]:row_starts[i] + counts[i]]
        real[slots] = True
        first[starts[i]] = True
        chunk_run[starts[i] // chunk:starts[i] // chunk + chunks[i]] = i
        rows[starts[i] + counts[i]:starts[i] + chunks[i] * chunk] = rows[starts[i]]
    rest = np.full(pad(num_runs), -1, dtype=np.int32)
    rest[:num_runs] = counts - 1
    return {"rows": rows, "real": real, "first": first, "chunk_run": chunk_run, "rest": rest,
            "chunk": chunk}


def collapsed_terms(resid: Any, layout: Mapping[str, Any], sigma: Any, rho: Any,
                    ar1: bool) -> tuple[Any, Any, Any, Any]:
    """Per-run sufficient statistics of the checkpoint residuals for integrating ``u_i`` out.

    With ``r = log loss - log L`` in the slots of :func:`chunked_layout` and AR(1)
    innovations ``e_j = r_j - rho r_{j-1}`` (``e = r`` at a run's first
    checkpoint; iid noise: ``rho = 0``), each innovation is ``a_j u + eps_j`` with
    ``a_j = 1 - rho`` (``1`` at the first checkpoint) and independent ``eps_j``
    of precision ``w_j = 1 / (sigma^2 (1 - rho^2))`` (``1 / sigma^2`` at the
    first). The transform has unit Jacobian.

    Returns
    -------
    q, b, c : arrays (padded runs,)
        ``sum w e^2``, ``sum w a e`` and ``sum w a^2`` per run (float64; zero for padded runs).
    normaliser : scalar
        ``0.5 * sum (log w - log 2 pi)`` over all checkpoints.
    """
    wide = jnp.result_type(float)
    # the law is evaluated in the caller's precision (float32 under mixed
    # precision); squares and sums need float64 (q ~ checkpoints * (tau / sigma)^2)
    r = jnp.where(layout["real"], resid.astype(wide), 0.0)
    sigma, rho = jnp.asarray(sigma, wide), jnp.asarray(rho, wide)
    chunks, num_runs = layout["chunk_run"].shape[0], layout["rest"].shape[0]
    rest = jnp.maximum(layout["rest"], 0).astype(wide)  # checkpoints after the first
    has_run = (layout["rest"] >= 0).astype(wide)

    def per_run(*columns):  # sums over each chunk, then over each run's chunks
        stacked = jnp.stack([x.reshape(chunks, -1).sum(axis=1) for x in columns], axis=1)
        sums = jax.ops.segment_sum(stacked, layout["chunk_run"], num_segments=num_runs,
                                   indices_are_sorted=True)
        return [sums[:, k] for k in range(len(columns))]

    w0 = 1.0 / (sigma * sigma)
    if not ar1:
        s1, s2 = per_run(r, r * r)
        n = rest + has_run
        return w0 * s2, w0 * s1, w0 * n, -(jnp.log(sigma) + _HALF_LOG_2PI) * jnp.sum(n)
    is_first = layout["first"]
    r_first = jnp.where(is_first, r, 0.0)
    r_rest = r - r_first
    # a checkpoint's predecessor is the slot before it (zero at firsts and padded slots)
    prev = jnp.where(is_first | ~layout["real"], 0.0,
                     jnp.concatenate([jnp.zeros(1, wide), r[:-1]]))
    f1, f2, r1, r2, p1, p2, x = per_run(r_first, r_first * r_first, r_rest, r_rest * r_rest,
                                        prev, prev * prev, r_rest * prev)
    log_w1 = -2.0 * jnp.log(sigma) - jnp.log1p(-rho * rho)
    w1 = jnp.exp(log_w1)
    q = w0 * f2 + w1 * (r2 - 2.0 * rho * x + rho * rho * p2)
    b = w0 * f1 + w1 * (1.0 - rho) * (r1 - rho * p1)
    c = w0 * has_run + w1 * jnp.square(1.0 - rho) * rest
    return q, b, c, (-jnp.log(sigma) * jnp.sum(has_run) + 0.5 * log_w1 * jnp.sum(rest)
                     - _HALF_LOG_2PI * jnp.sum(has_run + rest))


def run_effect_conditional(b: Any, c: Any, tau: Any) -> tuple[Any, Any]:
    """Mean and SD of ``u_i`` given the data and the other parameters (normal noise).

    ``u_i ~ Normal(0, tau)`` a priori and the run's innovations carry ``exp(b u -
    c u^2 / 2)``: the conditional is ``Normal(b tau^2 / (1 + c tau^2), tau /
    sqrt(1 + c tau^2))``.

    Examples
    --------
    >>> mean, sd = run_effect_conditional(b=4.0, c=4.0, tau=1.0)  # 4 checkpoints, sigma 1
    >>> round(float(mean), 6), round(float(sd), 6)   # shrunk mean of 4 residuals; 1/sqrt(5)
    (0.8, 0.447214)
    """
    tau2 = jnp.square(tau)
    shrink = 1.0 + c * tau2
    return b * tau2 / shrink, jnp.sqrt(tau2 / shrink)


def _collapsed_log_likelihood(q: Any, b: Any, c: Any, normaliser: Any, tau: Any) -> Any:
    """``log p(log loss | law, sigma, tau, rho)`` with every run effect integrated out."""
    tau2 = jnp.square(jnp.asarray(tau, q.dtype))
    per_run = -0.5 * q + 0.5 * b * b * tau2 / (1.0 + c * tau2) - 0.5 * jnp.log1p(c * tau2)
    # padded runs (q = b = c = 0) add nothing
    return jnp.sum(per_run) + normaliser


@functools.cache
def build_learning_curve_model(law: Law, likelihood: str, ar1: bool,
                               collapsed: bool = False) -> Callable[..., None]:
    """NumPyro model of checkpoints with a run effect (one object per option set: cached).

    ``collapsed=True`` (normal noise only) integrates the run effects out: see the
    module docstring; it has no ``run_z``/``run_effect`` sites and cannot simulate.
    """
    if ar1 and likelihood != "normal":
        raise ValueError("ar1=True needs likelihood='normal'")
    if collapsed and likelihood != "normal":
        raise ValueError("collapsed=True needs likelihood='normal' (run effects in closed form)")

    def law_sites(design: Any, priors: Any) -> dict[str, Any]:
        params = law.sample_params(design, priors)
        sampled = law.default_priors(design)
        for name in law.param_names:
            if name not in sampled:
                numpyro.deterministic(name, params[name])
        return params

    def noise_sites(priors: Any) -> tuple[Any, Any, Any]:
        tau = numpyro.sample("tau", priors.get("tau", EXTRA_PRIORS["tau"]))
        sigma = numpyro.sample("sigma", priors.get("sigma", noise_priors("normal")["sigma"]))
        rho = numpyro.sample("rho", priors.get("rho", EXTRA_PRIORS["rho"])) if ar1 else 0.0
        return tau, sigma, rho

    def collapsed_model(log_inputs, log_loss, design, priors, layout) -> None:
        if log_loss is None:
            raise NotImplementedError("the collapsed learning-curve model does not simulate; "
                                      "use collapsed=False")
        params = law_sites(design, priors)
        tau, sigma, rho = noise_sites(priors)
        resid = log_loss - law.log_mean(params, log_inputs)
        q, b, c, normaliser = collapsed_terms(resid, layout, sigma, rho, ar1)
        numpyro.factor("log_loss", _collapsed_log_likelihood(q, b, c, normaliser, tau))

    def latent_model(log_inputs, log_loss, design, priors, run_index, run_template,
                     prev_index, has_prev) -> None:
        params = law_sites(design, priors)
        tau = numpyro.sample("tau", priors.get("tau", EXTRA_PRIORS["tau"]))
        with numpyro.plate("runs", run_template.shape[0]):
            z = numpyro.sample("run_z", dist.Normal(0.0, 1.0))
        effect = numpyro.deterministic("run_effect", tau * z)
        mean = law.log_mean(params, log_inputs) + effect[run_index]
        if not ar1:
            observe(likelihood, mean, log_loss, priors)
            return
        sigma = numpyro.sample("sigma", priors.get("sigma", noise_priors("normal")["sigma"]))
        rho = numpyro.sample("rho", priors.get("rho", EXTRA_PRIORS["rho"]))
        if log_loss is None:  # simulate: one AR(1) step per checkpoint in token order
            raise NotImplementedError("simulating AR(1) learning curves is not supported")
        resid = log_loss - mean
        cond_mean = mean + jnp.where(has_prev, rho * resid[prev_index], 0.0)
        cond_sd = sigma * jnp.where(has_prev, jnp.sqrt(1.0 - rho**2), 1.0)
        numpyro.sample("log_loss", dist.Normal(cond_mean, cond_sd), obs=log_loss)

    model = collapsed_model if collapsed else latent_model
    # the collapsed form sums its per-checkpoint terms in float64 (collapsed_terms):
    # the sampler may evaluate the law in float32 (inference.precision)
    model.mixed_precision = collapsed
    model.__name__ = (f"{law.name}_{likelihood}_{'ar1_' if ar1 else ''}"
                      f"{'collapsed_' if collapsed else ''}learning_curve_model")
    return model
