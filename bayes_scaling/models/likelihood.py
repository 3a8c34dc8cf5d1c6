"""The observation model on log-loss: likelihoods, their noise priors and the likelihood site."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist
from jax.scipy.special import gammaln

__all__ = ["LIKELIHOODS", "noise_priors", "observe"]

LIKELIHOODS = ("normal", "student_t")


def noise_priors(likelihood: str) -> dict[str, dist.Distribution]:
    """Default priors of the observation-noise sites for ``likelihood``."""
    priors = {"sigma": dist.HalfNormal(0.05)}
    if likelihood == "student_t":
        priors["nu"] = dist.Gamma(2.0, 0.1)
    return priors


def observe(likelihood: str, mean: Any, log_loss: Any, priors: Mapping[str, dist.Distribution],
            mask: Any = None):
    """Noise sites and the ``log_loss`` likelihood around ``mean`` (log-space).

    ``mask`` (boolean per run, optional) drops padded runs from the likelihood:
    see :mod:`bayes_scaling.inference.buckets`.

    A float32 ``mean`` (the sampler's mixed precision,
    :mod:`bayes_scaling.inference.precision`) gives each run's log-density in
    float64 from a float32 kernel and a float64 normaliser.
    """
    defaults = noise_priors(likelihood)
    sigma = numpyro.sample("sigma", priors.get("sigma", defaults["sigma"]))
    nu = None
    if likelihood == "student_t":
        nu = numpyro.sample("nu", priors.get("nu", defaults["nu"]))
        obs_dist = dist.StudentT(nu, mean, sigma)
    else:
        obs_dist = dist.Normal(mean, sigma)
    if jnp.result_type(mean) != jnp.result_type(float):  # narrower than the default float
        obs_dist = _MixedPrecision(obs_dist, mean, sigma, nu)
    with numpyro.handlers.mask(mask=True if mask is None else mask):
        numpyro.sample("log_loss", obs_dist, obs=log_loss)


class _MixedPrecision(dist.Distribution):
    """``base`` (Normal or Student-t) with log-densities for mixed precision.

    The per-run kernel (``-r**2 / 2``, ``log1p(r**2 / nu)``) is computed in the
    float32 of the inputs; the normaliser (``log sigma``, ``gammaln``), which
    depends on the parameters alone, in float64, and the result is float64 so
    that NumPyro sums it in float64. A float32 normaliser has the same rounding
    in every run, and its error would be multiplied by the number of runs
    (with ``nu ~ 50``, ~1e-2 at 4,096 runs). Used only inside the sampler's
    potential; sampling delegates to ``base``.
    """

    support = dist.constraints.real

    def __init__(self, base: dist.Distribution, loc: Any, scale: Any, df: Any = None):
        self.base, self.loc, self.scale, self.df = base, loc, scale, df
        super().__init__(base.batch_shape, base.event_shape)

    def sample(self, key, sample_shape=()):  # noqa: D102 - the base's
        return self.base.sample(key, sample_shape)

    def log_prob(self, value):  # noqa: D102 - the base's, in mixed precision
        wide = jnp.result_type(float)
        # per run: multiplications by scalar reciprocals, not divisions (cheaper on CPU)
        r = (value - self.loc) * (1.0 / self.scale)
        scale = jnp.asarray(self.scale, wide)
        if self.df is None:
            return -0.5 * (r * r).astype(wide) - jnp.log(jnp.sqrt(2 * jnp.pi) * scale)
        df = jnp.asarray(self.df, wide)
        normaliser = (jnp.log(scale) + 0.5 * jnp.log(df * jnp.pi) + gammaln(0.5 * df)
                      - gammaln(0.5 * (df + 1.0)))
        kernel = jnp.log1p(r * r * (1.0 / self.df))
        return -0.5 * (df + 1.0) * kernel.astype(wide) - normaliser
