"""Where a chain starts: the prior's centre, computed without sampling the prior.

NUTS starts from the mode found by the Laplace step (:mod:`.nuts`), so the
starting point only has to be a valid point in the bulk of the prior. NumPyro's
``init_to_median`` finds one by drawing 15 prior samples per site inside the
compiled chain: the program then also contains a sampler of every prior (a
Gamma prior's is a rejection loop), about a quarter of a cold fit's compile
time. Here a family whose centre has a closed form (the library's priors and the
common user choices) starts at it; any other family falls back to
``init_to_median``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpyro.distributions as dist
from numpyro import handlers
from numpyro.distributions.transforms import biject_to
from numpyro.infer import init_to_median
from numpyro.infer.util import transform_fn

__all__ = ["init_to_prior_centre", "prior_centre_point"]

#: Families whose mean is finite for every parameter value: a valid start.
_MEAN_IS_CENTRE = (dist.Normal, dist.HalfNormal, dist.Gamma, dist.Beta, dist.Uniform,
                   dist.Exponential, dist.Dirichlet)


def _centre(fn: dist.Distribution) -> Any:
    """The centre of ``fn``, or ``None`` where it has no closed form here."""
    if isinstance(fn, (dist.ExpandedDistribution, dist.Independent)):
        centre = _centre(fn.base_dist)
        return None if centre is None else jnp.broadcast_to(centre, fn.shape())
    if isinstance(fn, dist.LogNormal):  # the median: the mean sits far out for wide priors
        return jnp.exp(fn.base_dist.loc) * jnp.ones(fn.shape())
    if isinstance(fn, _MEAN_IS_CENTRE):
        return 1.0 * jnp.broadcast_to(fn.mean, fn.shape())  # 1.0 *: a float start
    return None


def init_to_prior_centre(site: dict | None = None, num_samples: int = 15) -> Any:
    """NumPyro init strategy: each latent site at its prior's centre (no sampling).

    The centre is the mean of a Normal, HalfNormal, Gamma, Beta, Uniform,
    Exponential or Dirichlet prior and the median of a
    LogNormal one; other families use ``init_to_median(num_samples=...)``.

    Examples
    --------
    >>> import numpyro.distributions as dist
    >>> site = {"type": "sample", "is_observed": False, "value": None,
    ...         "fn": dist.HalfNormal(2.0), "kwargs": {}}
    >>> round(float(init_to_prior_centre(site)), 4)   # 2 * sqrt(2 / pi)
    1.5958
    """
    if site is None:
        return partial(init_to_prior_centre, num_samples=num_samples)
    if site["type"] != "sample" or site["is_observed"] or site["fn"].support.is_discrete:
        return None
    if site["value"] is not None:
        return site["value"]
    centre = _centre(site["fn"])
    if centre is None:
        return init_to_median(site, num_samples=num_samples)
    sample_shape = site["kwargs"].get("sample_shape") or ()
    return jnp.broadcast_to(centre, tuple(sample_shape) + jnp.shape(centre))


def prior_centre_point(model: Callable, key: jax.Array, model_kwargs: Mapping[str, Any]) -> dict:
    """Unconstrained value of every latent site of ``model`` at its prior's centre.

    One trace of the model, with no potential or gradient: NumPyro's
    ``find_valid_initial_params`` also differentiates the model to check the
    point, which adds a traced and compiled copy of the gradient to every chain
    program. The Laplace step that follows evaluates the point anyway and
    falls back where it is not finite. ``key`` seeds only the sites that fall
    back to ``init_to_median``.

    Examples
    --------
    >>> import numpyro, numpyro.distributions as dist
    >>> def model():
    ...     numpyro.sample("scale", dist.LogNormal(0.0, 1.0))
    >>> z = prior_centre_point(model, jax.random.PRNGKey(0), {})
    >>> float(z["scale"])   # log of the median 1
    0.0
    """
    seeded = handlers.substitute(handlers.seed(model, key), substitute_fn=init_to_prior_centre())
    values, transforms = {}, {}
    for name, site in handlers.trace(seeded).get_trace(**model_kwargs).items():
        if site["type"] == "sample" and not site["is_observed"] and not site["fn"].support.is_discrete:
            values[name] = site["value"]
            transforms[name] = biject_to(site["fn"].support)
    return transform_fn(transforms, values, invert=True)
