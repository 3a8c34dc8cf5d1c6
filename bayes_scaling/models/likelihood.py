"""The observation model on log-loss: likelihoods, their noise priors and the likelihood site."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpyro
import numpyro.distributions as dist

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
    """
    defaults = noise_priors(likelihood)
    sigma = numpyro.sample("sigma", priors.get("sigma", defaults["sigma"]))
    if likelihood == "student_t":
        nu = numpyro.sample("nu", priors.get("nu", defaults["nu"]))
        obs_dist = dist.StudentT(nu, mean, sigma)
    else:
        obs_dist = dist.Normal(mean, sigma)
    with numpyro.handlers.mask(mask=True if mask is None else mask):
        numpyro.sample("log_loss", obs_dist, obs=log_loss)
