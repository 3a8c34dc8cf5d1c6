"""Groups: structure parsing, the joint model, and known-truth comparisons between groups.

Simulated groups with known differences: offsets only (b's ``A`` 10% lower, equal
exponents), unequal exponents (curves cross at a known compute), identical groups,
and many weakly informed groups with one tiny group (partial pooling). The data
sets share shapes so the compiled samplers are reused (see module fixtures).

Truth checks use 99% intervals: with fixed seeds each data set is one draw, and a
90% interval misses the truth one time in ten by design (calibration over many
data sets is tested for the ungrouped model in ``test_fit.py``).
"""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pandas as pd
import pytest

import bayes_scaling as bs
from bayes_scaling.compare import ParetoKWarning
from bayes_scaling.models.groups import GroupStructure, build_grouped_model, resolve_groups
from bayes_scaling.models.scaling import build_model

TRUTH = {"E": 1.8, "A": 480.0, "alpha": 0.35, "B": 2000.0, "beta": 0.37}
#: b's offset A 10% lower, everything else equal: b is better at every compute.
OFFSET_B = {**TRUTH, "A": 0.9 * TRUTH["A"]}
#: b has larger exponents and larger offsets: worse at small compute, better at large;
#: the compute-optimal curves cross at C ~ 3.0e19, inside the fitted range.
STEEPER_B = {"E": 1.8, "A": 4.5 * 480.0, "alpha": 0.42, "B": 4.5 * 2000.0, "beta": 0.44}
BUDGETS = (1e18, 4e18, 1.6e19, 6.4e19, 2.56e20)
SMALL = {"chains": 4, "draws": 500, "warmup": 500}
LAW = bs.get_law("chinchilla")


def _runs(truth, seed, budgets=BUDGETS, runs_per_budget=8, noise=0.01, law="chinchilla"):
    design = bs.iso_flop_design(np.asarray(budgets), runs_per_budget=runs_per_budget,
                                tokens_per_param=(2.0, 400.0))
    return bs.simulate(law, truth, N=design["N"], D=design["D"], noise=noise, seed=seed)


def _offsets_data(seed):
    """a and b (b's A 10% lower): 40 runs each on 5 iso-FLOP lines; c: like a, only 8 runs
    on 2 lines; d: an exact copy of a's runs (identical groups, identical data)."""
    a = _runs(TRUTH, seed).assign(group="a")
    return pd.concat([
        a,
        _runs(OFFSET_B, seed + 1).assign(group="b"),
        _runs(TRUTH, seed + 2, budgets=(4e18, 6.4e19), runs_per_budget=4).assign(group="c"),
        a.assign(group="d"),
    ], ignore_index=True)


# ------------------------------------------------------------------ truth helpers
def _true_log_frontier(params, log_c):
    with jax.enable_x64(True):
        p = {k: jnp.asarray(v) for k, v in params.items()}
        log_n, log_d = LAW.log_optimal_allocation(p, jnp.asarray(log_c), np.log(6.0))
        return np.asarray(LAW.log_mean(p, {"N": log_n, "D": log_d}))


def _true_frontier(params, compute):
    return np.exp(_true_log_frontier(params, np.log(np.asarray(compute, dtype=float))))


def _bisect(fn, lo, hi, steps=80):
    """Root of a function whose sign at ``lo`` differs from that at ``hi`` (log C)."""
    sign_lo = np.sign(fn(lo))
    for _ in range(steps):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if np.sign(fn(mid)) == sign_lo else (lo, mid)
    return 0.5 * (lo + hi)


def _true_multiplier(params_a, params_b, c):
    target = _true_log_frontier(params_a, np.log(c))
    log_cb = _bisect(lambda x: _true_log_frontier(params_b, x) - target,
                     np.log(c) - 30, np.log(c) + 30)
    return float(np.exp(log_cb) / c)


# ------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def offsets_fit(seed):
    """Offset-only differences, default structure (exponents and E shared, offsets separate)."""
    return bs.fit(_offsets_data(seed=10), seed=seed, **SMALL)


@pytest.fixture(scope="module")
def steeper_data():
    """Two groups of 40 runs with unequal exponents."""
    return pd.concat([_runs(TRUTH, 20).assign(group="a"), _runs(STEEPER_B, 21).assign(group="b")],
                     ignore_index=True)


@pytest.fixture(scope="module")
def steeper_fit(steeper_data, seed):
    """Unequal exponents, fitted with the generating structure (exponents per group)."""
    return bs.fit(steeper_data, seed=seed, groups={"alpha": "separate", "beta": "separate"},
                  **SMALL)


@pytest.fixture(scope="module")
def steeper_shared_fit(steeper_data, seed):
    """The same runs under the (wrong) default structure: shared exponents."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.SamplingWarning)  # a misspecified model
        return bs.fit(steeper_data, seed=seed, **SMALL)


@pytest.fixture(scope="module")
def many_groups_data():
    """Six weakly informed groups (12 runs, 2% noise, offsets within ~5%) and one of 3 runs."""
    rng = np.random.default_rng(0)
    parts = []
    for i in range(6):
        truth = {**TRUTH, "A": TRUTH["A"] * np.exp(0.05 * rng.normal()),
                 "B": TRUTH["B"] * np.exp(0.05 * rng.normal())}
        parts.append(_runs(truth, 100 + i, budgets=(1e18, 1e19, 1e20), runs_per_budget=4,
                           noise=0.02).assign(group=f"g{i}"))
    parts.append(_runs(TRUTH, 99, budgets=(1e19,), runs_per_budget=3, noise=0.02)
                 .assign(group="tiny"))
    return pd.concat(parts, ignore_index=True)


# -------------------------------------------------------------- structure (no NUTS)
def test_resolve_groups_spec():
    default = resolve_groups(LAW, None, has_groups=True)
    assert default.as_dict() == {"E": "shared", "A": "separate", "alpha": "shared",
                                 "B": "separate", "beta": "shared"}
    assert resolve_groups(LAW, None, has_groups=False) is None
    assert resolve_groups(LAW, False, has_groups=True) is None
    assert set(resolve_groups(LAW, "pooled", has_groups=True).as_dict().values()) == {"pooled"}
    spec = resolve_groups(LAW, {"log_A_c": "pooled", "alpha": "separate"}, has_groups=True)
    assert spec.as_dict() == {"E": "shared", "A": "pooled", "alpha": "separate",
                              "B": "separate", "beta": "shared"}
    assert spec.group_var_names(LAW) == ("A", "log_A_c", "log_A_c_z", "alpha", "B", "log_B_c")
    assert spec.hyper_names(LAW) == ("log_A_c_mu", "log_A_c_tau")
    kaplan = resolve_groups(bs.get_law("kaplan"), None, has_groups=True)
    assert kaplan.as_dict() == {"N_c": "separate", "alpha_N": "shared", "D_c": "separate",
                                "alpha_D": "shared"}
    with pytest.raises(ValueError, match="unknown parameter 'gamma'"):
        resolve_groups(LAW, {"gamma": "shared"}, has_groups=True)
    with pytest.raises(ValueError, match="must be one of"):
        resolve_groups(LAW, {"alpha": "partly"}, has_groups=True)
    with pytest.raises(bs.RunsTableError, match="no group column"):
        resolve_groups(LAW, "separate", has_groups=False)


@pytest.mark.parametrize("law", ["chinchilla", "kaplan", "power_law_C"])
@pytest.mark.parametrize("mode", ["shared", "separate", "pooled"])
def test_grouped_model_shapes_every_law(law, mode):
    """Every law and mode traces: per-group sites have shape (num_groups,), others ()."""
    law = bs.get_law(law)
    structure = resolve_groups(law, mode, has_groups=True)
    model = build_model(law, "normal", structure)
    assert model is build_model(law, "normal", structure)  # cached: one compiled sampler
    assert model is not build_model(law, "normal")
    num_runs, num_groups = 11, 3
    centre = {"N": np.log(1e9), "D": np.log(2e10), "C": np.log(1.2e20)}
    with jax.enable_x64(True), numpyro.handlers.trace() as tr, \
            numpyro.handlers.seed(rng_seed=0):
        index = jnp.arange(num_runs) % num_groups
        design = bs.laws.Design(centre, 0.9, 2.0).as_arrays()
        log_inputs = {k: jnp.full(num_runs, centre[k]) for k in law.inputs}
        model(log_inputs, None, design, {}, {"index": index, "counts": jnp.ones(num_groups)})
    assert tr["log_loss"]["value"].shape == (num_runs,)
    for name in law.param_names:
        expected = () if mode == "shared" else (num_groups,)
        assert jnp.shape(tr[name]["value"]) == expected, (name, mode)
    if mode == "pooled":
        site = law.site_of(law.param_names[0])
        assert tr[f"{site}_z"]["fn"].batch_shape == (num_groups,)
        assert tr[f"{site}_tau"]["value"].shape == ()


def test_ungrouped_model_is_unchanged():
    """The ungrouped path keeps its cached model object (and so its compiled samplers)."""
    assert build_model(LAW, "normal") is build_model(LAW, "normal", None)
    assert build_model(LAW, "normal").__name__ == "chinchilla_normal_model"
    structure = resolve_groups(LAW, None, has_groups=True)
    assert build_grouped_model(LAW, "normal", structure) is build_model(LAW, "normal", structure)
    assert hash(structure) == hash(GroupStructure(structure.modes))


def test_group_argument_errors():
    runs = _runs(TRUTH, 0)
    with pytest.raises(bs.RunsTableError, match="no group column"):
        bs.fit(runs, groups="separate")
    grouped = runs.assign(group=np.where(np.arange(len(runs)) % 2, "x", "y"))
    with pytest.raises(ValueError, match="cannot be combined with a pooled A"):
        bs.fit(grouped, groups={"A": "pooled"}, priors={"A": dist.LogNormal(6.0, 1.0)})
    with pytest.raises(ValueError, match="unknown parameter"):
        bs.fit(grouped, priors={"log_B_c_tau": dist.HalfNormal(0.1)})  # B is not pooled


# ------------------------------------------------------- default structure, offsets
def test_posterior_has_group_dimension(offsets_fit, tmp_path):
    fit = offsets_fit
    post = fit.posterior["posterior"]
    assert fit.group_labels == ("a", "b", "c", "d")
    assert list(post["group"].values) == ["a", "b", "c", "d"]
    assert post["A"].dims == ("chain", "draw", "group")
    assert post["log_B_c"].dims == ("chain", "draw", "group")
    assert post["alpha"].dims == ("chain", "draw")
    assert fit.log_likelihood_tree()["log_likelihood"]["log_loss"].dims == ("chain", "draw", "run")
    assert int(fit.posterior["sample_stats"]["diverging"].sum()) == 0
    summary = fit.summary()
    assert {"A[a]", "A[b]", "A[c]", "A[d]", "alpha", "E", "sigma"} <= set(summary.index)
    assert (summary["r_hat"] < 1.01).all()
    params = fit.param_draws()
    assert params["A"].shape == (fit.num_draws, 4) and params["alpha"].shape == (fit.num_draws,)
    assert fit.param_draws(group="b")["A"].shape == (fit.num_draws,)
    with pytest.raises(ValueError, match="pass group="):
        fit.predict(N=1e9, D=2e10)
    with pytest.raises(ValueError, match="unknown group 'z'"):
        fit.predict(N=1e9, D=2e10, group="z")
    pred = fit.predict(N=1e9, D=2e10, group="b")
    assert pred["lower"].iloc[0] < pred["median"].iloc[0] < pred["upper"].iloc[0]
    assert fit.optimal_allocation(C=1e22, group="a")["N_opt"].iloc[0] > 0
    loaded = bs.load(fit.to_netcdf(tmp_path / "groups.nc"))
    assert loaded.groups == fit.groups
    pd.testing.assert_frame_equal(loaded.group_effects(), fit.group_effects())


def test_offset_difference_recovered(offsets_fit):
    """b's A is 10% lower: the log ratio log(0.9) lies in the 99% interval and 0 does not."""
    effects = offsets_fit.group_effects(level=0.99).set_index(["parameter", "group"])
    a_b = effects.loc[("A", "b")]
    assert a_b["lower"] < np.log(0.9) < a_b["upper"] < 0, a_b.to_dict()
    assert a_b["p_positive"] < 0.01
    for key in (("A", "c"), ("A", "d"), ("B", "b"), ("B", "c"), ("B", "d")):  # none true
        row = effects.loc[key]
        assert row["lower"] < 0 < row["upper"], (key, row.to_dict())
    assert set(effects.index.get_level_values("parameter")) == {"A", "B"}  # exponents shared


def test_compare_clear_win_and_identical_groups(offsets_fit):
    budgets = np.array([1e19, 1e21, 1e23])
    table = offsets_fit.compare("a", "b", C=budgets, level=0.99, N=1e9)
    optimal = table[table["allocation"] == "compute-optimal"]
    true_diff = _true_frontier(OFFSET_B, budgets) - _true_frontier(TRUTH, budgets)
    assert np.all(optimal["diff_lower"] < true_diff) and np.all(true_diff < optimal["diff_upper"])
    assert np.all(optimal["p_b_better"] > 0.99)
    true_mult = np.array([_true_multiplier(TRUTH, OFFSET_B, c) for c in budgets])
    assert np.all(optimal["multiplier_lower"] < true_mult), (optimal, true_mult)
    assert np.all(true_mult < optimal["multiplier_upper"]), (optimal, true_mult)
    assert np.all(optimal["multiplier_upper"] < 1) and np.all(optimal["p_reachable"] == 1)
    fixed = table[table["allocation"] == "fixed N"]
    assert len(fixed) == 3 and np.all(fixed["N"] == 1e9) and np.all(fixed["p_b_better"] > 0.95)
    # d has a's very runs: the joint posterior is symmetric in a and d, so P(d better)
    # is 0.5 up to Monte Carlo error (sd ~0.02 at ~1000 effective draws).
    tie = offsets_fit.compare("a", "d", C=budgets)
    assert np.all((tie["p_b_better"] > 0.4) & (tie["p_b_better"] < 0.6)), tie
    assert np.all((tie["multiplier_lower"] < 1) & (tie["multiplier_upper"] > 1))
    # c is generated like a from independent noise and only 8 runs: no clear winner.
    # (Under a true tie P(better) is roughly uniform over data sets, so only the 99%
    # interval of the difference is checked: it contains 0.)
    tie = offsets_fit.compare("a", "c", C=budgets, level=0.99)
    assert np.all((tie["diff_lower"] < 0) & (tie["diff_upper"] > 0)), tie
    assert np.all((tie["p_b_better"] > 0.01) & (tie["p_b_better"] < 0.99)), tie


def test_no_crossover_for_offset_only_differences(offsets_fit):
    result = offsets_fit.crossover("a", "b", C_range=(1e18, 1e27))
    assert result.p_cross < 0.05
    assert result.p_b_better_start > 0.99 and result.p_b_better_end > 0.95


# ------------------------------------------------------------ unequal exponents
def test_crossover_found(steeper_fit):
    true_log_c = _bisect(lambda x: _true_log_frontier(STEEPER_B, x) - _true_log_frontier(TRUTH, x),
                         np.log(1e18), np.log(1e27))
    result = steeper_fit.crossover("a", "b", C_range=(1e18, 1e27), level=0.99)
    assert result.p_cross > 0.95
    assert result.C_lower < np.exp(true_log_c) < result.C_upper, (result, np.exp(true_log_c))
    assert result.p_b_better_start < 0.05 and result.p_b_better_end > 0.95
    frame = result.to_frame()
    assert frame.loc[0, "p_cross"] == result.p_cross and np.isnan(result.draws).mean() < 0.05
    effects = steeper_fit.group_effects(level=0.99).set_index(["parameter", "group"])
    for name in ("alpha", "beta"):
        row = effects.loc[(name, "b")]
        true = STEEPER_B[name] - TRUTH[name]
        assert row["lower"] < true < row["upper"], (name, row.to_dict())
    # before the crossover b needs more compute to match a, after it less
    table = steeper_fit.compare("a", "b", C=[1e18, 1e22])
    assert table["multiplier_lower"].iloc[0] > 1 and table["multiplier_upper"].iloc[1] < 1


def test_loo_prefers_generating_structure(steeper_fit, steeper_shared_fit):
    """Exponents truly differ: PSIS-LOO prefers per-group exponents, by many SEs."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ParetoKWarning)  # the misfit model has high-k runs
        table = bs.compare_models({"shared": steeper_shared_fit, "separate": steeper_fit})
    assert table.index[0] == "separate"
    diff, dse = table.loc["shared", "elpd_diff"], table.loc["shared", "dse"]
    assert diff < -4 and -diff > 3 * dse, table
    # Pareto-k estimates are noisy near 0.7: under the generating model a couple of the 80
    # runs sit close to it (0 flagged on one CPU, 2 on another), none is grossly influential.
    assert table.loc["separate", "pareto_k_high"] <= 4 and table.loc["separate",
                                                                    "pareto_k_max"] < 1.0
    assert {"elpd", "se", "weight", "p_worse", "pareto_k_max"} <= set(table.columns)


def test_compare_models_warns_on_high_pareto_k(steeper_shared_fit, offsets_fit, seed):
    """A gross outlier run is influential: its Pareto k is high and a ParetoKWarning names it."""
    with pytest.raises(ValueError, match="different runs"):
        bs.compare_models({"x": steeper_shared_fit, "y": offsets_fit})
    runs = _offsets_data(seed=10)
    runs.loc[5, "loss"] *= 1.25  # one run 25% above its curve (noise is 1%)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.SamplingWarning)
        outlier_fit = bs.fit(runs, seed=seed, **SMALL)  # same shapes: no new compilation
    with pytest.warns(ParetoKWarning, match="Pareto k above"):
        table = bs.compare_models({"normal": outlier_fit, "again": outlier_fit})
    assert (table["pareto_k_high"] > 0).all() and (table["pareto_k_max"] > 0.7).all()


# ------------------------------------------------------------------- pooling
@pytest.mark.slow  # default-suite budget: the statistical claim runs with -m slow
def test_pooling_borrows_strength(many_groups_data, seed):
    """A 3-run group: its offset interval is narrower when pooled than when fitted separately."""
    separate = bs.fit(many_groups_data, seed=seed, **SMALL)
    pooled = bs.fit(many_groups_data, seed=seed, groups={"A": "pooled", "B": "pooled"},
                    target_accept=0.95, **SMALL)
    # Non-centred: at most a stray divergence (1 of 2,000 on one of five seeds), not the
    # funnel a centred hierarchy falls into.
    assert int(pooled.posterior["sample_stats"]["diverging"].sum()) <= 10
    rhat = pooled.summary()["r_hat"]
    assert {"log_A_c_mu", "log_A_c_tau", "log_B_c_mu", "log_B_c_tau"} <= set(rhat.index)
    # group spreads from 7 groups are the hardest to sample (and barely identified)
    assert (rhat.drop(["log_A_c_tau", "log_B_c_tau"]) < 1.01).all() and (rhat < 1.05).all()

    def width(fit, site):
        values = fit.draws(site)[:, fit.group_labels.index("tiny")]
        lo, hi = np.quantile(values, [0.05, 0.95])
        return hi - lo

    def effect_width(fit, name):
        row = fit.group_effects(reference="g0").set_index(["parameter", "group"]).loc[
            (name, "tiny")]
        return row["upper"] - row["lower"]

    for site, name in (("log_A_c", "A"), ("log_B_c", "B")):
        assert width(pooled, site) < width(separate, site), site
        assert effect_width(pooled, name) < 0.75 * effect_width(separate, name), name
        # the tiny group's truth (= TRUTH) stays inside the pooled 99% interval
        true_log_c = np.log(TRUTH[name]) - TRUTH["alpha" if name == "A" else "beta"] * \
            pooled.design.log_centre["N" if name == "A" else "D"]
        lo, hi = np.quantile(pooled.draws(site)[:, pooled.group_labels.index("tiny")],
                             [0.005, 0.995])
        assert lo < true_log_c < hi


# ------------------------------------------------------------------ other laws
@pytest.mark.slow  # default-suite budget: the statistical claim runs with -m slow
def test_groups_with_kaplan_and_power_law(seed):
    """Groups work for the Kaplan law (numerical frontier) and a law of compute alone."""
    kaplan_truth = {"N_c": 8.8e13, "alpha_N": 0.076, "D_c": 5.4e13, "alpha_D": 0.095}
    better = {**kaplan_truth, "N_c": 0.5 * 8.8e13, "D_c": 0.5 * 5.4e13}
    runs = pd.concat([_runs(kaplan_truth, 1, law="kaplan").assign(group="a"),
                      _runs(better, 2, law="kaplan").assign(group="b")], ignore_index=True)
    kaplan = bs.fit(runs, law="kaplan", seed=seed, **SMALL)
    effects = kaplan.group_effects(level=0.99).set_index(["parameter", "group"])
    # log_L_N_c = alpha_N (log N_c - log N0): the b - a difference is alpha_N log 0.5
    row = effects.loc[("N_c", "b")]
    assert row["lower"] < 0.076 * np.log(0.5) < row["upper"], row.to_dict()
    table = kaplan.compare("a", "b", C=[1e20, 1e22])
    assert np.all(table["p_b_better"] > 0.99) and np.all(table["multiplier_upper"] < 1)

    power_truth = {"E": 1.7, "A": 420.0, "alpha": 0.15}
    compute = np.geomspace(1e16, 1e22, 30)
    runs = pd.concat([
        bs.simulate("power_law_C", power_truth, C=compute, noise=0.01, seed=3).assign(group="a"),
        bs.simulate("power_law_C", {**power_truth, "A": 378.0}, C=compute, noise=0.01, seed=4)
        .assign(group="b"),
    ], ignore_index=True)
    power = bs.fit(runs, law="power_law_C", seed=seed, **SMALL)
    row = power.group_effects(level=0.99).set_index(["parameter", "group"]).loc[("A", "b")]
    assert row["lower"] < np.log(0.9) < row["upper"] < 0, row.to_dict()
    table = power.compare("a", "b", C=[1e19, 1e23])
    assert np.all(table["p_b_better"] > 0.99)
    with pytest.raises(ValueError, match="fixed N needs a law of N and D"):
        power.compare("a", "b", C=1e20, N=1e9)


# ------------------------------------------------------------------- plots, errors
def test_group_plots(offsets_fit, steeper_fit):
    import matplotlib.pyplot as plt

    from bayes_scaling.plots.groups import (
        plot_compute_multiplier,
        plot_group_effects,
        plot_loss_difference,
    )

    ax = plot_group_effects(offsets_fit)
    assert len([a for a in ax.lines if a.get_gid() == "effects"]) == 2 * 2 * 3
    ax = plot_loss_difference(steeper_fit, "a", "b", C_range=(1e18, 1e24), num=20)
    assert {"median", "band90", "band50", "reference"} <= {a.get_gid() for a in
                                                          ax.get_children()}
    ax = plot_compute_multiplier(offsets_fit, "a", "b", C_range=(1e18, 1e24), num=20)
    median = next(a for a in ax.lines if a.get_gid() == "median")
    assert np.all(median.get_ydata() < 1)
    plt.close("all")


def test_comparison_errors(offsets_fit):
    with pytest.raises(ValueError, match="different groups"):
        offsets_fit.compare("a", "a", C=1e20)
    with pytest.raises(ValueError, match="unknown group"):
        offsets_fit.crossover("a", "nope")
    with pytest.raises(ValueError, match="give the compute budgets"):
        offsets_fit.compare("a", "b")
    ungrouped = bs.ScalingFit(law=offsets_fit.law, likelihood="normal", runs=offsets_fit.runs,
                              design=offsets_fit.design, posterior=offsets_fit.posterior)
    with pytest.raises(ValueError, match="needs a fit with groups"):
        ungrouped.compare("a", "b", C=1e20)
