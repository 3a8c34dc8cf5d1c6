"""The headline numbers of the Chinchilla replication (notebook and benchmark), on real data.

Everything here reads ``../shared/data`` and skips cleanly without it. The fits are
shared by a module fixture and use fewer draws (4 x 500) and bootstrap replicates (200)
than ``benchmarks/real_data.py``; the whole module runs in about a minute on 2 CPU cores.

Measured with these settings (seed 0; ``benchmarks/REAL_DATA.md`` has the full-size run):

* Approach 3, full 4,500-start grid: A 477.83, B 2143.4, E 1.8172, alpha 0.34731,
  beta 0.36717 (Besiroglu et al.'s full-grid refit: 477.8, 2143.9, 1.817, 0.3473, 0.3672).
* Bayes, Student-t, medians [95%]: E 1.807 [1.776, 1.837], A 457 [335, 611],
  alpha 0.345 [0.326, 0.362], B 1883 [1273, 2780], beta 0.361 [0.342, 0.380],
  nu 2.8 [2.0, 4.3].
* Bayes, normal: E 1.862 [1.833, 1.892], A 579 [412, 838], alpha 0.359 [0.339, 0.380],
  B 4847 [3313, 7065], beta 0.406 [0.387, 0.424] (least squares is pulled by the
  heavy-tailed digitised points; the Huber fit with delta 1e-3 is close to L1).
* Backtest, train C <= 3e20 FLOPs (177 runs), 63 held out, nominal 90%: Bayes normal
  predictive 0.52 +- 0.06, Bayes Student-t predictive 0.60 +- 0.06, Approach 3 bootstrap
  band 0.19 +- 0.05, bootstrap + residual SD 0.67 +- 0.06. Misses are mostly below the
  band (normal: 41% below, 6% above).
"""

from __future__ import annotations

import numpy as np
import pytest

from bayes_scaling.data.datasets import shared_data_available
from bayes_scaling.studies import replication as rep

# -m slow: the default suite runs the same fit_chinchilla and backtest calls through
# notebooks/chinchilla_replication.ipynb (tests/test_notebooks.py); these assertions on
# their numbers cost another ~45 s, which the 10-minute default suite cannot spare.
pytestmark = [
    pytest.mark.slow,
    pytest.mark.realdata,
    pytest.mark.skipif(not shared_data_available(),
                       reason="needs the public data in ../shared/data (or $BAYES_SCALING_DATA)"),
]

FAST = {"draws": 500, "warmup": 500, "chains": 4}
PARAMS = ("E", "A", "alpha", "B", "beta")


@pytest.fixture(scope="module")
def fits():
    return rep.fit_chinchilla(seed=0, num_bootstrap=200, grid="full", **FAST)


@pytest.fixture(scope="module")
def table(fits):
    return rep.chinchilla_parameter_table(fits=fits, level=0.95).set_index(["method",
                                                                             "parameter"])


@pytest.fixture(scope="module")
def backtest():
    return rep.backtest(compute_cut=3e20, levels=(0.5, 0.9), seed=0, num_bootstrap=200,
                        grid="default", **FAST)


def test_classical_full_grid_reproduces_the_replication(fits):
    """Approach 3 from Hoffmann's grid lands on Besiroglu et al.'s full-grid refit (1%)."""
    assert fits.approach3.num_starts == 4500
    for name in PARAMS:
        assert fits.approach3.params[name] == pytest.approx(rep.BESIROGLU_FULL_GRID[name],
                                                            rel=0.01), name


def test_parameter_table_layout(table):
    methods = set(table.index.get_level_values("method"))
    assert methods == {rep.BAYES_NORMAL, rep.BAYES_STUDENT_T, rep.APPROACH3, rep.BESIROGLU,
                       rep.HOFFMANN}
    for method in methods:
        for name in (*PARAMS, "a"):
            assert np.isfinite(table.loc[(method, name), "estimate"])
    assert table.loc[(rep.HOFFMANN, "B"), "estimate"] == 410.7
    assert table.loc[(rep.BESIROGLU, "B"), "upper"] == 5810.3
    wide = rep.wide_parameter_table(table.reset_index())
    assert wide.loc["nu", rep.BAYES_STUDENT_T] != "" and wide.loc["nu", rep.BAYES_NORMAL] == ""


def test_classical_bootstrap_intervals_near_published(table):
    """Percentile intervals cover the point and overlap Besiroglu et al.'s 95% intervals."""
    for name in PARAMS:
        row = table.loc[(rep.APPROACH3, name)]
        lo, hi = rep.BESIROGLU_2024_CI95[name]
        assert row["lower"] < row["estimate"] < row["upper"], name
        assert row["lower"] < hi and row["upper"] > lo, name


def test_student_t_posterior_matches_the_huber_fit(table, fits):
    """Student-t medians near the Approach 3 point: E 2%, exponents 3%, A 15%, B 25%.

    Measured: E -0.5%, alpha -0.7%, beta -1.7%, A -4%, B -12%. nu is about 2.8:
    the residuals are heavy-tailed, which is why the Huber fit (nearly L1 at delta
    1e-3) and the Student-t agree.
    """
    point = fits.approach3.params
    tolerance = {"E": 0.02, "alpha": 0.03, "beta": 0.03, "A": 0.15, "B": 0.25}
    for name, rel in tolerance.items():
        median = table.loc[(rep.BAYES_STUDENT_T, name), "estimate"]
        assert median == pytest.approx(point[name], rel=rel), name
    assert table.loc[(rep.BAYES_STUDENT_T, "nu"), "upper"] < 6
    assert table.loc[(rep.BAYES_STUDENT_T, "nu"), "estimate"] < 4


def test_normal_posterior_near_but_pulled_by_outliers(table, fits):
    """Normal medians: E and alpha within 5%, beta within 15% of Approach 3 (measured +2.5%,
    +3.4%, +10.5%); A and B are not close (B about 2.3x) and are only checked through the
    interval overlap below."""
    point = fits.approach3.params
    for name, rel in {"E": 0.05, "alpha": 0.05, "beta": 0.15}.items():
        median = table.loc[(rep.BAYES_NORMAL, name), "estimate"]
        assert median == pytest.approx(point[name], rel=rel), name


@pytest.mark.parametrize("method", [rep.BAYES_NORMAL, rep.BAYES_STUDENT_T])
def test_bayesian_95_intervals_overlap_published(table, method):
    for name in PARAMS:
        row = table.loc[(method, name)]
        lo, hi = rep.BESIROGLU_2024_CI95[name]
        assert row["lower"] < hi and row["upper"] > lo, (method, name)


def test_allocation_about_20_tokens_per_parameter(fits):
    """Every fit of the digitised data gives ~20 tokens/param at 1e21 FLOPs (measured
    20.7-21.6); Hoffmann's published law gives 50 there and ~98 at 1e24."""
    alloc = rep.allocation_table(fits=fits, level=0.95).set_index(["method", "C"])
    for method in (rep.BAYES_NORMAL, rep.BAYES_STUDENT_T, rep.APPROACH3, rep.BESIROGLU):
        assert 17 < alloc.loc[(method, 1e21), "tokens_per_param"] < 26, method
    for method in (rep.BAYES_NORMAL, rep.BAYES_STUDENT_T, rep.APPROACH3):
        row = alloc.loc[(method, 1e24)]
        assert row["tokens_per_param_lower"] < row["tokens_per_param"] \
            < row["tokens_per_param_upper"]
    assert alloc.loc[(rep.HOFFMANN, 1e21), "tokens_per_param"] == pytest.approx(50.1, rel=0.01)
    assert alloc.loc[(rep.HOFFMANN, 1e24), "tokens_per_param"] == pytest.approx(97.7, rel=0.01)


def test_backtest_is_computed(backtest):
    t = backtest.table
    assert len(backtest.train) == 177 and len(backtest.test) == 63
    assert set(zip(t["method"], t["band"], strict=True)) == {
        (rep.BAYES_NORMAL, "predictive"), (rep.BAYES_NORMAL, "curve"),
        (rep.BAYES_STUDENT_T, "predictive"), (rep.BAYES_STUDENT_T, "curve"),
        (rep.APPROACH3, "bootstrap"), (rep.APPROACH3, "bootstrap + residual SD")}
    assert set(t["level"]) == {0.5, 0.9}
    assert t["coverage"].between(0, 1).all() and np.isfinite(t["coverage_se"]).all()
    assert np.allclose(t["below"] + t["above"] + t["coverage"], 1.0)
    assert (t["median_rel_error_pct"] < 2.0).all()  # measured 0.75-0.93%
    # Wider nominal bands cover at least as much, band by band.
    wide = t.pivot_table(index=["method", "band"], columns="level", values="coverage")
    assert (wide[0.9] >= wide[0.5]).all()


def test_bayesian_predictive_coverage_beats_the_classical_bootstrap(backtest):
    """Nominal 90%: Bayes predictive 0.52 (normal) / 0.60 (Student-t) vs the bootstrap
    band of the mean curve 0.19 (binomial SEs ~0.05-0.06): asserted with a 0.2 margin."""
    t = backtest.table.set_index(["method", "band", "level"])["coverage"]
    boot = t[(rep.APPROACH3, "bootstrap", 0.9)]
    for method in (rep.BAYES_NORMAL, rep.BAYES_STUDENT_T):
        assert t[(method, "predictive", 0.9)] > boot + 0.2, method


def test_every_band_under_covers_the_larger_runs(backtest):
    """The finding, kept true by the test: no method reaches its nominal 90% (measured at most
    0.67), and the misses are mostly below the band (held-out runs beat the extrapolation)."""
    t = backtest.table[backtest.table["level"] == 0.9]
    assert (t["coverage"] < 0.8).all()
    bayes = t[(t["band"] == "predictive")]
    assert (bayes["below"] > bayes["above"]).all()


@pytest.mark.slow
def test_extrapolation_term_lifts_coverage_of_the_larger_chinchilla_runs():
    """Leave-future-out term learnt on C <= 3e20 only: Student-t 90% coverage of the 63 larger
    runs rose from ~0.6 to ~0.75 when measured (still short of 0.9: the folds inside the
    training range show less bias than the held-out runs)."""
    bt = rep.backtest(compute_cut=3e20, levels=(0.9,), likelihoods=("student_t",), seed=0,
                      num_bootstrap=50, chains=2, draws=500, warmup=500, extrapolation=True)
    t = bt.table.set_index(["method", "band"])["coverage"]
    plain = t[(rep.BAYES_STUDENT_T, "predictive")]
    extra = t[(rep.BAYES_STUDENT_T, "predictive + extrapolation term")]
    assert extra >= plain + 0.05
