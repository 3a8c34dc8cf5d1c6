"""Inference-aware allocation: brute force at known parameters, limits, intervals, infeasibility."""

import warnings

import jax.numpy as jnp
import numpy as np
import pytest

import bayes_scaling as bs
from bayes_scaling.design.inference_allocation import (
    InfeasibleTargetWarning,
    inference_aware_allocation,
    inference_aware_allocation_draws,
)
from bayes_scaling.laws import get_law
from bayes_scaling.laws.allocation import log_optimal_allocation

TRUTH = {"E": 1.8, "A": 480.0, "alpha": 0.35, "B": 2000.0, "beta": 0.37}
KAPLAN = {"N_c": 8.8e13, "alpha_N": 0.076, "D_c": 5.4e13, "alpha_D": 0.095}
TOKENS = [0.0, 1e11, 1e12, 1e13, 1e14]


def _brute_force(law, params, target, inference_tokens, k=6.0):
    """Cheapest lifetime FLOPs on a 1e6-point grid of log N, D(N) solved on a fine log-D grid."""
    log_n = np.linspace(np.log(1e6), np.log(1e14), 1_000_001)
    n = np.exp(log_n)
    if law.name == "chinchilla":
        rem = target - params["E"] - params["A"] * n ** -params["alpha"]
        ok = rem > 0
        d = np.where(ok, (params["B"] / np.where(ok, rem, 1.0)) ** (1 / params["beta"]), np.inf)
    else:  # Kaplan: L = ((N_c/N)^(aN/aD) + D_c/D)^aD  ->  D = D_c / (L^(1/aD) - (N_c/N)^(aN/aD))
        rem = target ** (1 / params["alpha_D"]) - (params["N_c"] / n) ** (
            params["alpha_N"] / params["alpha_D"])
        ok = rem > 0
        d = np.where(ok, params["D_c"] / np.where(ok, rem, 1.0), np.inf)
    cost = k * n * d + 2 * n * inference_tokens
    i = int(np.argmin(cost))
    return n[i], d[i], cost[i]


@pytest.mark.parametrize("law_name, params, target", [
    ("chinchilla", TRUTH, 2.2), ("chinchilla", TRUTH, 2.0), ("kaplan", KAPLAN, 2.5)])
def test_matches_brute_force_grid(law_name, params, target):
    """Per inference volume: N_opt within 0.1% and total FLOPs within 1e-6 of a 1e6-point search."""
    law = get_law(law_name)
    got = inference_aware_allocation_draws(law, params, target, TOKENS)
    for j, t in enumerate(TOKENS):
        n, d, cost = _brute_force(law, params, target, t)
        assert got["N"][0, j] == pytest.approx(n, rel=1e-3), (t, got["N"][0, j], n)
        assert got["D"][0, j] == pytest.approx(d, rel=2e-3)
        assert got["total_flops"][0, j] == pytest.approx(cost, rel=1e-6)
        assert got["total_flops"][0, j] <= cost * (1 + 1e-9)  # never worse than the grid


def test_numeric_path_equals_closed_form():
    """The root-finding path for any law gives the Chinchilla fast path's answer."""
    law = get_law("chinchilla")
    fast = inference_aware_allocation_draws(law, TRUTH, [2.0, 2.3], [0.0, 1e13])
    slow = inference_aware_allocation_draws(law, TRUTH, [2.0, 2.3], [0.0, 1e13], method="numeric")
    for key in ("N", "D", "total_flops", "chinchilla_N", "chinchilla_D"):
        np.testing.assert_allclose(slow[key], fast[key], rtol=1e-5)


def test_no_inference_is_chinchilla_optimal():
    """T = 0: the lifetime optimum is the compute-optimal allocation for that loss.

    Checked three ways: the saving is 0, the tokens per parameter match the closed form
    (D/N at g = beta/(alpha+beta)), and the library's compute-optimal allocation at the
    resulting budget gives the same N and reaches the target loss.
    """
    law = get_law("chinchilla")
    got = inference_aware_allocation_draws(law, TRUTH, 2.1, 0.0)
    assert abs(got["saving"][0, 0]) < 1e-9
    assert got["N"][0, 0] == pytest.approx(got["chinchilla_N"][0, 0], rel=1e-6)
    budget = got["training_flops"][0, 0]
    p = {k: jnp.asarray([v]) for k, v in TRUTH.items()}
    log_n, log_d, _ = log_optimal_allocation(law, p, jnp.log(jnp.asarray([budget])), np.log(6.0))
    assert float(np.exp(log_n[0, 0])) == pytest.approx(got["N"][0, 0], rel=1e-5)
    n, d = got["N"][0, 0], got["D"][0, 0]
    loss = TRUTH["E"] + TRUTH["A"] * n ** -TRUTH["alpha"] + TRUTH["B"] * d ** -TRUTH["beta"]
    assert loss == pytest.approx(2.1, rel=1e-9)


def test_more_inference_means_smaller_models_trained_longer():
    law = get_law("chinchilla")
    got = inference_aware_allocation_draws(law, TRUTH, 2.2, TOKENS)
    assert np.all(np.diff(got["N"][0]) < 0)
    assert np.all(np.diff(got["D"][0]) > 0)
    assert np.all(np.diff(got["saving"][0]) > 0) and got["saving"][0, -1] > 0.5
    # every allocation reaches the target exactly
    n, d = got["N"][0], got["D"][0]
    loss = TRUTH["E"] + TRUTH["A"] * n ** -TRUTH["alpha"] + TRUTH["B"] * d ** -TRUTH["beta"]
    np.testing.assert_allclose(loss, 2.2, rtol=1e-9)


def test_target_below_floor_is_infeasible():
    law = get_law("chinchilla")
    draws = {k: np.full(4, v) for k, v in TRUTH.items()}
    draws["E"] = np.array([1.7, 1.75, 1.85, 1.9])
    got = inference_aware_allocation_draws(law, draws, 1.8, 1e12)
    assert got["feasible"][:, 0].tolist() == [True, True, False, False]
    assert np.isnan(got["N"][2:, 0]).all() and np.isfinite(got["N"][:2, 0]).all()


def test_bad_input_raises():
    law = get_law("chinchilla")
    with pytest.raises(ValueError, match="inference_tokens"):
        inference_aware_allocation_draws(law, TRUTH, 2.0, -1.0)
    with pytest.raises(ValueError, match="target_loss"):
        inference_aware_allocation_draws(law, TRUTH, 0.0, 1.0)
    with pytest.raises(ValueError, match="law of N and D"):
        inference_aware_allocation_draws(get_law("power_law_C"), {"E": 1, "A": 1, "alpha": 1},
                                         2.0, 1.0)


# ------------------------------------------------------------------ on a posterior
@pytest.fixture(scope="module")
def fitted(seed):
    design = bs.iso_flop_design(np.geomspace(1e18, 1e21, 6), runs_per_budget=10,
                                tokens_per_param=(2.0, 400.0))
    runs = bs.simulate("chinchilla", TRUTH, N=design["N"], D=design["D"], noise=0.01, seed=1)
    return bs.fit(runs, chains=2, draws=400, warmup=400, seed=seed)


def test_posterior_intervals_cover_the_truth(fitted):
    """Known truth: the true lifetime-optimal N, D and FLOPs lie in the 99% intervals

    (one data set: a 90% interval misses one time in ten by design, as in test_fit)."""
    law = get_law("chinchilla")
    true = inference_aware_allocation_draws(law, TRUTH, 2.1, [0.0, 1e13])
    with warnings.catch_warnings():
        warnings.simplefilter("error", InfeasibleTargetWarning)
        table = inference_aware_allocation(fitted, 2.1, [0.0, 1e13], level=0.99)
    for j in range(2):
        for name in ("N", "D", "tokens_per_param", "total_flops"):
            row = table.iloc[j]
            assert row[f"{name}_lower"] <= true[name][0, j] <= row[f"{name}_upper"], (name, j)
            assert row[f"{name}_lower"] < row[name] < row[f"{name}_upper"]
    assert (table["p_infeasible"] == 0).all()
    assert table["saving"].iloc[0] == pytest.approx(0.0, abs=1e-9)
    assert table["saving_lower"].iloc[1] > 0
    # the posterior of the lifetime-optimal model is smaller than the Chinchilla-optimal one
    assert table["N"].iloc[1] < table["chinchilla_N"].iloc[1]


def test_unreachable_target_warns_with_probability(fitted):
    e = fitted.draws("E")
    target = float(np.quantile(e, 0.5))  # half the draws have E above it
    with pytest.warns(InfeasibleTargetWarning, match="irreducible"):
        table = inference_aware_allocation(fitted, target, 1e12)
    assert table["p_infeasible"].iloc[0] == pytest.approx(np.mean(e >= target), abs=1e-9)
