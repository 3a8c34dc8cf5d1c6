"""Hyperparameter laws: optimal learning rate / batch size vs compute, critical batch size.

Known truths: DeepSeek LLM (2024) ``lr_opt = 0.3118 C^-0.125`` and
``B_opt = 0.2920 C^0.3271``; Kaplan et al. (2020) ``B_crit = 2e8 L^(-1/0.21)``.
Input checks and the smallest NUTS fit run in the default suite; the other
NUTS fits (one compiled sampler per model, ~30-90 s on 2 busy cores) are
marked slow.
"""

import numpy as np
import pandas as pd
import pytest

import bayes_scaling as bs
from bayes_scaling.results.hyperparams import (
    DEEPSEEK_BATCH,
    DEEPSEEK_LR,
    fit_critical_batch_size,
    fit_hyperparameter_law,
    load,
    simulate_steps_to_target,
    simulate_sweeps,
)

SMALL = {"chains": 2, "draws": 500, "warmup": 500}
BUDGETS = np.geomspace(1e17, 1e20, 6)  # DeepSeek's sweeps span ~1e17 to ~2e19 FLOPs
GRIDS = {"lr": np.geomspace(2.5e-4, 1e-2, 9), "batch_size": np.geomspace(2e4, 5e6, 9)}
TRUTHS = {"lr": DEEPSEEK_LR, "batch_size": DEEPSEEK_BATCH}


# ------------------------------------------------------------- input checks
def test_simulated_sweeps_have_their_optimum_at_the_law():
    sweeps = simulate_sweeps(BUDGETS, np.geomspace(1e-4, 1e-2, 101), noise=0.0)
    for c, rows in sweeps.groupby("C"):
        best = rows["lr"].to_numpy()[np.argmin(rows["loss"].to_numpy())]
        assert abs(np.log(best / (0.3118 * c ** -0.125))) < 0.05


def test_bad_sweep_tables_raise():
    sweeps = simulate_sweeps(BUDGETS, GRIDS["lr"])
    with pytest.raises(ValueError, match="no column 'eta'"):
        fit_hyperparameter_law(sweeps, hyper="eta")
    bad = sweeps.copy()
    bad.loc[5, "loss"] = -1.0
    with pytest.raises(ValueError, match="row 5"):
        fit_hyperparameter_law(bad)
    with pytest.raises(ValueError, match="3 or more distinct"):
        fit_hyperparameter_law(sweeps[sweeps["C"] <= BUDGETS[1]])
    with pytest.raises(ValueError, match="fewer than 3 distinct"):
        fit_hyperparameter_law(sweeps[sweeps["lr"] <= GRIDS["lr"][1]])
    with pytest.raises(ValueError, match="unknown site"):
        fit_hyperparameter_law(sweeps, priors={"alpha": None})
    with pytest.raises(ValueError, match="'steps' column"):
        fit_critical_batch_size(pd.DataFrame({"loss": [3.0, 3.5, 4.0], "B": [1, 2, 3]}))
    assert sweeps.equals(simulate_sweeps(BUDGETS, GRIDS["lr"]))  # input never modified


# ------------------------------------------------------------ known truth
@pytest.fixture(scope="module")
def law_fits(seed):
    out = {}
    for hyper in ("lr", "batch_size"):
        sweeps = simulate_sweeps(BUDGETS, GRIDS[hyper], law=TRUTHS[hyper], hyper=hyper,
                                 noise=0.003, scatter=0.05, seed=1)
        out[hyper] = fit_hyperparameter_law(sweeps, hyper=hyper, by="C", seed=seed, warn=False,
                                            **SMALL)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("hyper", ["lr", "batch_size"])
def test_recovers_deepseek_law(law_fits, hyper):
    """6 budgets x 9 runs, 0.3% loss noise, 5% scatter of optima: a and b in their 90%
    intervals, b within 0.03 of the truth; the per-budget optima carry intervals."""
    fit, truth = law_fits[hyper], TRUTHS[hyper]
    summary = fit.summary()
    for name in ("a", "b"):
        row = summary.loc[name]
        assert row["lower"] <= truth[name] <= row["upper"], (name, truth[name], row.to_dict())
    assert abs(summary.loc["b", "median"] - truth["b"]) < 0.03
    assert (summary["r_hat"] < 1.05).all()
    optima = fit.optima()
    assert len(optima) == len(BUDGETS) and (optima["runs"] == 9).all()
    assert (optima["opt_lower"] < optima["opt"]).all() and (optima["opt"] < optima["opt_upper"]).all()


@pytest.mark.slow
@pytest.mark.parametrize("hyper", ["lr", "batch_size"])
def test_prediction_at_100x_the_largest_budget_contains_the_truth(law_fits, hyper):
    fit, truth = law_fits[hyper], TRUTHS[hyper]
    target = 100 * BUDGETS.max()
    row = fit.predict(C=target).iloc[0]
    true = truth["a"] * target ** truth["b"]
    assert row["lower"] <= true <= row["upper"], (true, row.to_dict())
    assert row["pred_lower"] <= row["lower"] and row["upper"] <= row["pred_upper"]
    assert np.allclose(fit.predict([target])["median"], row["median"])


@pytest.mark.slow
def test_hyperparameter_plots_and_round_trip(law_fits, tmp_path):
    fit = law_fits["lr"]
    same = load(fit.to_netcdf(tmp_path / "lr.nc"))
    pd.testing.assert_frame_equal(same.predict(C=[1e21, 1e22]), fit.predict(C=[1e21, 1e22]))
    pd.testing.assert_frame_equal(same.optima(), fit.optima())
    ax = fit.plot("law")
    assert ax.get_xscale() == "log" and len(ax.collections) >= 2
    assert len(fit.plot("sweeps").lines) == len(BUDGETS)
    with pytest.raises(ValueError, match="kind"):
        fit.plot("nope")


@pytest.mark.slow
def test_critical_batch_size_from_steps_to_target(seed):
    """Kaplan's B_crit(L) = 2e8 L^(-1/0.21): 6 targets x 8 batch sizes, 5% noise on steps.
    alpha_B and B* in their 90% intervals; per-target B_crit within 20% of the truth."""
    targets = np.linspace(3.0, 4.5, 6)
    table = simulate_steps_to_target(targets, np.geomspace(2 ** 15, 2 ** 24, 8), seed=2)
    fit = fit_critical_batch_size(table, seed=seed, warn=False, **SMALL)
    summary = fit.summary()
    for name, true in (("alpha_B", 0.21), ("B_star", 2e8)):
        row = summary.loc[name]
        assert row["lower"] <= true <= row["upper"], (name, true, row.to_dict())
    per = fit.per_target()
    truth = 2e8 * targets ** (-1 / 0.21)
    assert np.all(np.abs(np.log(per["B_crit"] / truth)) < np.log(1.2))
    # E_min = S_min B_crit per target, as the trade-off defines it.
    np.testing.assert_allclose(per["E_min"], per["S_min"] * per["B_crit"], rtol=0.05)
    band = fit.predict([3.5]).iloc[0]
    assert band["lower"] <= 2e8 * 3.5 ** (-1 / 0.21) <= band["upper"]
    assert fit.plot().get_yscale() == "log"


def test_critical_batch_size_from_measured_values(tmp_path, seed):
    """B_crit measured at 10 target losses with 10% scatter: alpha_B = 0.21 and B* = 2e8
    inside their 90% intervals. (The smallest model: this NUTS fit runs by default.)"""
    rng = np.random.default_rng(0)
    table = pd.DataFrame({"loss": np.linspace(3.0, 4.5, 10)})
    table["B_crit"] = 2e8 * table["loss"] ** (-1 / 0.21) * np.exp(0.1 * rng.standard_normal(10))
    fit = fit_critical_batch_size(table, seed=seed, warn=False, **SMALL)
    summary = fit.summary()
    assert summary.loc["alpha_B", "lower"] <= 0.21 <= summary.loc["alpha_B", "upper"]
    assert summary.loc["B_star", "lower"] <= 2e8 <= summary.loc["B_star", "upper"]
    with pytest.raises(ValueError, match="tradeoff"):
        fit.per_target()
    same = load(fit.to_netcdf(tmp_path / "bcrit.nc"))
    pd.testing.assert_frame_equal(same.predict([2.0, 3.0]), fit.predict([2.0, 3.0]))
    again = bs.load(tmp_path / "bcrit.nc")  # the one loader: the same type back
    assert type(again) is type(fit) and set(again.priors) == set(fit.priors)
    pd.testing.assert_frame_equal(again.summary(), fit.summary())
    pd.testing.assert_frame_equal(same.table, fit.table)
