"""Mixed precision (bayes_scaling.inference.precision): float32 per-run work, checked against float64."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import pytest

import bayes_scaling as bs
from bayes_scaling.inference import nuts, precision
from bayes_scaling.models.likelihood import observe
from bayes_scaling.models.scaling import build_model
from bayes_scaling.results.persistence import sampler_from_meta, sampler_meta

NAMES = ("E", "A", "alpha", "B", "beta", "sigma")


def _table(noise: float, seed: int = 1, likelihood: str = "normal", per_budget: int = 280):
    # 4 x 280 = 1,120 runs by default, where "auto" precision is mixed. The tests share
    # the compiled programs of this size (normal, both precisions).
    design = bs.iso_flop_design(np.geomspace(1e18, 1e21, 4), runs_per_budget=per_budget)
    return bs.simulate("chinchilla", bs.EXAMPLE_TRUTH, N=design["N"], D=design["D"], noise=noise,
                       likelihood=likelihood, seed=seed)


def _fit(table, seed, precision_name, likelihood="normal"):
    return bs.fit(table, likelihood=likelihood, seed=seed, warn=False,
                  sampler=bs.SamplerConfig(precision=precision_name))


@pytest.mark.parametrize(("likelihood", "per_budget", "setting"), [
    ("normal", 280, "auto"),
    # Student-t's float32 kernel is checked without a sampler below; its fits compile
    # two more programs (10 s), so they run with -m slow.
    pytest.param("student_t", 60, "mixed", marks=pytest.mark.slow)])
def test_mixed_and_float64_posteriors_agree_in_distribution(likelihood, per_budget, setting, seed):
    table = _table(0.01, likelihood=likelihood, per_budget=per_budget)
    mixed = _fit(table, seed, setting, likelihood)
    exact = _fit(table, seed + 7, "float64", likelihood)
    # "auto" is mixed above 1,024 runs (here 1,120), and the fit records what it used
    assert mixed.sampler.precision == "mixed" and exact.sampler.precision == "float64"
    a, b = mixed.summary(), exact.summary()
    names = NAMES + (("nu",) if likelihood == "student_t" else ())
    for name in names:
        # Independent chains of one posterior: the means differ by Monte-Carlo error
        # alone. 4.5 combined standard errors: a false alarm has probability < 1e-5 per
        # parameter (normal approximation of the MCSE).
        se = np.hypot(a.loc[name, "mcse_mean"], b.loc[name, "mcse_mean"])
        assert abs(a.loc[name, "mean"] - b.loc[name, "mean"]) < 4.5 * se, name
        # and the same spread: SD within 15% (ESS > 1,000 per fit gives ~3% error)
        assert a.loc[name, "sd"] == pytest.approx(b.loc[name, "sd"], rel=0.15), name


def test_the_gap_is_checked_at_evenly_spaced_draws_and_is_small(seed):
    table = _table(0.01)
    fit = _fit(table, seed, "mixed")
    assert fit.sampler.precision == "mixed"
    # ScalingFit keeps ArviZ's sample stats; the check lives in the NutsResult: run it directly.
    law = bs.get_law("chinchilla")
    from bayes_scaling.inference.buckets import pad_model_kwargs
    from bayes_scaling.models.setup import prepare

    with jax.enable_x64(True):
        runs, _, kwargs = prepare(table, law, "normal", {}, 6.0, None)
        padded = pad_model_kwargs(kwargs, runs.num_runs)
        config = bs.SamplerConfig(precision="mixed")
        model = build_model(law, "normal")
        result = nuts.run_nuts(model, padded, config, jax.random.PRNGKey(seed))
        exact = nuts.run_nuts(model, padded, bs.SamplerConfig(precision="float64"),
                              jax.random.PRNGKey(seed))
    gaps = result.stats["float32_gap"]
    assert gaps.shape == (config.chains, config.draws)
    stride = config.draws // precision.CHECKS
    checked = np.isfinite(gaps)
    assert checked[:, ::stride].all() and checked.sum() == config.chains * precision.CHECKS
    # float32 rounding of 1,120 runs' log-densities: ~5e-4 here, 20x below the tolerance
    assert precision.gap_spread(gaps) < precision.TOLERANCE / 10
    assert np.isnan(exact.stats["float32_gap"]).all()  # float64: nothing to check


def test_data_float32_cannot_resolve_fall_back_to_float64_with_a_warning(seed):
    # Log-loss noise of 3e-5: float32 residuals (ulp of log-loss ~1e-7) err by ~0.3%
    # of a noise SD in every run; over 1,120 runs the gap SD is ~0.16, 16x the tolerance.
    # (At 1e-5 the float32 attempt itself crawls, its gradient mostly rounding: 35 s.)
    table = _table(3e-5)
    with pytest.warns(bs.PrecisionWarning, match="ran again in float64"):
        fit = _fit(table, seed, "mixed")
    assert fit.sampler.precision == "float64"
    with warnings.catch_warnings():
        warnings.simplefilter("error", bs.PrecisionWarning)
        exact = _fit(table, seed, "float64")
    # The fallback is the float64 fit with the same key: the same draws.
    np.testing.assert_array_equal(fit.draws("alpha"), exact.draws("alpha"))


def test_fit_many_runs_again_only_the_data_sets_that_fail_the_check(seed):
    tables = [_table(0.01, seed=2, per_budget=60), _table(1e-5, seed=3, per_budget=60),
              _table(0.01, seed=4, per_budget=60)]
    with pytest.warns(bs.PrecisionWarning, match="the fit ran again"):
        batch = bs.fit_many(tables, seed=seed, sampler=bs.SamplerConfig(
            chains=2, draws=300, warmup=300, precision="mixed"))
    assert [member.sampler.precision for member in batch] == ["mixed", "float64", "mixed"]
    # Each data set keeps its own draws: noise SDs of 0.01, 1e-5, 0.01 (240 runs give
    # the SD to ~5%; 30% separates the splice from a mix-up by orders of magnitude).
    for member, noise in zip(batch, (0.01, 1e-5, 0.01), strict=True):
        assert member.summary().loc["sigma", "mean"] == pytest.approx(noise, rel=0.3)


def _site_log_density(likelihood, loc, value, scale, df=None):
    """The ``log_loss`` site's summed log-density (what NumPyro adds to the joint)."""
    import numpyro

    priors = {"sigma": dist.Delta(scale)}
    if df is not None:
        priors["nu"] = dist.Delta(df)
    with numpyro.handlers.trace() as tr, numpyro.handlers.seed(rng_seed=0):
        observe(likelihood, loc, value, priors)
    return tr["log_loss"]["fn"].log_prob(value).sum()


@pytest.mark.parametrize("likelihood", ["normal", "student_t"])
def test_mixed_log_density_sums_in_float64_with_a_float64_normaliser(likelihood):
    rng = np.random.default_rng(0)
    loc = rng.uniform(0.5, 1.5, 4096)
    value = loc + 0.007 * rng.standard_normal(4096)
    worst_mixed, worst_float32 = 0.0, 0.0
    with jax.enable_x64(True):
        for df in np.linspace(40.0, 60.0, 9):
            df = df if likelihood == "student_t" else None
            exact = _site_log_density(likelihood, jnp.asarray(loc), jnp.asarray(value),
                                      jnp.asarray(0.007), None if df is None else jnp.asarray(df))
            narrow = precision.narrow((jnp.asarray(loc), jnp.asarray(value), jnp.asarray(0.007),
                                       None if df is None else jnp.asarray(df)))
            mixed = _site_log_density(likelihood, *narrow)
            assert mixed.dtype == jnp.float64  # summed in float64
            base = (dist.Normal(narrow[0], narrow[2]) if df is None
                    else dist.StudentT(narrow[3], narrow[0], narrow[2]))
            plain = base.log_prob(narrow[1]).sum()  # NumPyro's own, all float32
            worst_mixed = max(worst_mixed, abs(float(mixed) - float(exact)))
            worst_float32 = max(worst_float32, abs(float(plain) - float(exact)))
    # float32 per-run kernels: random rounding, ~sqrt(4096) * 1e-7 * |log-density|
    assert worst_mixed < 2e-3
    # a float32 normaliser and sum err by far more (the reason for the wide sum)
    assert worst_float32 > 5 * worst_mixed


def test_sampler_config_precision_is_validated_keyed_and_persisted():
    with pytest.raises(ValueError, match="precision must be one of"):
        bs.SamplerConfig(precision="float16")
    mixed, exact = bs.SamplerConfig(precision="mixed"), bs.SamplerConfig(precision="float64")
    assert bs.SamplerConfig().precision == "auto"
    assert mixed.compile_key() != exact.compile_key()  # separate compiled samplers
    assert sampler_from_meta(sampler_meta(exact)) == exact
    old = {k: v for k, v in sampler_meta(mixed).items() if k != "precision"}
    assert sampler_from_meta(old).precision == "float64"  # files from before: float64 draws


def test_narrow_casts_floats_only():
    tree = {"x": np.ones(3), "i": np.arange(3), "m": np.ones(3, bool), "d": dist.Normal(0.0, 1.0)}
    with jax.enable_x64(True):
        out = precision.narrow(tree)
    assert out["x"].dtype == jnp.float32 and out["d"].loc.dtype == jnp.float32
    assert out["i"].dtype == tree["i"].dtype and out["m"].dtype == bool


def test_auto_precision_is_float64_up_to_1024_runs():
    # End to end: above 1,024 runs test_mixed_and_float64_posteriors_agree_in_distribution,
    # below (the example's 252 runs) test_results_roundtrip records "float64".
    model = build_model(bs.get_law("chinchilla"), "normal")
    assert precision.resolve("auto", model, {"x": np.zeros(precision.MIXED_ABOVE)}) == "float64"
    assert precision.resolve("auto", model, {"x": np.zeros(precision.MIXED_ABOVE + 1)}) == "mixed"
    assert precision.resolve("float64", model, {"x": np.zeros(10**5)}) == "float64"
    # a model that does not declare itself safe in float32 (e.g. a user's) stays float64
    assert precision.resolve("auto", lambda x: None, {"x": np.zeros(10**5)}) == "float64"
