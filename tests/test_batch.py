"""Batched fitting and compiled-sampler reuse."""

import itertools

import jax
import numpy as np
import pytest

import bayes_scaling as bs
from bayes_scaling import inference

SMALL = {"chains": 4, "draws": 300, "warmup": 300}
_NEW_SHAPES = itertools.count()  # array sizes no other test compiles


def _tables(seeds, budgets=(1e18, 1e19, 1e20), runs_per_budget=10):
    design = bs.iso_flop_design(np.asarray(budgets), runs_per_budget=runs_per_budget)
    return [bs.simulate("chinchilla", bs.EXAMPLE_TRUTH, N=design["N"], D=design["D"],
                        noise=0.007, seed=s) for s in seeds]


def test_new_data_of_a_seen_shape_does_not_recompile(seed):
    first, second = _tables([1, 2])
    bs.fit(first, seed=seed, warn=False, **SMALL)
    traces, samplers = inference.trace_count(), inference.compiled_sampler_count()
    compiles = []  # JAX's compile log: every XLA compilation reports its duration

    def listen(event, duration, **_):
        if event == "/jax/core/compile/backend_compile_duration":
            compiles.append(duration)

    jax.monitoring.register_event_duration_secs_listener(listen)
    try:
        bs.fit(second, seed=seed + 1, warn=False, **SMALL)
        seen = list(compiles)
        # The log can fail the check: a program never compiled before is reported. (That
        # a table in a new shape bucket traces and compiles a sampler is checked in
        # tests/test_buckets.py::test_a_new_size_inside_a_seen_bucket_compiles_nothing.)
        jax.jit(lambda x: x * 3.0 + seed)(np.ones(next(_NEW_SHAPES) + 11))
    finally:
        jax.monitoring.unregister_event_duration_listener(listen)
    assert seen == []  # nothing at all, not even log-likelihood or summaries
    assert len(compiles) == 1
    assert inference.trace_count() == traces
    assert inference.compiled_sampler_count() == samplers


def test_fit_many_matches_independent_fits_in_distribution(seed):
    # Four budgets: with three (30 runs) E has a thin, sticky lower tail (0.1% of the
    # posterior) that one chain in a few hundred fits enters for tens of draws,
    # giving R-hat ~1.02 and ESS ~270 in either precision; not what this test is about.
    tables = _tables(range(6), budgets=(1e18, 1e19, 1e20, 1e21))
    batch = bs.fit_many(tables, seed=seed + 3, chains=4, draws=600, warmup=400)
    diagnostics = batch.diagnostics
    assert len(batch) == 6
    # Measured over 384 such fits (4 x 96 tables): R-hat at most 1.011, ESS at least
    # 938, no divergences. Bounds with a wide margin: a sampler with a real problem
    # (a stuck chain, a wrong gradient) misses them by far.
    assert (diagnostics["max_rhat"] <= 1.02).all()
    assert (np.minimum(diagnostics["min_ess_bulk"], diagnostics["min_ess_tail"]) >= 400).all()
    assert diagnostics["divergences"].sum() <= 5
    summary = batch.summary(level=0.99)
    for name, true in bs.EXAMPLE_TRUTH.items():
        rows = summary.xs(name, level="parameter")
        assert ((rows["lower"] <= true) & (true <= rows["upper"])).mean() >= 5 / 6, name
    # A batch member is a full ScalingFit whose draws are those of the batch.
    member = batch[2]
    np.testing.assert_array_equal(member.draws("alpha"), batch.draws("alpha")[2])
    single = bs.fit(tables[2], seed=seed, **SMALL)
    # Same posterior (different random streams): medians agree within MC error.
    assert abs(member.summary().loc["alpha", "median"] - single.summary().loc["alpha", "median"]) \
        < 0.01


def test_fit_many_is_reproducible_and_handles_mixed_sizes(seed):
    tables = _tables([10, 11]) + _tables([12], runs_per_budget=8)
    a = bs.fit_many(tables, seed=seed + 5, **SMALL)
    b = bs.fit_many(tables, seed=seed + 5, **SMALL)
    np.testing.assert_array_equal(a.draws("beta")[0], b.draws("beta")[0])
    assert list(a.diagnostics["num_runs"]) == [30, 30, 24]


def test_fit_many_of_any_count_reuses_one_program(seed):
    # On CPU a call holds one table per device by default, so 2, 5 or 7 tables of one
    # size all run the same compiled program (the last call padded by < 1 per device).
    tables = _tables(range(30, 37), runs_per_budget=9)
    size = None if jax.default_backend() == "cpu" else jax.local_device_count()
    first = bs.fit_many(tables[:2], seed=seed, batch_size=size, **SMALL)
    samplers = inference.compiled_sampler_count()
    for count in (5, 7):
        batch = bs.fit_many(tables[:count], seed=seed, batch_size=size, **SMALL)
        assert len(batch) == count
    assert inference.compiled_sampler_count() == samplers
    # Draws of a table depend on its key and data only, not on how many came with it.
    np.testing.assert_array_equal(batch.draws("alpha")[1], first.draws("alpha")[1])


def test_fit_many_flags_bad_fits(seed):
    tables = _tables([20, 21])
    batch = bs.fit_many(tables, chains=2, draws=20, warmup=20, seed=seed)
    assert not batch.diagnostics["ok"].any()


def test_fit_many_validates_every_table():
    bad = _tables([1])[0]
    bad.loc[4, "loss"] = -1.0
    with pytest.raises(bs.RunsTableError, match="row 4"):
        bs.fit_many(_tables([0]) + [bad], **SMALL)
