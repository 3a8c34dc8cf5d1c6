"""Known-truth tests of the allocation discrepancy (ln N_opt beyond the data) and its prior."""

import numpy as np
import pandas as pd
import pytest

import bayes_scaling as bs
from bayes_scaling.extrapolation import allocation_field
from bayes_scaling.extrapolation.field import split_sweep
from bayes_scaling.models import allocation_discrepancy as ad

TRUTH = bs.EXAMPLE_TRUTH


def _law_n_opt(compute, truth=TRUTH, k=6.0):
    """Closed-form Chinchilla optimum of the true law."""
    a, b = truth["alpha"], truth["beta"]
    g = (a * truth["A"] / (b * truth["B"])) ** (1 / (a + b))
    return g * (np.asarray(compute) / k) ** (b / (a + b))


def _known(num=20, m=0.0, s_nu=0.2, sigma=0.05, tau=0.1, g=0.0):
    """A field prior with known hyperparameters (one value repeated)."""
    return ad.AllocationFieldPrior(m=np.full(num, m), s_nu=np.full(num, s_nu),
                                   sigma=np.full(num, sigma), tau=np.full(num, tau),
                                   g=np.full(num, g))


def test_shipped_allocation_prior_has_provenance():
    prior = ad.load_allocation_prior()
    info = prior.provenance
    assert {"marin comma", "porian rw"} <= set(info["sweeps"]) and "65%" in info["protocol"]
    assert info["created"] and "--write-allocation-prior" in info["script"]
    draws = prior.sample(1000, seed=0)
    assert np.all(np.isfinite(draws["nu"])) and np.all(draws["sigma"] > 0)


def test_discrepancy_is_zero_inside_and_moves_along_the_iso_flop_line():
    """Properties of every draw: nothing moves inside the data; beyond it N D, loss_opt
    and D/N = tokens_per_param hold exactly."""
    rng = np.random.default_rng(0)
    n = np.exp(rng.normal(20, 0.1, (300, 3)))
    compute = np.array([1e20, 1e21, 1e22])
    draws = {"N_opt": n, "D_opt": compute / (6 * n), "tokens_per_param": compute / (6 * n * n),
             "loss_opt": np.full((300, 3), 2.0)}
    disc = ad.AllocationDiscrepancy.from_field(_known(g=0.3), num=100, seed=1)
    delta = disc.draws(np.array([0.0, 0.5, 2.0]), 300, seed=2)
    assert np.all(delta[:, 0] == 0) and np.std(delta[:, 2]) > np.std(delta[:, 1]) > 0
    out = ad.shift_allocation(draws, delta)
    np.testing.assert_allclose(out["N_opt"] * out["D_opt"] * 6, compute[None, :] + 0 * n)
    np.testing.assert_allclose(out["tokens_per_param"], out["D_opt"] / out["N_opt"])
    np.testing.assert_array_equal(out["loss_opt"], draws["loss_opt"])
    np.testing.assert_array_equal(out["N_opt"][:, 0], n[:, 0])


def test_drift_is_held_beyond_the_reach_of_the_field():
    """Property of every draw (sigma = tau = 0): the shift is nu + g min(d, reach)."""
    prior = ad.AllocationFieldPrior(m=np.full(5, 0.1), s_nu=np.zeros(5), sigma=np.zeros(5),
                                    tau=np.zeros(5), g=np.full(5, 0.2), reach=1.2)
    delta = ad.AllocationDiscrepancy.from_field(prior, num=50, seed=0).draws(
        np.array([0.0, 0.6, 1.2, 5.0]), 40, seed=1)
    np.testing.assert_allclose(delta, np.broadcast_to([0.0, 0.22, 0.34, 0.34], (40, 4)))
    again = ad.AllocationFieldPrior.from_json(prior.to_json())
    assert again.reach == 1.2 and np.all(again.g == 0.2)


def test_isoflop_vertices_recover_the_optimum_of_a_correct_law():
    """Noise-free runs of the true law: the parabola vertex sits within 1% of N_opt
    (measured 0.1-0.5% for 3-300 tokens per parameter); budgets with < 5 runs are dropped;
    without a budget column the runs are clustered by C."""
    design = bs.iso_flop_design(np.array([1e17, 1e18, 1e19]), runs_per_budget=8,
                                tokens_per_param=(3, 300))
    runs = bs.simulate("chinchilla", TRUTH, N=design["N"], D=design["D"], noise=0.0, seed=0)
    few = runs.iloc[:20]  # third budget: 4 runs only
    vertices = ad.isoflop_vertices(few)
    assert len(vertices) == 2 and list(vertices["runs"]) == [8, 8]
    np.testing.assert_allclose(vertices["N_vertex"], _law_n_opt(vertices["C"]), rtol=0.01)
    with_budget = ad.isoflop_vertices(runs.assign(budget=design["budget"]))
    np.testing.assert_allclose(with_budget["N_vertex"], _law_n_opt(with_budget["C"]), rtol=0.01)


def test_update_with_vertices_is_the_conjugate_posterior():
    """Hyperparameters fixed: the offset's posterior is normal with a known mean and SD;
    4000 resampled draws match them within 5 Monte-Carlo standard errors."""
    r = np.array([0.25, 0.31, 0.28, 0.35])
    sd = np.array([0.03, 0.02, 0.04, 0.03])
    prior = _known(m=0.0, s_nu=0.2, sigma=0.05)
    disc = ad.update_with_vertices(prior, pd.DataFrame({"r": r, "sd": sd, "d": 0.0}),
                                   num=4000, seed=3)
    var = sd ** 2 + 0.05 ** 2
    precision = 1 / 0.2 ** 2 + np.sum(1 / var)
    mean, post_sd = np.sum(r / var) / precision, precision ** -0.5
    assert abs(disc.nu.mean() - mean) < 5 * post_sd / np.sqrt(4000)
    assert abs(disc.nu.std() / post_sd - 1) < 0.1
    assert disc.source == "field prior + own iso-FLOP minima" and disc.note == ""


def test_update_recovers_a_known_offset_from_a_wide_prior():
    """12 in-range residuals with offset 0.3 (SD 0.058 each): the update moves the offset
    from a field prior centred at 0 to 0.3 (posterior SD ~0.017, tolerance 0.085)."""
    rng = np.random.default_rng(4)
    sd = np.full(12, 0.03)
    r = 0.3 + np.sqrt(sd ** 2 + 0.05 ** 2) * rng.standard_normal(12)
    wide = ad.AllocationFieldPrior(m=rng.normal(0.0, 0.3, 2000), s_nu=np.full(2000, 0.2),
                                   sigma=np.full(2000, 0.05), tau=np.full(2000, 0.05))
    disc = ad.update_with_vertices(wide, pd.DataFrame({"r": r, "sd": sd, "d": 0.0}), seed=5)
    assert abs(np.median(disc.nu) - 0.3) < 0.085
    assert disc.ess > 100


def test_optimal_allocation_adds_the_discrepancy_beyond_the_runs_only(example_fit):
    inside, beyond = 1e20, 1e24  # the example's runs span 6e18-3e21 FLOPs
    table = example_fit.optimal_allocation(C=[inside, beyond])
    plain = example_fit.optimal_allocation(C=[inside, beyond], extrapolation="none")
    assert list(table["band"]) == ["plain posterior",
                                   "posterior + field prior + own iso-FLOP minima discrepancy"]
    assert (plain["band"] == "plain posterior").all()
    assert table["decades_beyond"].iloc[0] == 0 and table["decades_beyond"].iloc[1] > 2.5
    pd.testing.assert_series_equal(table.iloc[0][["N_opt", "N_opt_lower", "N_opt_upper"]],
                                   plain.iloc[0][["N_opt", "N_opt_lower", "N_opt_upper"]])
    width = table["N_opt_upper"] / table["N_opt_lower"]
    assert width.iloc[1] > (plain["N_opt_upper"] / plain["N_opt_lower"]).iloc[1]
    np.testing.assert_allclose(table["loss_opt"], plain["loss_opt"])
    alone = example_fit.optimal_allocation(C=beyond, extrapolation="field prior")
    assert alone["band"].iloc[0] == "posterior + field prior discrepancy"
    with pytest.raises(ValueError, match="extrapolation must be"):
        example_fit.optimal_allocation(C=beyond, extrapolation="bogus")


def _simulated_sweep(seed):
    design = bs.iso_flop_design(np.geomspace(1e17, 1e20, 7), runs_per_budget=8, tokens_per_param=(3, 300))
    runs = bs.simulate("chinchilla", TRUTH, N=design["N"], D=design["D"], noise=0.006,
                       seed=seed)
    return runs.assign(budget=design["budget"].to_numpy())


@pytest.mark.slow
def test_meta_analysis_recovers_known_hyperparameters(seed):
    """Residual tables simulated from the hierarchical model (10 sweeps x 4 in-range + 3
    held-out vertices; m = 0.15, s_nu = 0.05, sigma = 0.05, g = 0.2, tau = 0.02): the
    posterior means of m and g lie within 4 posterior SDs of the truth."""
    rng = np.random.default_rng(seed)
    tables = {}
    for s in range(10):
        nu = 0.15 + 0.05 * rng.standard_normal()
        d = np.array([0, 0, 0, 0, 0.3, 0.6, 0.9])
        sd = np.full(7, 0.03)
        scale = np.sqrt(sd ** 2 + 0.05 ** 2 + (0.02 * d) ** 2)
        tables[f"s{s}"] = pd.DataFrame({"r": nu + 0.2 * d + scale * rng.standard_normal(7),
                                        "sd": sd, "d": d})
    prior = allocation_field.fit_allocation_prior(tables, seed=seed, chains=2, draws=500,
                                                  warmup=500)
    for name, truth in (("m", 0.15), ("g", 0.2)):
        draws = getattr(prior, name)
        assert abs(draws.mean() - truth) < 4 * draws.std(), (name, draws.mean(), draws.std())


@pytest.mark.slow
def test_correct_law_offset_is_zero_and_the_interval_covers(seed):
    """Four simulated iso-FLOP sweeps from the fitted law's own form (Chinchilla, noise
    0.006), each fitted on its lower 65%: the meta-analysis' offset mean m and drift g are
    within 4 posterior SDs (+0.02) of 0, and the field prior + own update covers at least
    6 of the 12 held-out vertices (at the nominal 90%, 5 or fewer has binomial probability
    1e-5)."""
    residuals, held = {}, []
    for s in range(4):
        runs = _simulated_sweep(100 * seed + s)
        train, test, _ = split_sweep(runs)
        fitted = bs.fit(train[["N", "D", "C", "loss"]], seed=seed + s, warn=False, chains=2,
                        draws=400, warmup=400)
        residuals[f"s{s}"] = allocation_field.sweep_vertex_residuals(fitted, train, test)
        held.append((fitted, residuals[f"s{s}"]))
    prior = allocation_field.fit_allocation_prior(residuals, seed=seed, chains=2, draws=500,
                                                  warmup=500)
    for name in ("m", "g"):
        draws = getattr(prior, name)
        assert abs(draws.mean()) < 4 * draws.std() + 0.02, (name, draws.mean(), draws.std())
    covered = total = 0
    for fitted, res in held:
        own, out = res[~res["held_out"]], res[res["held_out"]]
        disc = ad.update_with_vertices(prior, own, seed=seed)
        table = fitted.optimal_allocation(C=out["C"].to_numpy(), extrapolation=disc)
        v = out["N_vertex"].to_numpy()
        covered += int(np.sum((v >= table["N_opt_lower"]) & (v <= table["N_opt_upper"])))
        total += len(out)
    assert total == 12 and covered >= 6, (covered, total)
