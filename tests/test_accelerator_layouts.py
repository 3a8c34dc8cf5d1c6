"""The layouts a single GPU runs, exercised on CPU: vectorised chains (``fit``) and one
vmapped program over data sets (``fit_many``), unsharded and sharded.

On an accelerator the library vectorises (every lane of one program in lock step);
on CPU it maps lanes one after another (``inference.nuts.on_accelerator``). CPU test
runs would otherwise never reach the accelerator layouts. Each lane computes the same
chain function on the same key and data, so short runs agree with the CPU layout up
to rounding (longer runs diverge: NUTS amplifies last-bit differences after ~30
iterations, as in ``test_sharding.py``).
"""

import jax
import numpy as np
import pytest
from test_sharding import _batched_inputs, _tables

import bayes_scaling as bs
from bayes_scaling import inference
from bayes_scaling.inference import nuts

SHORT = {"chains": 2, "draws": 10, "warmup": 10}
NAMES = ("alpha", "beta", "E", "A", "sigma")


@pytest.fixture
def accelerator(monkeypatch):
    """Layouts chosen as on a GPU (the computation itself stays on CPU)."""
    monkeypatch.setattr(nuts, "on_accelerator", lambda: True)


def test_vectorised_chains_equal_sequential_chains(seed):
    """``fit`` on one GPU runs its chains vectorised: the same draws as one by one."""
    table = _tables([seed])[0]
    vectorised = bs.fit(table, seed=seed, warn=False,
                        sampler=inference.SamplerConfig(chain_method="vectorized", **SHORT))
    sequential = bs.fit(table, seed=seed, warn=False,
                        sampler=inference.SamplerConfig(chain_method="sequential", **SHORT))
    for name in NAMES:
        np.testing.assert_allclose(vectorised.draws(name), sequential.draws(name), rtol=1e-6)


@pytest.mark.slow  # default-suite budget (two compiled batch programs, ~16 s)
def test_fit_many_vmapped_over_data_sets_equals_the_cpu_layout(accelerator, seed):
    """``fit_many``'s layout on one GPU (one vmapped program over data sets) gives the
    draws of the CPU layout (data set x chain lanes mapped one after another). Several
    GPUs shard the same program: the next test (-m slow) runs it over the 4 host devices."""
    config = inference.SamplerConfig(**SHORT)
    with jax.enable_x64(True):
        model, stacked, keys = _batched_inputs(_tables([1, 2, 3]), seed=seed)
        vmapped = inference.run_nuts_batched(model, stacked, config, keys, shard=False)
        with pytest.MonkeyPatch.context() as cpu:
            cpu.setattr(nuts, "on_accelerator", lambda: False)
            mapped = inference.run_nuts_batched(model, stacked, config, keys, shard=False)
    assert vmapped.chain_method == "batched"
    assert mapped.chain_method == "mapped"
    for name in NAMES:
        assert vmapped.samples[name].shape == (3, SHORT["chains"], SHORT["draws"])
        np.testing.assert_allclose(vmapped.samples[name], mapped.samples[name], rtol=1e-6)


@pytest.mark.slow  # default-suite budget (compiles a sharded vmapped program, ~13 s)
def test_fit_many_on_an_accelerator_batches_64_tables_per_call(accelerator, seed):
    """The accelerator default batch (64 tables per compiled call) on 3 tables: one call,
    sharded over the local devices as over several GPUs (padded and trimmed), each fit
    with its own draws."""
    batch = bs.fit_many(_tables([4, 5, 6]), seed=seed, progress=False, **SHORT)
    assert len(batch) == 3
    assert batch.draws("alpha").shape == (3, SHORT["chains"] * SHORT["draws"])
    assert np.all(np.isfinite(batch.draws("alpha")))
