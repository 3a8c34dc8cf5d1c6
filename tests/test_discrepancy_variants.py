"""Known-truth reductions of the two discrepancy forms measured by
``benchmarks/discrepancy_variants.py`` (models in ``benchmarks/discrepancy_variant_models.py``;
no sampling, no data; the gradient check is slow)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from bayes_scaling.extrapolation import discrepancy as dsc

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def variants():
    sys.path.insert(0, str(BENCHMARKS))  # benchmark code, not a package
    try:
        import discrepancy_variant_models
    finally:
        sys.path.remove(str(BENCHMARKS))
    return discrepancy_variant_models


def test_gp_covariance_reduces_to_the_independent_one_as_the_length_scale_vanishes(variants):
    import jax

    rng = np.random.default_rng(0)
    n = 7
    x = rng.uniform(8.0, 11.0, (n, 2))  # distinct inputs (log10 N, log10 D)
    sq = np.sum((x[:, None] - x[None]) ** 2, axis=-1)
    d, obs_sd, tau = rng.uniform(0.1, 2.0, n), rng.uniform(0.005, 0.05, n), 0.03
    independent = np.diag(obs_sd ** 2 + (tau * d) ** 2)
    with jax.enable_x64(True):
        tiny = np.asarray(variants.gp_covariance(d, sq, obs_sd, np.asarray(tau), 1e-4))
        wide = np.asarray(variants.gp_covariance(d, sq, obs_sd, np.asarray(tau), 1e4))
    np.testing.assert_allclose(tiny, independent, rtol=0, atol=1e-300)
    # The other limit: one shared miss, fully correlated across runs (plus the noise).
    np.testing.assert_allclose(wide, np.diag(obs_sd ** 2) + tau ** 2 * np.outer(d, d),
                               rtol=1e-6)


def test_separate_distances_reduce_to_the_shipped_draws_without_a_data_distance(variants):
    """d_D = 0 and d_N = d: the separate form draws exactly what Discrepancy.apply does."""
    rng = np.random.default_rng(1)
    num, points = 500, 6
    log_obs = np.log(2.5) + 0.02 * rng.standard_normal((num, points))
    d = np.array([0.0, 0.1, 0.4, 0.9, 1.3, 2.0])
    params = {"mu_N": rng.normal(-0.02, 0.01, 300), "tau_N": rng.uniform(0.01, 0.05, 300),
              "a": rng.normal(0.3, 0.2, 300), "b": rng.uniform(-0.5, 0.5, 300)}
    params.update(mu_D=rng.normal(0.0, 0.05, 300), tau_D=rng.uniform(0.0, 0.1, 300))
    shipped = dsc.Discrepancy(mu=params["mu_N"], tau=params["tau_N"], a=params["a"],
                              b=params["b"]).apply(log_obs, d, seed=3)
    separate = variants.apply_separate(params, log_obs, d, d, np.zeros(points), seed=3)
    np.testing.assert_allclose(separate, shipped, rtol=0, atol=1e-12)
    # Inside the data (d = d_N = d_D = 0) the draws are the plain ones.
    np.testing.assert_allclose(separate[:, 0], log_obs[:, 0], rtol=0, atol=1e-12)


@pytest.mark.slow  # ~5 s: compiles JAX's own MVN gradient for the comparison
def test_the_gp_likelihoods_written_out_gradient_matches_autodiff(variants):
    """The GP fit's density and gradient (host LAPACK, gradient by hand) against JAX's."""
    import jax
    import jax.numpy as jnp
    from jax.scipy.stats import multivariate_normal

    rng = np.random.default_rng(2)
    a = rng.normal(size=(3, 5, 5))
    cov, r = a @ a.transpose(0, 2, 1) + np.eye(5), rng.normal(size=(3, 5))
    with variants.global_x64():
        def reference(r, cov):
            return jnp.sum(jax.vmap(lambda x, c: multivariate_normal.logpdf(
                x, jnp.zeros(5), c))(r, cov))

        def mine(r, cov):
            return jnp.sum(variants.mvn_logpdf((r,), (cov,))[0])

        want = jax.value_and_grad(reference, argnums=(0, 1))(r, cov)
        got = jax.value_and_grad(mine, argnums=(0, 1))(r, cov)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-12)
    for g, w in zip(got[1], want[1], strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-12)
