"""Results round trips: what a fit records (priors, law, sampler settings) survives
``to_netcdf`` / ``load`` exactly, and the priors recorded are the ones used."""

from __future__ import annotations

import warnings

import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import pytest

import bayes_scaling as bs
from bayes_scaling.priors.serialize import decode_priors, encode_priors

PRIORS = {"alpha": dist.LogNormal(jnp.log(0.34), 0.1), "E": dist.Uniform(0.5, 2.0),
          "sigma": dist.HalfNormal(0.02)}


def _same_prior(a: dist.Distribution, b: dist.Distribution) -> bool:
    return type(a) is type(b) and all(
        np.allclose(np.asarray(getattr(a, k)), np.asarray(getattr(b, k)), rtol=0, atol=0)
        for k in a.arg_constraints)


def test_every_catalogue_prior_encodes_and_decodes_exactly():
    checked = 0
    for name in sorted(set(bs.list_literature_priors()["name"])):
        for law in ("chinchilla", "kaplan", "data_constrained"):
            try:
                priors = bs.literature_priors(name, law=law)
            except (ValueError, TypeError):
                continue  # the entry does not cover this law
            back = decode_priors(encode_priors(priors))
            assert set(back) == set(priors)
            assert all(_same_prior(priors[k], back[k]) for k in priors)
            checked += len(priors)
    assert checked >= 5


def test_unrecordable_prior_raises():
    weird = dist.TransformedDistribution(dist.Normal(0.0, 1.0), [dist.transforms.ExpTransform()])
    with pytest.raises(ValueError, match="cannot re(cord|build)"):
        encode_priors({"alpha": weird})


@pytest.fixture(scope="module")
def informed_fit(seed):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.BayesScalingWarning)
        return bs.fit(bs.example_runs(seed=1), priors=PRIORS, chains=2, draws=150, warmup=150,
                      seed=seed + 3, target_accept=0.95, level=0.8)


def test_scaling_fit_records_its_priors(informed_fit, seed):
    assert set(informed_fit.priors) == set(PRIORS)
    assert all(_same_prior(PRIORS[k], informed_fit.priors[k]) for k in PRIORS)
    default = bs.fit_many([bs.example_runs(seed=2)], chains=1, draws=20, warmup=20, seed=seed)[0]
    assert dict(default.priors) == {}


def test_scaling_fit_round_trips_exactly(informed_fit, tmp_path):
    path = informed_fit.to_netcdf(tmp_path / "fit.nc")
    back = bs.load(path)
    assert back.law.spec() == informed_fit.law.spec()
    assert back.likelihood == informed_fit.likelihood
    assert (back.seed, back.level) == (informed_fit.seed, informed_fit.level)
    assert back.sampler == informed_fit.sampler
    assert set(back.priors) == set(informed_fit.priors)
    assert all(_same_prior(informed_fit.priors[k], back.priors[k]) for k in PRIORS)
    for name in ("E", "alpha", "beta", "sigma"):
        np.testing.assert_array_equal(back.draws(name), informed_fit.draws(name))
    np.testing.assert_array_equal(back.predict(N=1e10, D=2e11).to_numpy(),
                                  informed_fit.predict(N=1e10, D=2e11).to_numpy())


def test_every_fit_function_takes_one_sampler_argument(seed):
    import inspect

    fits = (bs.fit, bs.fit_many, bs.fit_learning_curves, bs.fit_downstream,
            bs.fit_hyperparameter_law, bs.fit_critical_batch_size)
    for function in fits:
        parameter = inspect.signature(function).parameters.get("sampler")
        assert parameter is not None and parameter.default is None, function.__name__
    config = bs.SamplerConfig(chains=1, draws=30, warmup=30)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.BayesScalingWarning)
        result = bs.fit(bs.example_runs(), sampler=config, seed=seed)
    assert result.sampler == config and result.posterior["posterior"].sizes["draw"] == 30
    with pytest.raises(TypeError, match="not both"):
        bs.fit(bs.example_runs(), sampler=config, chains=2)
