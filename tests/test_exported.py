"""Chain programs stored across processes (inference.exported)."""

import jax
import numpy as np
import numpyro.distributions as dist
import pandas as pd
import pytest

import bayes_scaling as bs
from bayes_scaling import inference
from bayes_scaling.inference import exported, nuts

SMALL = {"chains": 4, "draws": 150, "warmup": 150, "warn": False}


@pytest.fixture
def store(tmp_path, monkeypatch):
    """Stored programs go to a fresh folder; compiled samplers start empty (a new process)."""
    if jax.local_device_count() < SMALL["chains"]:
        pytest.skip("needs one device per chain (the parallel layout)")
    monkeypatch.setattr(exported, "artifact_path",
                        lambda key: tmp_path / f"{abs(hash(key))}.jaxexport")
    monkeypatch.setattr(nuts, "SAMPLERS", {})
    return tmp_path


def _table(seed):
    return bs.simulate("chinchilla", bs.EXAMPLE_TRUTH, N=np.geomspace(4e7, 2e9, 24),
                       D=np.geomspace(2e9, 6e10, 24)[::-1] * np.tile([1.0, 0.5, 2.0], 8),
                       noise=0.01, seed=seed)


def test_a_stored_program_runs_without_tracing_and_gives_the_same_draws(store, monkeypatch,
                                                                         seed):
    runs = _table(seed)
    first = bs.fit(runs, seed=seed, **SMALL)
    assert len(list(store.glob("*.jaxexport"))) == 1
    monkeypatch.setattr(nuts, "SAMPLERS", {})  # as in a new process: nothing in memory
    traces = inference.trace_count()
    second = bs.fit(runs, seed=seed, **SMALL)
    assert inference.trace_count() == traces  # loaded, not traced
    for name in ("E", "alpha", "beta", "sigma"):
        np.testing.assert_array_equal(first.draws(name), second.draws(name))
    assert second.posterior["posterior"].sizes["chain"] == SMALL["chains"]


def test_a_program_whose_arguments_cannot_be_stored_runs_unstored(store, seed):
    """User priors are distribution objects among the arguments: nothing is written, and
    the fit is the same program, traced in this process."""
    runs = _table(seed)
    traces = inference.trace_count()
    fit = bs.fit(runs, seed=seed, priors={"alpha": dist.LogNormal(np.log(0.34), 0.1)}, **SMALL)
    assert inference.trace_count() == traces + 1
    assert list(store.glob("*.jaxexport")) == []
    assert 0.2 < float(np.median(fit.draws("alpha"))) < 0.5


def test_a_damaged_store_file_is_removed_not_trusted(tmp_path):
    path = tmp_path / "damaged.jaxexport"
    path.write_bytes(b"not a serialized program")
    assert exported._load(path) is None
    assert not path.exists()
    assert exported._load(tmp_path / "missing.jaxexport") is None


def test_store_path_follows_the_compilation_cache_and_every_part_of_the_key(monkeypatch,
                                                                           tmp_path):
    monkeypatch.setattr(exported, "_cache_folder", lambda: None)
    assert exported.artifact_path(("a",)) is None
    monkeypatch.setattr(exported, "_cache_folder", lambda: str(tmp_path))
    one, other = exported.artifact_path(("model", 1)), exported.artifact_path(("model", 2))
    assert one.parent == tmp_path / exported.EXPORT_FOLDER and one != other
    assert exported.artifact_path(("model", 1)) == one


def test_a_stored_program_that_does_not_fit_the_arguments_is_not_used(tmp_path, monkeypatch,
                                                                       seed):
    """Every key maps to one file here, so the second table (another shape bucket) finds
    the first table's program: its call refuses the arguments and the fit runs its own."""
    if jax.local_device_count() < SMALL["chains"]:
        pytest.skip("needs one device per chain (the parallel layout)")
    monkeypatch.setattr(exported, "artifact_path", lambda key: tmp_path / "one.jaxexport")
    monkeypatch.setattr(nuts, "SAMPLERS", {})
    bs.fit(_table(seed), seed=seed, **SMALL)  # 24 runs: the 64-run bucket
    bigger = pd.concat([_table(seed + 1)] * 4, ignore_index=True)  # 96 runs: the 96 bucket
    fit = bs.fit(bigger, seed=seed, **SMALL)
    assert fit.runs.num_runs == 96
    assert 0.2 < float(np.median(fit.draws("alpha"))) < 0.5
