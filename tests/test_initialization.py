"""Where chains start: the prior's centre without sampling (inference.initialization)."""

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.handlers import seed, substitute, trace

from bayes_scaling.inference.initialization import init_to_prior_centre


def _starts(model):
    strategy = init_to_prior_centre()
    with jax.enable_x64(True):
        tr = trace(substitute(seed(model, 0), substitute_fn=strategy)).get_trace()
    return {name: np.asarray(site["value"]) for name, site in tr.items()
            if site["type"] == "sample" and not site["is_observed"]}


def _library_priors():
    """The library's prior families, as sites of one model."""
    numpyro.sample("E", dist.Uniform(0.0, 2.0))
    numpyro.sample("alpha", dist.LogNormal(jnp.log(0.3), 0.5))
    numpyro.sample("log_A_c", dist.Normal(1.5, 1.5))
    numpyro.sample("sigma", dist.HalfNormal(0.05))
    numpyro.sample("nu", dist.Gamma(2.0, 0.1))


def test_closed_form_centres_of_the_library_priors():
    def model():
        _library_priors()
        numpyro.sample("w", dist.Normal(0.0, 1.0).expand([3]).to_event(1))

    starts = _starts(model)
    np.testing.assert_allclose(starts["E"], 1.0)
    np.testing.assert_allclose(starts["alpha"], 0.3)  # the LogNormal's median, not its mean
    np.testing.assert_allclose(starts["log_A_c"], 1.5)
    np.testing.assert_allclose(starts["sigma"], 0.05 * np.sqrt(2 / np.pi))
    np.testing.assert_allclose(starts["nu"], 20.0)
    assert starts["w"].shape == (3,) and np.all(starts["w"] == 0.0)


def test_a_prior_without_a_finite_mean_starts_at_a_finite_median():
    def model():
        numpyro.sample("sigma", dist.HalfCauchy(0.1))  # mean is infinite
        numpyro.sample("loc", dist.Cauchy(2.0, 1.0))   # mean undefined

    starts = _starts(model)
    assert np.isfinite(starts["sigma"]) and starts["sigma"] > 0
    assert np.isfinite(starts["loc"]) and abs(starts["loc"] - 2.0) < 3.0


def test_the_compiled_start_has_no_prior_sampler():
    """The point of the strategy: with a Gamma prior the start is not a rejection loop."""
    def model():
        numpyro.sample("nu", dist.Gamma(2.0, 0.1))

    def start(key):
        strategy = init_to_prior_centre()
        return trace(substitute(seed(model, key), substitute_fn=strategy)).get_trace()["nu"]["value"]

    text = str(jax.make_jaxpr(start)(jax.random.PRNGKey(0)))
    assert "random_gamma" not in text  # present with numpyro's init_to_median


def test_prior_centre_point_is_the_centre_in_unconstrained_coordinates():
    """The start the chains use (nuts): each site's centre mapped by the inverse of its
    support's bijection, with no prior sampler in the traced program."""
    from bayes_scaling.inference.initialization import prior_centre_point

    with jax.enable_x64(True):
        z = prior_centre_point(_library_priors, jax.random.PRNGKey(0), {})
        text = str(jax.make_jaxpr(lambda key: prior_centre_point(_library_priors, key, {}))(
            jax.random.PRNGKey(0)))
    np.testing.assert_allclose(z["E"], 0.0, atol=1e-12)  # logit of the midpoint
    np.testing.assert_allclose(z["alpha"], np.log(0.3))
    np.testing.assert_allclose(z["log_A_c"], 1.5)
    np.testing.assert_allclose(z["sigma"], np.log(0.05 * np.sqrt(2 / np.pi)))
    np.testing.assert_allclose(z["nu"], np.log(20.0))
    assert "random_gamma" not in text
