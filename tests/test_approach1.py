"""Approach 1 (envelope of training curves): known truth, table layout, edge cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import bayes_scaling as bs
from bayes_scaling.baselines.approach1 import fit_approach1, training_envelope
from bayes_scaling.baselines.approach2 import fit_approach2
from bayes_scaling.data import RunsTableError
from bayes_scaling.data.datasets import load_gemstones, load_pythia, shared_data_available
from bayes_scaling.results.learning_curves import simulate_learning_curves

TRUTH = bs.EXAMPLE_TRUTH
A_TRUE = TRUTH["beta"] / (TRUTH["alpha"] + TRUTH["beta"])  # N_opt ~ C^a
SIZES = np.geomspace(1e7, 3e9, 30)


def _curves(seed: int, tau: float, noise: float) -> pd.DataFrame:
    # Each run is trained far past its compute-optimal horizon (D_opt ~ 20-30 N).
    return simulate_learning_curves("chinchilla", TRUTH, N=SIZES, D_final=SIZES * 400,
                                    num_checkpoints=60, first_fraction=0.005, tau=tau,
                                    noise=noise, seed=seed)


def test_noise_free_curves_recover_the_exponent_exactly():
    # Without noise the envelope's winner is the grid size nearest N_opt(C):
    # only the discreteness of the 30 sizes (ratio 1.22) is left.
    result = fit_approach1(_curves(0, 0.0, 0.0))
    assert result.params["a"] == pytest.approx(A_TRUE, abs=0.005)
    assert result.params["a"] + result.params["b"] == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_noisy_curves_recover_the_exponent_within_tolerance(seed):
    # Run effects and checkpoint noise of 0.1% of the loss (smoothed curves).
    # Stated tolerance: |a - a_true| < 0.04 (measured errors over seeds 0-4: <= 0.02).
    result = fit_approach1(_curves(seed, 0.001, 0.001), num_bootstrap=200, seed=seed)
    assert abs(result.params["a"] - A_TRUE) < 0.04
    assert abs(result.params["b"] - (1.0 - A_TRUE)) < 0.04
    row = result.summary().set_index("parameter").loc["a"]
    assert row["lower"] <= result.params["a"] <= row["upper"]
    assert result.num_failed_bootstrap == 0


def test_envelope_is_the_lowest_loss_of_any_run():
    curves = _curves(3, 0.01, 0.003)
    envelope = training_envelope(curves, num_points=50, drop_edges=False, min_runs=1)
    for _, point in envelope.iloc[::7].iterrows():
        for _, run in curves.groupby("run"):
            run = run.sort_values("C")
            if run["C"].min() <= point["C"] <= run["C"].max():
                loss = np.interp(np.log(point["C"]), np.log(run["C"]), run["loss"])
                assert point["loss"] <= loss + 1e-12
    assert np.allclose(envelope["D_opt"] * 6.0 * envelope["N_opt"], envelope["C"])


def test_tables_match_the_other_approaches(seed):
    result = fit_approach1(_curves(0, 0.001, 0.001), num_bootstrap=50, seed=seed)
    runs = bs.example_runs()
    approach2 = fit_approach2(runs, num_bootstrap=20, seed=0)
    assert list(result.summary().columns) == list(approach2.summary().columns)
    assert set(result.summary()["method"]) == {"approach1"}
    alloc1 = result.optimal_allocation(C=[1e22, 1e24])
    alloc2 = approach2.optimal_allocation(C=[1e22, 1e24])
    assert list(alloc1.columns) == list(alloc2.columns)
    assert (alloc1["N_opt_lower"] <= alloc1["N_opt"]).all()
    assert (alloc1["N_opt"] <= alloc1["N_opt_upper"]).all()


def test_bad_inputs_name_the_problem():
    curves = _curves(0, 0.0, 0.0)
    with pytest.raises(RunsTableError, match="'run'"):
        fit_approach1(curves.drop(columns="run"))
    mixed = curves.copy()
    mixed.loc[mixed.index[0], "N"] *= 2
    with pytest.raises(RunsTableError, match="run0"):
        fit_approach1(mixed)
    with pytest.raises(ValueError, match="num_points"):
        fit_approach1(curves, num_points=3)


needs_data = pytest.mark.skipif(not shared_data_available(), reason="../shared/data absent")


@pytest.mark.realdata
@needs_data
def test_runs_on_pythia_and_gemstones_checkpoints(seed):
    gem = fit_approach1(load_gemstones(which="hot"), num_bootstrap=100, seed=seed)
    assert 0.3 < gem.params["a"] < 0.8
    pythia = fit_approach1(load_pythia(deduped=False), num_bootstrap=100, seed=seed)
    assert np.isfinite(pythia.params["a"])
    assert len(pythia.summary()) >= 2
