"""Batched fits sharded over local devices (jax.sharding): placement, padding, equality, reuse.

The package asks for 4 XLA host devices at import (``bayes_scaling._jax_setup``),
so these tests exercise the same sharding code as several GPUs would.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import bayes_scaling as bs
from bayes_scaling import inference
from bayes_scaling.inference.buckets import pad_model_kwargs
from bayes_scaling.models.scaling import build_model
from bayes_scaling.models.setup import check_priors as _check_priors
from bayes_scaling.models.setup import prepare as _prepare

#: Short enough that the sharded and single-device programs stay bitwise equal:
#: XLA compiles the two differently, and NUTS amplifies last-bit rounding
#: differences into different (equally valid) trajectories after ~30 iterations.
SHORT = {"chains": 2, "draws": 10, "warmup": 10}

pytestmark = pytest.mark.skipif(jax.local_device_count() < 2,
                                reason="needs several local devices (XLA host devices)")


def _tables(seeds, runs_per_budget=6):
    design = bs.iso_flop_design(np.asarray((1e18, 1e19, 1e20)), runs_per_budget=runs_per_budget)
    return [bs.simulate("chinchilla", bs.EXAMPLE_TRUTH, N=design["N"], D=design["D"],
                        noise=0.007, seed=s) for s in seeds]


def _batched_inputs(tables, seed=0):
    """The model's arguments for each table, padded to its shape bucket and stacked along a
    leading axis, as fit_many does."""
    law = bs.get_law("chinchilla")
    priors = _check_priors(law, "normal", None)
    with jax.enable_x64(True):
        kwargs = [pad_model_kwargs(kw, runs.num_runs) for runs, _, kw in
                  (_prepare(t, law, "normal", priors, 6.0, None) for t in tables)]
        stacked = jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *kwargs)
        keys = jnp.stack([jax.random.fold_in(jax.random.PRNGKey(seed), i)
                          for i in range(len(tables))])
    return build_model(law, "normal"), stacked, keys


@pytest.fixture(scope="module")
def three_fits():
    """3 data sets x 2 chains = 6 (data set, chain) rows: not a multiple of 4 devices."""
    config = inference.SamplerConfig(**SHORT)
    with jax.enable_x64(True):
        model, stacked, keys = _batched_inputs(_tables([1, 2, 3]))
        sharded = inference.run_nuts_batched(model, stacked, config, keys)
        single = inference.run_nuts_batched(model, stacked, config, keys, shard=False)
    return sharded, single


def test_batched_fits_are_spread_over_all_local_devices(three_fits):
    sharded, single = three_fits
    assert jax.local_device_count() == 4  # the package's default host-device count
    assert sharded.chain_method == "mapped_sharded"
    assert sharded.devices == tuple(sorted(d.id for d in jax.local_devices()))
    assert single.chain_method == "mapped" and len(single.devices) == 1


def test_a_count_that_is_not_a_multiple_of_the_devices_is_padded_and_trimmed(three_fits):
    sharded, _ = three_fits
    assert sharded.samples["alpha"].shape == (3, SHORT["chains"], SHORT["draws"])
    assert sharded.stats["diverging"].shape == (3, SHORT["chains"], SHORT["draws"])
    assert np.all(np.isfinite(sharded.samples["alpha"]))


def test_sharded_draws_equal_the_single_device_draws(three_fits):
    # The same chain function on the same keys and data: sharding changes where it
    # runs, not what it computes, up to rounding: the two programs compile separately,
    # and the Newton steps to the Laplace mode stop at a tolerance, which turns
    # last-bit differences into ~1e-9 relative ones. (Longer runs agree in
    # distribution: test_batch.py compares fit_many, which shards, with single fits.)
    sharded, single = three_fits
    for name in ("alpha", "beta", "E", "A", "sigma"):
        np.testing.assert_allclose(sharded.samples[name], single.samples[name], rtol=1e-6)
    np.testing.assert_array_equal(sharded.stats["num_steps"], single.stats["num_steps"])


def test_fit_many_shards_reuses_the_compiled_sampler_and_keeps_per_fit_diagnostics(three_fits, seed):
    # 3 tables -> padded to 4 data sets x 2 chains = 8 rows: the shape the fixture
    # already compiled, so no batch here traces or compiles anything.
    traces, samplers = inference.trace_count(), inference.compiled_sampler_count()
    first = bs.fit_many(_tables([0, 1, 2]), seed=seed, **SHORT)
    second = bs.fit_many(_tables([10, 11, 12]), seed=seed + 1, **SHORT)
    assert inference.trace_count() == traces
    assert inference.compiled_sampler_count() == samplers
    for batch in (first, second):
        assert len(batch) == 3 and list(batch.diagnostics["num_runs"]) == [18] * 3
        assert batch.draws("alpha").shape == (3, SHORT["chains"] * SHORT["draws"])
        assert {"divergences", "max_rhat", "min_ess_bulk", "ok"} <= set(batch.diagnostics)
    # Fit i's draws depend on its key (fold_in(seed, i)) and data only, not on the
    # batch size, the padding or the device a fit lands on.
    alone = bs.fit_many(_tables([0]), seed=seed, **SHORT)
    np.testing.assert_allclose(alone.draws("alpha")[0], first.draws("alpha")[0], rtol=1e-9)
    assert not np.allclose(alone.draws("alpha")[0], first.draws("alpha")[1])
    assert inference.trace_count() == traces
    # (That the counters do move for a new shape is checked in test_batch.py.)
