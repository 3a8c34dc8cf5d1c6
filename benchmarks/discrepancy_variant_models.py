"""Models of the two discrepancy forms measured by ``discrepancy_variants.py``.

Benchmark-only (issue #15, item 1; the shipped form is
:mod:`bayes_scaling.models.discrepancy`): the NumPyro meta-analyses with separate
distances in log N and log D (:func:`separate_model`) and with a Gaussian-process
discrepancy within each sweep (:func:`gp_model`, its likelihood :func:`mvn_logpdf`), and a
new sweep's draws of the separate form (:func:`population_separate`,
:func:`apply_separate`). The priors are those of ``bayes_scaling.extrapolation.field``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pandas as pd

from bayes_scaling.extrapolation import discrepancy as dsc
from bayes_scaling.models.discrepancy import SD_REF, FieldPrior

#: The field-level hyperparameters of the shipped form (``FieldPrior``'s draws).
HYPER = ("m", "s_mu", "ell", "s_tau", "a", "b", "s_a")



def _calibration(sweep_ids):
    """The shipped band calibration (``field._model``): ``a``, ``b``, ``a_s`` per sweep."""
    a = numpyro.sample("a", dist.Normal(0.0, 0.5))
    b = numpyro.deterministic("b", jnp.exp(numpyro.sample("c", dist.Normal(0.0, 1.0))) - 1.0)
    s_a = numpyro.sample("s_a", dist.HalfNormal(0.5))
    with numpyro.plate("sweeps", sweep_ids.shape[0]):
        v = numpyro.sample("v", dist.Normal(0.0, 1.0))
    return a + s_a * v, b


def _population(suffix, sweep_ids):
    """One drift and one scale per sweep from the shipped hyperpriors (``field._model``)."""
    m = numpyro.sample("m" + suffix, dist.Normal(0.0, 0.05))
    s_mu = numpyro.sample("s_mu" + suffix, dist.HalfNormal(0.05))
    ell = numpyro.sample("ell" + suffix, dist.Normal(jnp.log(0.01), 1.5))
    s_tau = numpyro.sample("s_tau" + suffix, dist.HalfNormal(1.0))
    with numpyro.plate("sweeps", sweep_ids.shape[0]):
        z = numpyro.sample("z" + suffix, dist.Normal(0.0, 1.0))
        w = numpyro.sample("w" + suffix, dist.Normal(0.0, 1.0))
    return m + s_mu * z, jnp.exp(ell + s_tau * w)


def separate_model(sweep_index, e, sd, d, d_n, d_d, weight, sweep_ids):
    """Meta-analysis with separate distances in log N and log D (module docstring)."""
    mu_n, tau_n = _population("_N", sweep_ids)
    mu_d, tau_d = _population("_D", sweep_ids)
    a_s, b = _calibration(sweep_ids)
    i = sweep_index
    lam = jnp.exp((a_s[i] + b * jnp.log(sd / SD_REF)) * jnp.minimum(d, 1.0))
    var = (lam * sd) ** 2 + (tau_n[i] * d_n) ** 2 + (tau_d[i] * d_d) ** 2
    with numpyro.handlers.mask(mask=weight > 0):  # the left-out sweep's rows
        numpyro.sample("e", dist.Normal(mu_n[i] * d_n + mu_d[i] * d_d, jnp.sqrt(var)), obs=e)


def gp_covariance(d, sq, obs_sd, tau, length, xp=jnp):
    """``tau^2 d_i d_j exp(-|x_i - x_j|^2 / (2 l^2)) + diag(obs_sd^2)``.

    ``d`` ``(..., n)``, ``sq`` ``(..., n, n)`` the squared distances ``|x_i - x_j|^2``,
    ``obs_sd`` ``(..., n)`` (``lambda sd``), ``tau`` ``(...)``, ``length`` scalar;
    ``l -> 0`` leaves the independent ``diag(obs_sd^2 + tau^2 d^2)`` (distinct inputs).
    ``xp``: ``jax.numpy`` in the model, ``numpy`` for the importance weights.
    """
    scale = tau[..., None] * d
    kern = scale[..., :, None] * scale[..., None, :] * xp.exp(-0.5 * sq / length ** 2)
    return kern + (obs_sd ** 2)[..., :, None] * xp.eye(d.shape[-1])


def _mvn_one(r: np.ndarray, cov: np.ndarray):
    try:
        chol = np.linalg.cholesky(cov)
        inv = np.linalg.inv(cov)
    except np.linalg.LinAlgError:  # not positive definite: a rejected proposal
        return (np.full(r.shape[:-1], -np.inf), np.zeros_like(r), np.zeros_like(cov))
    alpha = np.einsum("...ij,...j->...i", inv, r)
    logdet = 2.0 * np.sum(np.log(np.diagonal(chol, axis1=-2, axis2=-1)), axis=-1)
    logp = -0.5 * (np.sum(r * alpha, axis=-1) + logdet + r.shape[-1] * np.log(2 * np.pi))
    return logp, alpha, inv


def _mvn_numpy(rs, covs):
    """``log N(r; 0, cov)``, ``cov^-1 r`` and ``cov^-1`` of each stack, in NumPy (LAPACK)."""
    out = [_mvn_one(np.asarray(r), np.asarray(c)) for r, c in zip(rs, covs, strict=True)]
    return tuple(o[0] for o in out), tuple(o[1] for o in out), tuple(o[2] for o in out)


def _mvn_call(rs, covs):
    shapes = (tuple(jax.ShapeDtypeStruct(r.shape[:-1], r.dtype) for r in rs),
              tuple(jax.ShapeDtypeStruct(r.shape, r.dtype) for r in rs),
              tuple(jax.ShapeDtypeStruct(c.shape, c.dtype) for c in covs))
    # One host call for every stack: a call per stack costs more than the algebra.
    return jax.pure_callback(_mvn_numpy, shapes, tuple(rs), tuple(covs),
                             vmap_method="broadcast_all")


@contextlib.contextmanager
def global_x64():
    """float64 for every thread while inside: ``jax.enable_x64`` is thread-local, and the
    host callback of :func:`mvn_logpdf` runs on another thread, which would round its
    float64 results to float32."""
    before = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", before)


@jax.custom_vjp
def mvn_logpdf(rs, covs):
    """Zero-mean multivariate normal log densities of the stacks ``rs[k]`` ``(..., n_k)``
    with covariances ``covs[k]``. The gradient is written out (``d/dr = -cov^-1 r``,
    ``d/dcov = (a a^T - cov^-1) / 2``, ``a = cov^-1 r``): on CPU, JAX's own Cholesky
    gradient (matrix triangular solves) cost ~4 ms per 74 x 74 factor here."""
    return _mvn_call(rs, covs)[0]


def _mvn_fwd(rs, covs):
    logp, alpha, inv = _mvn_call(rs, covs)
    return logp, (alpha, inv)


def _mvn_bwd(res, g):
    alphas, invs = res
    return (tuple(-gk[..., None] * a for gk, a in zip(g, alphas, strict=True)),
            tuple(0.5 * gk[..., None, None] * (a[..., :, None] * a[..., None, :] - inv)
                  for gk, a, inv in zip(g, alphas, invs, strict=True)))


mvn_logpdf.defvjp(_mvn_fwd, _mvn_bwd)


def gp_model(groups, weight, sweep_ids):
    """Meta-analysis with a GP discrepancy per sweep. ``groups``: the sweeps with the same
    number of held-out runs stacked (``index``, ``e``, ``sd``, ``d`` ``(k, n)``, ``sq``
    ``(k, n, n)`` the squared input distances), so no Cholesky factor is padded."""
    mu, tau = _population("", sweep_ids)
    a_s, b = _calibration(sweep_ids)
    length = numpyro.sample("l", dist.LogNormal(0.0, 1.0))
    rs, covs = [], []
    for g in groups:
        i = g["index"]
        lam = jnp.exp((a_s[i][:, None] + b * jnp.log(g["sd"] / SD_REF))
                      * jnp.minimum(g["d"], 1.0))
        covs.append(gp_covariance(g["d"], g["sq"], lam * g["sd"], tau[i], length))
        rs.append(g["e"] - mu[i][:, None] * g["d"])
    for j, (g, logp) in enumerate(zip(groups, mvn_logpdf(tuple(rs), tuple(covs)),
                                      strict=True)):
        numpyro.factor(f"e{j}", jnp.sum(jnp.where(weight[g["index"]] > 0, logp, 0.0)))



def squared_distances(t: pd.DataFrame) -> np.ndarray:
    """``|x_i - x_j|^2`` of a sweep's held-out runs, ``x = (x1, x2)`` in decades."""
    x = t[["x1", "x2"]].to_numpy(np.float64)
    return np.sum((x[:, None, :] - x[None, :, :]) ** 2, axis=-1)


def population_separate(draws: Mapping[str, np.ndarray], num: int, seed: int
                        ) -> dict[str, np.ndarray]:
    """A new sweep's ``mu_N, mu_D, tau_N, tau_D, a, b`` (as ``FieldPrior.sample_all``)."""
    rng = np.random.default_rng(seed)
    k = rng.integers(0, len(draws["m_N"]), num)
    out = {}
    for x in ("_N", "_D"):
        out["mu" + x] = draws["m" + x][k] + draws["s_mu" + x][k] * rng.standard_normal(num)
        out["tau" + x] = np.exp(draws["ell" + x][k]
                                + draws["s_tau" + x][k] * rng.standard_normal(num))
    out["a"] = draws["a"][k] + draws["s_a"][k] * rng.standard_normal(num)
    out["b"] = draws["b"][k]
    return out


def apply_separate(params: Mapping[str, np.ndarray], log_obs: np.ndarray, d: np.ndarray,
                   d_n: np.ndarray, d_d: np.ndarray, seed: int) -> np.ndarray:
    """``Discrepancy.apply`` with separate distances: the shipped band calibration (on
    ``d``), then ``mu_N d_N + mu_D d_D + sqrt(tau_N^2 d_N^2 + tau_D^2 d_D^2) z``, with the
    same random streams (so ``d_D = 0`` gives exactly the shipped draws)."""
    zero = np.zeros_like(params["a"])
    calibrated = dsc.Discrepancy(mu=zero, tau=zero, a=params["a"], b=params["b"]).apply(
        log_obs, d, seed)  # its delta is zero: mu = tau = 0
    num = log_obs.shape[0]
    rng = np.random.default_rng(seed + 1)  # the stream of Discrepancy.draws
    k = rng.integers(0, len(params["mu_N"]), num)
    d_n, d_d = (np.asarray(v, dtype=np.float64)[None, :] for v in (d_n, d_d))
    z = rng.standard_normal((num, d_n.shape[1]))
    scale = np.sqrt((params["tau_N"][k, None] * d_n) ** 2 + (params["tau_D"][k, None] * d_d) ** 2)
    return calibrated + params["mu_N"][k, None] * d_n + params["mu_D"][k, None] * d_d \
        + scale * z


def as_field_prior(draws: Mapping[str, np.ndarray]) -> FieldPrior:
    return FieldPrior(**{k: draws[k] for k in HYPER})
