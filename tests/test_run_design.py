"""Bayesian design of new runs: expected widths against refits, greedy plans, stopping answer."""

import warnings

import numpy as np
import pandas as pd
import pytest

import bayes_scaling as bs
from bayes_scaling.design import run_design
from bayes_scaling.design.reweighting import Engine

TRUTH = dict(bs.EXAMPLE_TRUTH)
NOISE = 0.01
BUDGET = 1e20
TARGET = {"loss": {"C": 1e23}}
SMALL = {"chains": 2, "draws": 500, "warmup": 300}


def _initial():
    design = bs.iso_flop_design([1e18, 2.2e18, 4.6e18, 1e19], runs_per_budget=6,
                                tokens_per_param=(3.0, 300.0))
    return bs.simulate("chinchilla", TRUTH, N=design["N"], D=design["D"], noise=NOISE, seed=1)


def _largest(budget=BUDGET):
    """Baseline: two runs of half the budget each (10 and 40 tokens per parameter)."""
    c = budget / 2
    n = np.sqrt(c / (6.0 * np.array([10.0, 40.0])))
    return pd.DataFrame({"N": n, "D": c / (6.0 * n)})


@pytest.fixture(scope="module")
def initial_fit(seed):
    return bs.fit(_initial(), seed=seed, warn=False, **SMALL)


@pytest.fixture(scope="module")
def plan(initial_fit):
    return initial_fit.suggest_runs(BUDGET, TARGET, n=6, num_draws=1000, num_outcomes=128,
                                    seed=0)


@pytest.mark.parametrize("student", [False, True])
def test_reweighting_matches_conjugate_normal_posterior(student):
    """Known truth: theta ~ N(0, 1), a run at x observes theta * x + N(0, 1) noise, so the
    posterior SD after it is exactly 1 / sqrt(1 + x^2) whatever the outcome. The engine's
    expected 90% width must match 2 * 1.645 * that SD within 5% (Monte Carlo error of
    4000 draws and 256 replicates), for one run and for two runs conditioned jointly.
    The Student-t path with nu = 1e6 must give the same numbers."""
    import jax
    import jax.numpy as jnp

    rng = np.random.default_rng(0)
    theta = np.sort(rng.standard_normal(4000))
    x = np.array([0.5, 1.0, 2.0])
    with jax.enable_x64(True):
        engine = Engine(
            t_sorted=jnp.asarray(theta), mu=jnp.asarray(theta[:, None] * x[None, :]),
            sigma=jnp.ones(theta.size), nu=jnp.full(theta.size, 1e6),
            truth=rng.integers(0, theta.size, 256), student=student, level=0.9,
            key=jax.random.PRNGKey(1))
        log_w = engine.initial_log_w()
        y = engine.outcomes(0)
        widths, sds, ess = engine.score(log_w, y)
        exact = 2 * 1.6448536 / np.sqrt(1 + x**2)
        np.testing.assert_allclose(widths.mean(axis=1), exact, rtol=0.05)
        np.testing.assert_allclose(sds.mean(axis=1), 1 / np.sqrt(1 + x**2), rtol=0.05)
        assert np.all(np.diff(ess.mean(axis=1)) < 0)  # more informative runs: lower ESS
        both = engine.condition(engine.condition(log_w, y, 2), engine.outcomes(1), 1)
        width_both = engine.stats(both)[0].mean()
        assert width_both == pytest.approx(2 * 1.6448536 / np.sqrt(1 + 4 + 1), rel=0.05)


def test_plan_respects_budget_and_reports_each_step(plan):
    runs = plan.runs
    assert len(runs) >= 1 and plan.total_cost <= BUDGET * (1 + 1e-9)
    np.testing.assert_allclose(runs["C"], 6.0 * runs["N"] * runs["D"], rtol=1e-9)
    np.testing.assert_allclose(runs["cumulative_cost"], runs["C"].cumsum())
    # Every greedy step must shrink the expected width (by at least min_gain of the start).
    widths = np.r_[plan.current_width, runs["expected_width"].to_numpy()]
    assert np.all(np.diff(widths) < 0)
    assert plan.expected_width < 0.9 * plan.current_width
    assert plan.rule in run_design.RULES and set(plan.alternatives) == set(run_design.RULES)
    assert runs["reliable"].all() and (runs["ess"] > 30).all()
    assert repr(plan).startswith("RunPlan(target='compute-optimal loss")


def test_suggested_runs_beat_largest_size_on_expected_width(initial_fit, plan):
    """Same budget, same simulated outcomes' seed: the plan's expected width is smaller."""
    kwargs = {"num_draws": 1000, "num_outcomes": 128, "seed": 3}
    suggested, _ = run_design.expected_width(initial_fit, TARGET, plan.runs, **kwargs)
    largest, _ = run_design.expected_width(initial_fit, TARGET, _largest(), **kwargs)
    assert suggested.mean() < 0.97 * largest.mean(), (suggested.mean(), largest.mean())


@pytest.mark.slow  # default-suite budget: the statistical claim runs with -m slow
def test_expected_width_agrees_with_refits(initial_fit, seed):
    """Known case: two half-budget runs. The reweighting estimate of the width after them
    agrees within 25% with the mean width of NUTS refits on data simulated from the truth
    (the estimate averages over the posterior of the truth, the refits use one truth)."""
    new = _largest()
    widths, ess = run_design.expected_width(initial_fit, TARGET, new, num_draws=1000,
                                            num_outcomes=128, seed=0)
    assert ess > 100
    tables = [pd.concat([_initial(), bs.simulate("chinchilla", TRUTH, N=new["N"], D=new["D"],
                                                 noise=NOISE, seed=100 + s)], ignore_index=True)
              for s in range(4)]
    refits = bs.fit_many(tables, seed=seed + 5, **SMALL)
    actual = [np.diff(np.quantile(run_design.resolve_target(f, TARGET).values, [0.05, 0.95]))[0]
              for f in refits]
    before = run_design.resolve_target(initial_fit, TARGET).values
    width_before = np.diff(np.quantile(before, [0.05, 0.95]))[0]
    assert np.mean(actual) < 0.9 * width_before  # the runs do help: the check can fail
    assert abs(widths.mean() / np.mean(actual) - 1) < 0.25, (widths.mean(), actual)


def test_reproducible_with_seed(initial_fit, plan):
    again = initial_fit.suggest_runs(BUDGET, TARGET, n=6, num_draws=1000, num_outcomes=128,
                                     seed=0)
    pd.testing.assert_frame_equal(plan.runs, again.runs)


def test_stopping_answer_limits(initial_fit, plan):
    huge = plan.check(tolerance=100.0)
    assert huge.narrow_enough and huge.p_within == 1.0 and huge.p_narrow_after == 1.0
    tiny = plan.check(tolerance=1e-5)
    assert not tiny.narrow_enough and tiny.p_within < 0.01 and tiny.p_narrow_after == 0.0
    # Moderate tolerance: the standalone check agrees with the plan's numbers.
    mid = run_design.interval_check(initial_fit, TARGET, 0.3, runs=plan, num_draws=1000,
                                    num_outcomes=128, seed=0)
    assert mid.width == pytest.approx(plan.check(0.3).width)
    assert mid.expected_width_after == pytest.approx(plan.expected_width, rel=0.1)
    assert 0.0 <= mid.p_within <= 1.0
    assert isinstance(mid.to_frame(), pd.DataFrame)
    no_runs = bs.interval_check(initial_fit, TARGET, 0.3)
    assert np.isnan(no_runs.expected_width_after)


def test_other_targets_and_candidates(initial_fit):
    cands = pd.DataFrame({"N": [4e8, 1e9, 2e8], "C": [1e19, 6e19, 2e20]})
    plan = initial_fit.suggest_runs(BUDGET, {"N_opt": 1e23}, candidates=cands, n=3,
                                    num_draws=500, num_outcomes=64)
    assert set(plan.runs["C"]) <= {1e19, 6e19}  # the 2e20 run does not fit the budget
    assert plan.target.scale == "log" and plan.runs["C"].sum() <= BUDGET
    point = run_design.resolve_target(initial_fit, {"loss": {"N": 7e10, "D": 1.4e12}})
    np.testing.assert_allclose(point.values,
                               initial_fit.predict_draws(N=7e10, D=1.4e12)[:, 0])


def test_collapsing_weights_are_flagged(initial_fit):
    with pytest.warns(run_design.DesignWarning, match="collapsed"):
        plan = initial_fit.suggest_runs(BUDGET, TARGET, n=1, num_draws=500, num_outcomes=64,
                                        min_ess=1e9)
    assert not plan.runs["reliable"].any()


@pytest.mark.parametrize(("candidates", "match"), [
    (pd.DataFrame({"N": [1e9]}), "two of the columns"),
    (pd.DataFrame({"N": [1e9, -1.0], "D": [1e10, 1e10]}), "positive and finite"),
    (pd.DataFrame({"N": [1e9], "D": [1e10], "C": [1.0]}), "differs from k N D"),
    (pd.DataFrame({"N": [1e9], "D": [1e10], "group": ["x"]}), "no groups"),
    (pd.DataFrame({"N": [], "D": []}), "empty"),
    (pd.DataFrame({"N": [1e12], "D": [1e12]}), "no candidate run fits"),
])
def test_bad_candidates_raise(initial_fit, candidates, match):
    with pytest.raises(ValueError, match=match):
        initial_fit.suggest_runs(BUDGET, TARGET, candidates=candidates)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"budget": -1.0}, "budget"),
    ({"target": {"flops": 1}}, "unknown target"),
    ({"target": {"loss": {"N": 1e9}}}, "two of N, D, C"),
    ({"target": {"difference": ("a", "b", 1e22)}}, "needs a fit with groups"),
    ({"target": {"loss": {"C": 1e22, "group": "a"}}}, "no groups"),
    ({"n": 0}, "at least 1"),
    ({"level": 1.5}, "level"),
])
def test_bad_arguments_raise(initial_fit, kwargs, match):
    args = {"budget": BUDGET, "target": TARGET, **kwargs}
    with pytest.raises(ValueError, match=match):
        initial_fit.suggest_runs(**args)
    with pytest.raises(TypeError, match="DataFrame"):
        initial_fit.suggest_runs(BUDGET, TARGET, candidates=[(1e9, 1e10)])


@pytest.mark.slow
def test_difference_target_for_groups(seed):
    """A fit with groups: the plan for L_b - L_a spends the budget on those groups' runs."""
    design = bs.iso_flop_design([1e18, 4e18, 1.6e19], runs_per_budget=6,
                                tokens_per_param=(3.0, 300.0))
    frames = []
    for i, (label, scale) in enumerate((("a", 1.0), ("b", 0.8), ("c", 1.1))):
        truth = {**TRUTH, "A": TRUTH["A"] * scale}
        frames.append(bs.simulate("chinchilla", truth, N=design["N"], D=design["D"],
                                  noise=NOISE, seed=i).assign(group=label))
    fit = bs.fit(pd.concat(frames, ignore_index=True), seed=seed, warn=False, **SMALL)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", run_design.DesignWarning)
        plan = fit.suggest_runs(BUDGET, {"difference": ("a", "b", 1e23)}, n=4,
                                num_draws=1000, num_outcomes=128)
    assert set(plan.runs["group"]) <= {"a", "b"} and plan.total_cost <= BUDGET
    assert plan.expected_width < plan.current_width
    with pytest.raises(ValueError, match="group"):
        fit.suggest_runs(BUDGET, {"loss": {"C": 1e23}})
