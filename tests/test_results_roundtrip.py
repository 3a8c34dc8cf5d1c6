"""Results round trips: what a fit records (priors, law, sampler settings) survives
``to_netcdf`` / ``load`` exactly, and the priors recorded are the ones used."""

from __future__ import annotations

import dataclasses
import warnings

import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import pandas as pd
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
    # The field prior alone: the default's own-fold refits (same seeds, same sampler) would
    # only repeat the check above at the cost of six refits.
    np.testing.assert_array_equal(
        back.predict(N=1e10, D=2e11, extrapolation="field").to_numpy(),
        informed_fit.predict(N=1e10, D=2e11, extrapolation="field").to_numpy())


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
    # the fit records the settings it ran with: precision "auto" resolved (float64 here)
    assert result.sampler == dataclasses.replace(config, precision="float64")
    assert result.posterior["posterior"].sizes["draw"] == 30
    with pytest.raises(TypeError, match="not both"):
        bs.fit(bs.example_runs(), sampler=config, chains=2)


# ------------------------------------------------ every results type, one loader
# The fits below reuse the sampler settings and table sizes of the modules that test
# these types (test_learning_curves, test_downstream, test_hyperparams), so in the
# default suite they compile nothing new.
def _same_results(back, fitted, names):
    """Exact equality of what a results object holds: type, settings, draws, summary."""
    assert type(back) is type(fitted)
    assert (back.seed, back.level, back.sampler) == (fitted.seed, fitted.level, fitted.sampler)
    assert set(back.priors) == set(fitted.priors)
    assert all(_same_prior(fitted.priors[k], back.priors[k]) for k in fitted.priors)
    for name in names:
        np.testing.assert_array_equal(back.draws(name), fitted.draws(name))
    pd.testing.assert_frame_equal(back.summary(), fitted.summary())


@pytest.fixture(scope="module")
def curves_fit(seed):
    from test_learning_curves import SMALL, _checkpoints

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.BayesScalingWarning)
        return bs.fit_learning_curves(_checkpoints(seed=1), seed=seed + 1, **SMALL)


@pytest.fixture(scope="module")
def downstream_fit(seed):
    from test_downstream import CHANCE, QUESTIONS, SMALL, _benchmark

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.BayesScalingWarning)
        return bs.fit_downstream(_benchmark(), chance=CHANCE, num_questions=QUESTIONS,
                                 seed=seed + 1, **SMALL)


def test_learning_curve_fit_round_trips_with_its_run_effects(curves_fit, tmp_path):
    # Priors set on the object: what is recorded is saved (no second fit needed).
    fitted = dataclasses.replace(curves_fit, priors={"tau": dist.HalfNormal(0.03),
                                                     "alpha": dist.LogNormal(-1.0, 0.2)})
    back = bs.load(fitted.to_netcdf(tmp_path / "curves.nc"))
    _same_results(back, fitted, ("tau", "sigma", "run_effect", "alpha"))
    assert (back.run_labels, back.ar1) == (fitted.run_labels, fitted.ar1)
    assert back.law.spec() == fitted.law.spec()
    pd.testing.assert_frame_equal(back.run_effects(), fitted.run_effects())
    for run in (None, fitted.run_labels[0]):
        pd.testing.assert_frame_equal(back.predict(N=1e9, D=2e10, run=run),
                                      fitted.predict(N=1e9, D=2e10, run=run))
    assert dict(curves_fit.priors) == {}  # default priors: nothing recorded


def test_downstream_fit_round_trips(downstream_fit, tmp_path):
    fitted = dataclasses.replace(downstream_fit, priors={"k": dist.LogNormal(1.0, 0.5)})
    back = bs.load(fitted.to_netcdf(tmp_path / "downstream.nc"))
    _same_results(back, fitted, fitted.param_names)
    assert (back.chance, back.ceiling, back.noise) == (fitted.chance, fitted.ceiling,
                                                       fitted.noise)
    pd.testing.assert_frame_equal(back.data, fitted.data)
    pd.testing.assert_frame_equal(back.predict([2.0, 2.5]), fitted.predict([2.0, 2.5]))


def test_fit_batch_sits_on_the_base_and_round_trips(seed, tmp_path):
    tables = [bs.example_runs(seed=2), bs.example_runs(seed=3)]
    batch = bs.fit_many(tables, chains=1, draws=20, warmup=20, seed=seed)
    assert isinstance(batch, bs.PosteriorResults)
    summary = batch.summary()
    assert summary.index.names == ["fit", "parameter"]
    assert {"mean", "sd", "median", "lower", "upper", "r_hat"} <= set(summary.columns)
    np.testing.assert_allclose(summary.loc[(1, "alpha"), "median"],
                               np.median(batch.draws("alpha")[1]))
    fitted = dataclasses.replace(batch, priors={"alpha": dist.LogNormal(-1.0, 0.2)})
    back = bs.load(fitted.to_netcdf(tmp_path / "batch.nc"))
    _same_results(back, fitted, ("E", "alpha", "beta", "sigma"))
    assert back.law.spec() == fitted.law.spec() and back.seconds == fitted.seconds
    pd.testing.assert_frame_equal(back.diagnostics, fitted.diagnostics)
    for i in range(len(batch)):  # field prior alone: the default's refits use the priors,
        # which `fitted` replaced
        pd.testing.assert_frame_equal(back[i].predict(N=1e10, D=2e11, extrapolation="field"),
                                      batch[i].predict(N=1e10, D=2e11, extrapolation="field"))


def test_load_names_what_it_cannot_read(tmp_path):
    import xarray as xr

    path = tmp_path / "foreign.nc"
    xr.DataTree(dataset=xr.Dataset({"x": ("i", np.arange(3.0))})).to_netcdf(
        path, engine="h5netcdf")
    with pytest.raises(ValueError, match="not written by bayes_scaling"):
        bs.load(path)


# ------------------------------------------------- one predictive-table schema
def _tree(**draws):
    import arviz_base as azb

    return azb.from_dict({"posterior": {k: np.asarray(v, dtype=np.float64)
                                        for k, v in draws.items()}})


def _synthetic_fits():
    """Hyperparameter and critical-batch results on made-up draws (predict reads draws
    only, so the schema is checked without sampling)."""
    rng = np.random.default_rng(0)
    shape = (2, 50)
    hyper = bs.HyperparameterFit(
        posterior=_tree(log_a=np.log(0.3) + 0.01 * rng.standard_normal(shape),
                        b=-0.125 + 0.01 * rng.standard_normal(shape),
                        tau=np.abs(0.05 + 0.01 * rng.standard_normal(shape))),
        sampler=bs.SamplerConfig(chains=2, draws=50), seed=0, level=0.9,
        sweeps=pd.DataFrame({"C": [1.0], "lr": [1.0], "loss": [1.0]}),
        budgets=np.array([1e18]))
    critical = bs.CriticalBatchFit(
        posterior=_tree(alpha_B=0.21 + 0.01 * rng.standard_normal(shape),
                        log_B_c=np.log(2e6) + 0.05 * rng.standard_normal(shape)),
        sampler=bs.SamplerConfig(chains=2, draws=50), seed=0, level=0.9,
        table=pd.DataFrame({"loss": [3.0]}), mode="direct", targets=np.array([3.0]),
        centre=float(np.log(3.5)))
    return {"HyperparameterFit": hyper.predict(C=[1e20, 1e22]),
            "CriticalBatchFit": critical.predict([2.5, 3.0])}


def test_every_predict_table_has_the_one_schema(informed_fit, curves_fit, downstream_fit,
                                               example_fit):
    from bayes_scaling.results.base import PREDICTIVE_COLUMNS

    tables = {
        # the field prior alone: the same columns as the default, without its refits
        "ScalingFit": informed_fit.predict(N=[1e9, 1e10], D=[2e10, 2e11], extrapolation="field"),
        "LearningCurveFit": curves_fit.predict(N=1e9, D=2e10),
        "LearningCurveFit (run=)": curves_fit.predict(N=1e9, D=2e10,
                                                      run=curves_fit.run_labels[0]),
        "DownstreamFit": downstream_fit.predict([2.0, 2.5]),
        "predict_downstream": bs.predict_downstream(example_fit, downstream_fit, C=[1e21]),
        "stacked_predict": bs.stacked_predict({"a": example_fit, "b": informed_fit},
                                              {"a": 0.5, "b": 0.5}, N=1e10, D=2e11),
        "PriorPredictive.bands": bs.prior_predictive("chinchilla", bs.example_runs(),
                                                     num_draws=200).bands(),
        **_synthetic_fits(),
    }
    for label, table in tables.items():
        missing = set(PREDICTIVE_COLUMNS) - set(table.columns)
        assert not missing, f"{label} lacks {sorted(missing)}"
        assert (table["lower"] <= table["median"]).all() and \
            (table["median"] <= table["upper"]).all(), label
        observed = table[["pred_lower", "pred_upper"]].dropna()
        assert (observed["pred_lower"] <= observed["pred_upper"]).all(), label
