"""Simulation-based calibration (SBC) and interval coverage.

The default suite runs a reduced SBC (a few dozen simulated data sets, loose
binomial bounds) and a negative control that must fail; the full check (200
simulations per law, ``benchmarks/calibration.py`` settings) is marked slow.
"""

import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import pandas as pd
import pytest
from scipy import stats

import bayes_scaling as bs
from bayes_scaling import calibration as cal

#: Reduced settings: 4 chains x (300 + 200), ranks among 49 thinned draws.
REDUCED = {"chains": 4, "draws": 200, "warmup": 300, "num_ranks": 49}
SIGMA = 0.01
PARAMS = ["E", "A", "alpha", "B", "beta"]


@pytest.fixture(scope="module")
def reduced(seed):
    """A calibrated run and a deliberately wrong one, sharing one compiled sampler.

    Both give sigma an explicit LogNormal prior (the same prior structure, hence
    the same compiled program): the calibrated run around 0.01 (a realistic
    spread of noise levels), the negative control fixes sigma near 0.01 to
    simulate and near 0.002 — 5x too small — to fit.
    """
    ok = cal.run_sbc("chinchilla", 32, priors={"sigma": dist.LogNormal(jnp.log(SIGMA), 0.3)},
                     seed=seed + 1, **REDUCED)
    wrong = cal.run_sbc("chinchilla", 16,
                        priors={"sigma": dist.LogNormal(jnp.log(SIGMA), 0.01)},
                        fit_priors={"sigma": dist.LogNormal(jnp.log(SIGMA / 5), 0.01)},
                        seed=seed + 2, **REDUCED)
    return ok, wrong


@pytest.mark.slow  # default-suite budget: the statistical claim runs with -m slow
def test_reduced_sbc_ranks_are_uniform(reduced):
    ok, _ = reduced
    assert ok.num_simulations == 32 and ok.ranks.to_numpy().max() <= 49
    assert set(ok.quantities) == set(PARAMS) | {"sigma", "N_opt@100x", "loss_opt@100x", "loss@100x",
                                                "new_run@100x"}
    table = ok.uniformity(num_bins=5)
    # 9 quantities: p > 1e-5 each keeps the family-wise false alarm of a calibrated
    # sampler below 1e-4 (every seed of BAYES_SCALING_TEST_SEED draws new data sets).
    assert (table["p_value"] > 1e-5).all(), table
    assert table["mean_rank"].between(0.3, 0.7).all(), table


@pytest.mark.slow  # default-suite budget: the reduced SBC runs with -m slow
def test_reduced_sbc_coverage_is_nominal(reduced):
    ok, _ = reduced
    cov = ok.coverage()
    at90 = cov[cov["level"] == 0.9].set_index("quantity")
    # Binomial(32, 0.9): P(X <= 19) = 5.5e-6, below 1e-4 over the 9 quantities.
    assert (at90["hits"] >= 20).all(), at90
    pooled50 = cov[(cov["level"] == 0.5) & cov["quantity"].isin(PARAMS)]["coverage"].mean()
    assert 0.35 <= pooled50 <= 0.65, cov
    # Every Clopper-Pearson interval is proper and brackets the estimate.
    assert ((cov["lower"] <= cov["coverage"]) & (cov["coverage"] <= cov["upper"])).all()


@pytest.mark.slow  # default-suite budget: the reduced SBC runs with -m slow
def test_negative_control_fails_the_check(reduced):
    """Noise forced 5x too small: intervals far too narrow, ranks pile at the edges."""
    _, wrong = reduced
    cov = wrong.coverage()
    pooled90 = cov[(cov["level"] == 0.9) & cov["quantity"].isin(PARAMS)]["coverage"].mean()
    assert pooled90 < 0.6, cov
    table = wrong.uniformity(num_bins=5)
    assert table.loc[PARAMS, "edge_share"].mean() > 0.6  # 0.4 expected under uniformity
    # 16 simulations are too few for every parameter's own test to reject (per-parameter
    # p ranged 0.003-0.33 over sampler seeds); the ranks of all five parameters pooled
    # (80 ranks, 5 bins) reject uniformity by orders of magnitude on every seed.
    ranks = wrong.ranks[PARAMS].to_numpy().ravel() / wrong.num_ranks
    counts = np.histogram(ranks, bins=5, range=(0.0, 1.0 + 1e-9))[0]
    assert stats.chisquare(counts).pvalue < 1e-4, counts
    assert (wrong.ranks["sigma"] == wrong.num_ranks).all()  # true sigma above every draw


@pytest.mark.slow  # default-suite budget: the reduced SBC runs with -m slow
def test_report_and_plot(reduced):
    ok, wrong = reduced
    text = ok.report()
    assert "32 simulations" in text and "prior draws rejected" in text and "90%" in text
    assert "LogNormal(loc=" in wrong.report()
    fig = ok.plot()
    assert sum(ax.get_visible() for ax in fig.axes) == len(ok.quantities)
    table = ok.coverage_table()
    assert list(table.columns) == ["50%", "80%", "90%", "95%"]


def test_binomial_interval_is_clopper_pearson():
    lower, upper = cal.binomial_interval(0, 10)
    assert lower == 0 and upper == pytest.approx(1 - 0.025 ** (1 / 10))
    lower, upper = cal.binomial_interval(10, 10)
    assert upper == 1 and lower == pytest.approx(0.025 ** (1 / 10))
    lower, upper = cal.binomial_interval(18, 20, confidence=0.9)
    ref = stats.binomtest(18, 20).proportion_ci(confidence_level=0.9, method="exact")
    assert (lower, upper) == pytest.approx((ref.low, ref.high))


def _synthetic(ranks, num_ranks=99, rng=None):
    """An SBCResult from given ranks; the share below the truth is spread within each rank."""
    rng = np.random.default_rng(1) if rng is None else rng
    ranks = pd.DataFrame({"x": ranks})
    below = (ranks + rng.random(ranks.shape)) / (num_ranks + 1)
    return cal.SBCResult(law=bs.get_law("power_law_C"), likelihood="normal",
                         truths=ranks * 0.0, ranks=ranks, below=below, num_ranks=num_ranks,
                         diagnostics=pd.DataFrame({"divergences": [0], "max_rhat": [1.0],
                                                   "min_ess_bulk": [400.0],
                                                   "min_ess_tail": [400.0]}),
                         num_rejected=0)


def test_uniformity_and_coverage_on_synthetic_ranks():
    rng = np.random.default_rng(0)
    uniform = _synthetic(rng.integers(0, 100, size=1000))
    assert uniform.uniformity().loc["x", "p_value"] > 0.01
    cov = uniform.coverage().set_index("level")
    assert all(cov.loc[level, "lower"] <= level <= cov.loc[level, "upper"]
               for level in cal.DEFAULT_LEVELS)
    # Overconfident: truths in the outer tails far too often.
    piled = _synthetic(np.where(rng.random(1000) < 0.5, rng.integers(0, 5, 1000),
                                rng.integers(95, 100, 1000)))
    table = piled.uniformity()
    assert table.loc["x", "p_value"] < 1e-10 and table.loc["x", "edge_share"] > 0.9
    assert piled.coverage().set_index("level").loc[0.9, "coverage"] < 0.2
    # Unequal bins (L + 1 not a multiple of the bin count) keep the right expectation.
    odd = _synthetic(rng.integers(0, 50, size=2000), num_ranks=49)
    assert odd.uniformity(num_bins=7).loc["x", "p_value"] > 0.01


def test_prior_tables_are_rejected_by_data_only_and_counted():
    law = bs.get_law("power_law_C")
    design = cal.sbc_design(law)
    assert list(design.columns) == ["C", "loss"] and len(design) == 20
    tables, truths, rejected = cal.draw_prior_tables(law, 10, design=design, max_loss=4.0,
                                                     seed=0)
    assert len(tables) == 10 and rejected > 0
    assert all(t["loss"].max() <= 4.0 for t in tables)
    assert all(np.array_equal(t["C"], design["C"]) for t in tables)
    assert list(truths.columns) == ["E", "A", "alpha", "sigma"]
    # E's prior is fixed by the design (uniform below its smallest reference loss).
    assert (truths["E"] < design["loss"].min()).all()


def test_sbc_priors_are_explicit_and_proper():
    priors = cal.sbc_priors("chinchilla")
    assert set(priors) == {"E", "alpha", "beta", "log_A_c", "log_B_c", "sigma"}
    with pytest.raises(ValueError, match="log_A_c"):
        cal.sbc_priors("chinchilla", priors={"A": dist.LogNormal(6.0, 1.0)})


@pytest.mark.slow
@pytest.mark.parametrize("law", ["chinchilla", "power_law_C"])
def test_full_sbc_with_default_priors(law, seed):
    """200 simulations with the benchmark's settings (see benchmarks/CALIBRATION.md)."""
    result = cal.run_sbc(law, 200, seed=seed)
    table = result.uniformity()
    # ~9 quantities x 2 laws: p > 1e-4 each keeps the family-wise false alarm near 0.2%.
    assert (table["p_value"] > 1e-4).all(), table
    cov = result.coverage(confidence=0.99)
    at90 = cov[cov["level"] == 0.9]
    assert ((at90["lower"] <= 0.9) & (0.9 <= at90["upper"])).all(), at90


@pytest.mark.slow
def test_full_negative_control_fails(seed):
    result = cal.run_sbc("chinchilla", 100, seed=seed + 7,
                         priors={"sigma": dist.LogNormal(jnp.log(SIGMA), 0.01)},
                         fit_priors={"sigma": dist.LogNormal(jnp.log(SIGMA / 5), 0.01)})
    cov = result.coverage()
    assert (cov[cov["level"] == 0.9]["upper"] < 0.6).all(), cov
