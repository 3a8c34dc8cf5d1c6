"""NumPyro model of downstream accuracy: a sigmoid of loss between chance and a ceiling."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist

__all__ = ["NOISE_MODELS", "PARAMS", "sigmoid_accuracy", "default_priors", "build_downstream_model"]


NOISE_MODELS = ("binomial", "beta_binomial", "beta")


PARAMS = ("k", "L_mid", "ceiling")


def sigmoid_accuracy(loss: Any, k: Any, L_mid: Any, ceiling: Any, chance: Any) -> Any:  # noqa: N803
    """``chance + (ceiling - chance) * sigmoid(k (L_mid - loss))`` (broadcasting, JAX)."""
    return chance + (ceiling - chance) * jax.nn.sigmoid(k * (L_mid - loss))


def default_priors(design: Mapping[str, Any], free_ceiling: bool) -> dict[str, dist.Distribution]:
    """Weakly informative priors scaled by the observed losses.

    ``L_mid ~ Normal(median loss, loss range)``; ``k ~ LogNormal(log(4.4 / range), 1)``
    (the 10%-90% rise of a sigmoid spans ``2 ln 9 / k = 4.4 / k`` in loss, so the
    median prior rise spans the observed range); ``ceiling ~ c + (1 - c) Beta(5, 2)``;
    ``sigma ~ HalfNormal(0.05)``.
    """
    priors = {
        "k": dist.LogNormal(jnp.log(4.4 / design["loss_range"]), 1.0),
        "L_mid": dist.Normal(design["loss_centre"], design["loss_range"]),
        "sigma": dist.HalfNormal(0.05),
    }
    if free_ceiling:
        chance = design["chance"]
        priors["ceiling"] = dist.TransformedDistribution(
            dist.Beta(5.0, 2.0), dist.transforms.AffineTransform(chance, 1.0 - chance))
    return priors


@functools.cache
def build_downstream_model(noise: str, free_ceiling: bool) -> Callable[..., None]:
    """The NumPyro model (one function object per option pair: compiled samplers are reused)."""

    def model(loss, accuracy, counts, totals, design, priors) -> None:
        defaults = default_priors(design, free_ceiling)
        k = numpyro.sample("k", priors.get("k", defaults["k"]))
        mid = numpyro.sample("L_mid", priors.get("L_mid", defaults["L_mid"]))
        if free_ceiling:
            ceiling = numpyro.sample("ceiling", priors.get("ceiling", defaults["ceiling"]))
        else:
            ceiling = design["ceiling"]
        mean = sigmoid_accuracy(loss, k, mid, ceiling, design["chance"])
        if noise == "binomial":
            numpyro.sample("accuracy", dist.Binomial(totals, probs=mean), obs=counts)
            return
        sigma = numpyro.sample("sigma", priors.get("sigma", defaults["sigma"]))
        phi = 0.25 / sigma**2
        if noise == "beta":
            numpyro.sample("accuracy", dist.Beta(mean * phi, (1.0 - mean) * phi), obs=accuracy)
        else:
            numpyro.sample("accuracy", dist.BetaBinomial(mean * phi, (1.0 - mean) * phi, totals),
                           obs=counts)

    model.__name__ = f"downstream_{noise}_{'free' if free_ceiling else 'fixed'}_ceiling_model"
    return model
