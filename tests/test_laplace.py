"""The Laplace standardisation NUTS samples in (SamplerConfig.laplace): mode, scale, fallback.

No sampling here (the fits of test_fit.py, test_buckets.py and test_batch.py run
through it); these check the Newton steps on potentials with a known answer.
"""

import jax
import jax.numpy as jnp
import numpy as np

import bayes_scaling as bs
from bayes_scaling.inference.laplace import laplace
from bayes_scaling.inference.nuts import LAPLACE_ITERATIONS


def _gaussian_potential(mean, cov):
    precision = jnp.linalg.inv(cov)
    return lambda z: 0.5 * (z - mean) @ precision @ (z - mean)


def test_a_gaussian_potential_gives_its_mean_and_covariance_from_a_far_start():
    # Posterior scales like those of 100k runs (SDs ~1e-4, correlated): the scale
    # at which Stan-style mass-matrix regularisation (1e-3 * I) breaks down.
    with jax.enable_x64(True):
        sd = jnp.array([1e-4, 3e-4, 2e-3])
        corr = jnp.array([[1.0, 0.9, -0.3], [0.9, 1.0, -0.2], [-0.3, -0.2, 1.0]])
        cov = corr * sd[:, None] * sd[None, :]
        mean = jnp.array([0.3, -1.2, 2.0])
        mode, tril, ok = jax.jit(lambda z: laplace(_gaussian_potential(mean, cov), z,
                                                    LAPLACE_ITERATIONS))(jnp.array([5.0, 5.0, -5.0]))
    assert bool(ok)
    # Newton stops at a decrement of 1e-8: within ~1e-4 posterior SDs of the mean.
    np.testing.assert_allclose(mode, mean, rtol=0, atol=1e-3 * float(np.min(np.asarray(sd))))
    tril = np.asarray(tril)
    np.testing.assert_allclose(tril @ tril.T, np.asarray(cov), rtol=1e-6, atol=0)


def test_a_potential_without_a_positive_definite_hessian_falls_back():
    # A saddle: the Hessian at the stopping point is indefinite, so NUTS must keep
    # the original coordinates (ok=False), never sample with a NaN scale.
    with jax.enable_x64(True):
        mode, tril, ok = jax.jit(lambda z: laplace(lambda x: x[0] ** 2 - x[1] ** 2, z, 20))(
            jnp.array([1.0, 0.0]))
    assert not bool(ok)


def test_laplace_is_a_compiled_setting_and_can_be_turned_off():
    on, off = bs.SamplerConfig(), bs.SamplerConfig(laplace=False)
    assert on.laplace and not off.laplace
    assert on.compile_key() != off.compile_key()  # separate compiled samplers
