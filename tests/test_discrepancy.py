"""Known-truth tests of the extrapolation discrepancy and the field prior."""

import warnings

import numpy as np
import pandas as pd
import pytest

import bayes_scaling as bs
from bayes_scaling.extrapolation import discrepancy as dsc
from bayes_scaling.extrapolation.field import fit_field_prior, split_sweep

SMALL = {"chains": 2, "draws": 400, "warmup": 400}

# A field prior with known hyperparameters (one "draw" repeated): drift -0.01 +- 0.01 per
# decade, scale exp(log 0.01) with log-SD 0.5.
KNOWN = dsc.FieldPrior(m=np.full(10, -0.01), s_mu=np.full(10, 0.01),
                       ell=np.full(10, np.log(0.01)), s_tau=np.full(10, 0.5))


def _iso_runs(budgets, seed, noise=0.006, bend=0.0):
    design = bs.iso_flop_design(np.asarray(budgets), runs_per_budget=8,
                                tokens_per_param=(3, 300))
    runs = bs.simulate("chinchilla", bs.EXAMPLE_TRUTH, N=design["N"], D=design["D"],
                       noise=noise, seed=seed)
    runs["loss"] = runs["loss"] * np.exp(-bend * np.log10(runs["C"] / 1e17) ** 2)
    return runs


@pytest.fixture(scope="module")
def small_fit(seed):
    return bs.fit(_iso_runs([1e17, 1e18], seed=1), seed=seed, warn=False, **SMALL)


def test_shipped_field_prior_has_provenance():
    prior = dsc.load_field_prior()
    info = prior.provenance
    assert len(info["sweeps"]) >= 10 and "chinchilla" in info["sweeps"]
    assert "65%" in info["protocol"] and info["created"]
    mu, tau = prior.sample(1000, seed=0)
    assert np.all(tau > 0) and np.all(np.isfinite(mu))


def test_discrepancy_is_zero_inside_the_data_for_every_draw():
    disc = dsc.Discrepancy.from_field(KNOWN, num=500, seed=0)
    draws = disc.draws(np.array([0.0, 0.0, 1.0, 2.0]), 300, seed=1)
    assert np.all(draws[:, :2] == 0.0)
    assert np.std(draws[:, 3]) > np.std(draws[:, 2]) > 0


def test_band_calibration_is_the_identity_inside_the_data_and_scales_beyond():
    """Property of every draw: ``apply`` leaves d = 0 untouched; with mu = tau = 0 and a
    constant lambda it scales each deviation from the plain median exactly by lambda."""
    rng = np.random.default_rng(0)
    log_obs = np.log(2.0) + 0.03 * rng.standard_normal((400, 3))
    zero = np.zeros(50)
    half = dsc.Discrepancy(mu=zero, tau=zero, a=np.full(50, np.log(0.5)), b=zero)
    out = half.apply(log_obs, np.array([0.0, 0.5, 2.0]), seed=1)
    np.testing.assert_array_equal(out[:, 0], log_obs[:, 0])
    centre = np.median(log_obs, axis=0)
    np.testing.assert_allclose(out[:, 2] - centre[2], 0.5 * (log_obs[:, 2] - centre[2]))
    np.testing.assert_allclose(out[:, 1] - centre[1],  # half-way in: lambda = 0.5 ** 0.5
                               np.sqrt(0.5) * (log_obs[:, 1] - centre[1]))
    # b < 0: a wide plain band is narrowed more than a tight one.
    slope = dsc.Discrepancy(mu=zero, tau=zero, a=zero, b=np.full(50, -0.5))
    wide = np.concatenate([0.005 * rng.standard_normal((400, 1)),
                           0.08 * rng.standard_normal((400, 1))], axis=1)
    scaled = slope.apply(wide, np.array([1.0, 1.0]), seed=2)
    ratio = np.std(scaled, axis=0) / np.std(wide, axis=0)
    assert ratio[0] > 1.0 > ratio[1]


def test_update_recovers_a_known_band_calibration():
    """300 fold errors with lambda = 0.5 * (sd / 0.02) ** -0.5 and no drift or scale: the
    importance update moves (a, b) from a wide prior to the truth (a = log 0.5, b = -0.5;
    posterior SDs here ~0.05, tolerance 0.2)."""
    rng = np.random.default_rng(3)
    sd = np.exp(rng.uniform(np.log(0.004), np.log(0.1), 300))
    d = rng.uniform(1.0, 2.0, 300)
    lam = 0.5 * (sd / dsc.SD_REF) ** -0.5
    e = lam * sd * rng.standard_normal(300)
    draws = np.random.default_rng(4).standard_normal((2, 4000))
    wide = dsc.FieldPrior(m=np.zeros(4000), s_mu=np.full(4000, 1e-4),
                          ell=np.full(4000, np.log(1e-4)), s_tau=np.full(4000, 0.1),
                          a=0.7 * draws[0], b=0.7 * draws[1])
    disc = dsc.update_with_errors(wide, pd.DataFrame({"e": e, "sd": sd, "d": d}), seed=0)
    assert abs(np.mean(disc.a) - np.log(0.5)) < 0.2
    assert abs(np.mean(disc.b) + 0.5) < 0.2


def test_old_prior_files_mean_no_band_calibration():
    prior = dsc.FieldPrior.from_json({"draws": {k: [0.01, 0.02] for k in ("m", "s_mu", "ell",
                                                                          "s_tau")}})
    assert np.all(prior.a == 0) and np.all(prior.b == 0) and np.all(prior.s_a == 0)
    assert set(prior.to_json()["draws"]) == {"m", "s_mu", "ell", "s_tau", "a", "b", "s_a"}


def test_sweep_specific_calibration_level_is_drawn_for_a_new_sweep():
    """Population predictive: a new sweep's a_s ~ Normal(a, s_a^2); a file without s_a
    (a shared by the field) gives exactly the old draws of mu, tau and a."""
    n = 50
    base = {"m": np.full(n, -0.01), "s_mu": np.full(n, 0.01), "ell": np.full(n, np.log(0.01)),
            "s_tau": np.full(n, 0.5), "a": np.full(n, -0.5), "b": np.full(n, -0.3)}
    old = dsc.FieldPrior.from_json({"draws": {k: v.tolist() for k, v in base.items()}})
    new = dsc.FieldPrior(**base, s_a=np.full(n, 0.4))
    d_old, d_new = old.sample_all(20000, seed=3), new.sample_all(20000, seed=3)
    assert np.all(d_old["a"] == -0.5)
    np.testing.assert_array_equal(d_old["mu"], d_new["mu"])
    np.testing.assert_array_equal(d_old["tau"], d_new["tau"])
    # SD of 20000 normal draws: 0.4 +- 0.002 (1 SE); tolerance 0.02 is 10 SE.
    assert abs(np.std(d_new["a"]) - 0.4) < 0.02 and abs(np.mean(d_new["a"]) + 0.5) < 0.02
    again = dsc.FieldPrior.from_json(new.to_json())
    np.testing.assert_array_equal(again.s_a, new.s_a)


def test_weighted_fold_errors_count_each_run_once():
    """Weight 2 on a row is the same likelihood as the row twice; weight 0 drops it."""
    rng = np.random.default_rng(2)
    errors = pd.DataFrame({"e": 0.01 * rng.standard_normal(6), "sd": 0.01,
                           "d": np.linspace(0.2, 1.0, 6)})
    twice = pd.concat([errors, errors.iloc[:2]], ignore_index=True)
    weighted = errors.assign(w=[2.0, 2.0, 1, 1, 1, 1])
    a, b = (dsc.update_with_errors(KNOWN, t, seed=0) for t in (twice, weighted))
    assert a.ess == pytest.approx(b.ess, rel=1e-9)
    dropped = errors.assign(w=[0.0, 1, 1, 1, 1, 1])
    c, d = (dsc.update_with_errors(KNOWN, t, seed=0) for t in (errors.iloc[1:], dropped))
    assert c.ess == pytest.approx(d.ess, rel=1e-9)
    with pytest.raises(ValueError, match="'w'"):
        dsc.update_with_errors(KNOWN, errors.assign(w=-1.0))
    with pytest.raises(ValueError, match="between 0 and 1"):
        dsc.fold_errors(None, fraction=(0.5, 1.2))


def test_correlated_fold_likelihood_is_the_dense_gaussian_density():
    """The Woodbury form of a fold's likelihood equals the dense multivariate normal
    log-density (slogdet and solve of the full covariance) to rounding, draw by draw."""
    rng = np.random.default_rng(3)
    n, k, draws = 30, 4, 20
    W = 0.4 * rng.standard_normal((n, k))
    g = np.maximum(1.0 - np.sum(W ** 2, axis=1), 0.05)
    W = W / np.sqrt(np.sum(W ** 2, axis=1) + g)[:, None]  # unit diagonal
    g = 1.0 - np.sum(W ** 2, axis=1)
    e, sd, d = 0.02 * rng.standard_normal(n), rng.uniform(0.005, 0.05, n), rng.uniform(0.1, 2, n)
    lam = np.exp(0.3 * rng.standard_normal((draws, n)))
    tau, mu = np.exp(rng.normal(-4.0, 0.5, draws)), rng.normal(-0.01, 0.01, draws)
    from bayes_scaling.models.discrepancy_update import _fold_loglik

    fast = _fold_loglik(e, sd, d, lam, tau, mu, (W, g))
    R = W @ W.T + np.diag(g)
    for j in range(draws):
        scale = np.diag(lam[j] * sd)
        cov = scale @ R @ scale + np.diag((tau[j] * d) ** 2) + 1e-12 * np.eye(n)
        resid = e - mu[j] * d
        dense = -0.5 * (np.linalg.slogdet(cov)[1] + resid @ np.linalg.solve(cov, resid))
        assert fast[j] == pytest.approx(dense, abs=1e-8)


def test_resample_move_matches_a_brute_force_importance_sample():
    """300 informative errors (16,000 prior candidates keep an ESS of about 50): the moved
    draws are distinct and their posterior mean and SD of mu and log tau match an
    importance sample of 100,000 prior candidates (ESS about 300; tolerance 0.4 posterior
    SD, 4 Monte-Carlo SEs of an ESS-100 mean)."""
    from bayes_scaling.models.discrepancy_update import _ess, _log_likelihood

    rng = np.random.default_rng(5)
    d, sd = rng.uniform(0.2, 2.0, 300), np.full(300, 0.003)
    e = -0.02 * d + np.sqrt(sd ** 2 + (0.006 * d) ** 2) * rng.standard_normal(300)
    errors = pd.DataFrame({"e": e, "sd": sd, "d": d})
    disc = dsc.update_with_errors(KNOWN, errors, seed=0)
    assert disc.ess < 200 and len(np.unique(disc.mu)) > 1000
    brute = KNOWN.sample_all(100_000, 9)
    w, _ = _ess(np.concatenate([_log_likelihood(errors, *(brute[k][i:i + 50_000]
                                                          for k in ("mu", "tau", "a", "b")))
                                for i in range(0, 100_000, 50_000)]))
    for moved, cand in ((disc.mu, brute["mu"]), (np.log(disc.tau), np.log(brute["tau"]))):
        mean = np.sum(w * cand)
        spread = np.sqrt(np.sum(w * (cand - mean) ** 2))
        assert abs(moved.mean() - mean) < 0.4 * spread
        assert 0.8 < moved.std() / spread < 1.25


def test_correlation_factor_splits_the_curves_rank_from_the_noise():
    """Curves driven by 2 parameters plus independent noise: rank 2 is kept, the diagonal
    is 1, and W W' + diag(g) matches the draws' correlation (4000 draws: sampling SD of
    a correlation about 0.016; tolerance 0.08 is 5 SD)."""
    rng = np.random.default_rng(4)
    theta = rng.standard_normal((4000, 2))
    curve = theta @ rng.standard_normal((2, 12))
    noise = 0.7 * rng.standard_normal((4000, 12))
    W, g = dsc.correlation_factor(curve, noise)
    assert W.shape == (12, 2)
    np.testing.assert_allclose(np.sum(W ** 2, axis=1) + g, 1.0, atol=1e-12)
    empirical = np.corrcoef(curve + noise, rowvar=False)
    assert np.max(np.abs(W @ W.T + np.diag(g) - empirical)) < 0.08
    with pytest.raises(ValueError, match="pair"):
        errors = pd.DataFrame({"e": [0.0] * 12, "sd": 0.01, "d": 1.0, "fold": 0.5})
        errors.attrs["corr"] = {0.5: empirical}
        dsc.update_with_errors(KNOWN, errors)


def test_predict_default_adds_the_discrepancy_only_beyond_the_data(small_fit):
    largest = small_fit.runs.frame.loc[small_fit.runs.frame["C"].idxmax()]
    n, d = largest["N"] * np.array([0.5, 1.0, 10.0]), largest["D"] * np.array([0.5, 1.0, 10.0])
    honest = small_fit.predict(N=n, D=d, seed=3)
    plain = small_fit.predict(N=n, D=d, seed=3, extrapolation="none")
    np.testing.assert_allclose(honest["decades_beyond"], [0.0, 0.0, 2.0], atol=1e-9)
    assert (honest["band"] == "predictive + field discrepancy").all()
    assert (plain["band"] == "plain predictive").all()
    # Same seed, zero discrepancy inside the data: identical bands there.
    np.testing.assert_allclose(honest[["pred_lower", "pred_upper"]].iloc[:2],
                               plain[["pred_lower", "pred_upper"]].iloc[:2])
    # The curve's credible band never changes.
    np.testing.assert_allclose(honest[["lower", "upper"]], plain[["lower", "upper"]])
    width = np.log(honest["pred_upper"] / honest["pred_lower"]).iloc[2]
    plain_width = np.log(plain["pred_upper"] / plain["pred_lower"]).iloc[2]
    assert width > plain_width
    with pytest.raises(ValueError, match="extrapolation must be"):
        small_fit.predict(N=1e9, D=1e10, extrapolation="gp")


def test_update_recovers_a_known_drift_and_scale():
    """400 fold errors simulated with mu = -0.02, tau = 0.01 per decade: the updated draws
    centre on the truth (posterior SD of mu here ~0.001, tolerance 0.005)."""
    rng = np.random.default_rng(0)
    d = rng.uniform(0.2, 2.0, 400)
    sd = np.full(400, 0.005)
    e = -0.02 * d + np.sqrt(sd ** 2 + (0.01 * d) ** 2) * rng.standard_normal(400)
    wide = dsc.FieldPrior(m=np.zeros(10), s_mu=np.full(10, 0.03), ell=np.full(10, np.log(0.01)),
                          s_tau=np.full(10, 1.0))
    disc = dsc.update_with_errors(wide, pd.DataFrame({"e": e, "sd": sd, "d": d}), seed=0,
                                  num=4000)
    assert disc.source == "field + own folds"
    assert abs(np.mean(disc.mu) + 0.02) < 0.005
    assert 0.005 < np.median(disc.tau) < 0.02


def test_correct_law_errors_shrink_the_discrepancy():
    """Fold errors that are pure predictive noise (a correct law): the update moves the
    drift to ~0 and the scale below the prior's."""
    rng = np.random.default_rng(1)
    d = rng.uniform(0.2, 1.0, 60)
    sd = np.full(60, 0.006)
    e = sd * rng.standard_normal(60)
    disc = dsc.update_with_errors(KNOWN, pd.DataFrame({"e": e, "sd": sd, "d": d}), seed=0)
    prior_mu, prior_tau = KNOWN.sample(4000, seed=0)
    assert abs(np.mean(disc.mu)) < abs(np.mean(prior_mu))
    assert np.median(disc.tau) < np.median(prior_tau)


def test_predict_default_updates_the_field_prior_with_own_folds_compiling_nothing(example_fit):
    """The default band beyond the data: the field prior updated by the fit's own folds,
    whose refits use the fit's settings and priors padded to its table size (so nothing
    is compiled or traced), computed once and kept on the fit."""
    from bayes_scaling import inference

    traces, samplers = inference.trace_count(), inference.compiled_sampler_count()
    disc = example_fit.discrepancy()
    assert inference.compiled_sampler_count() == samplers  # nothing compiled...
    assert inference.trace_count() == traces  # ...or even traced
    assert disc.source == "field + own folds" and disc.ess > 1 and len(disc.mu) == 4000
    assert example_fit.discrepancy() is disc
    sizes = {"N": [1e9, 7e10], "D": [2e10, 1.4e12]}  # inside the data, 2.3 decades beyond
    table = example_fit.predict(**sizes)
    assert table["band"].eq("predictive + field + own folds discrepancy").all()
    assert table["decades_beyond"].iloc[0] == 0 < table["decades_beyond"].iloc[1]
    pd.testing.assert_frame_equal(table, example_fit.predict(**sizes, extrapolation=disc))
    with pytest.raises(ValueError, match="cannot pad"):
        bs.fit(example_fit.runs.frame, bucket=10, draws=10, warmup=10)


def test_small_sweep_gets_the_field_prior_and_a_note(small_fit):
    with pytest.warns(dsc.FieldPriorOnlyWarning, match="field prior alone"):
        calib = dsc.calibrate_discrepancy(small_fit, prior=KNOWN)
    assert calib.errors is None and "field prior alone" in calib.note
    table = calib.predict(N=1e10, D=2e11)
    assert table["band"].item() == "predictive + field discrepancy"
    assert np.isfinite(table[["pred_lower", "pred_upper"]].to_numpy()).all()


def test_field_prior_folds_and_variants_share_one_compiled_sampler():
    """Leave-one-sweep-out folds and model variants reuse one program (a fresh numpyro
    MCMC per call compiled every time and exhausted the process's memory maps)."""
    from bayes_scaling.inference.nuts import compiled_sampler_count

    rng = np.random.default_rng(0)
    errors = {f"s{i}": pd.DataFrame({"e": 0.01 * rng.standard_normal(5), "sd": 0.01,
                                     "d": np.linspace(0.2, 1.0, 5)}) for i in range(3)}
    small = {"chains": 1, "draws": 50, "warmup": 50}
    fit_field_prior(errors, exclude="s0", seed=0, **small)
    before = compiled_sampler_count()
    fit_field_prior(errors, exclude="s1", seed=1, drift=False, sweep_calibration=False, **small)
    fit_field_prior(errors, seed=2, calibrate=False, **small)
    assert compiled_sampler_count() == before


def test_field_prior_needs_two_sweeps():
    with pytest.raises(ValueError, match="at least 2 sweeps"):
        fit_field_prior({"one": pd.DataFrame({"e": [0.0], "sd": [0.01], "d": [1.0]})})


def test_split_sweep_cuts_at_65_percent_of_log_compute():
    runs = pd.DataFrame({"C": 10.0 ** np.arange(17, 23), "loss": 1.0})
    train, test, cut = split_sweep(runs)
    assert cut == pytest.approx(10 ** (17 + 0.65 * 5))
    assert len(train) == 4 and len(test) == 2


@pytest.mark.slow
def test_field_prior_recovers_known_hyperparameters(seed):
    """12 simulated sweeps with mu_s ~ N(-0.015, 0.005^2), tau_s = 0.01: the population
    mean drift is inside its 95% interval and the scale within a factor 2."""
    rng = np.random.default_rng(5)
    errors = {}
    for s in range(12):
        d = rng.uniform(0.1, 1.5, 40)
        sd = np.full(40, 0.006)
        mu = -0.015 + 0.005 * rng.standard_normal()
        e = mu * d + np.sqrt(sd ** 2 + (0.01 * d) ** 2) * rng.standard_normal(40)
        errors[f"s{s}"] = pd.DataFrame({"e": e, "sd": sd, "d": d})
    prior = fit_field_prior(errors, seed=seed, chains=2, draws=1000, warmup=1000)
    lo, hi = np.quantile(prior.m, [0.025, 0.975])
    assert lo < -0.015 < hi
    assert 0.005 < np.exp(np.median(prior.ell)) < 0.02


@pytest.mark.slow
def test_nested_folds_weigh_each_run_once_and_carry_their_correlation(seed):
    """56 fitted runs on 7 budgets: the 50/65/80% cuts give nested folds; a run held out
    by k folds has weight 1/k (weights sum to the distinct runs), and each fold carries
    its fit's predictive correlation as (W, g), low rank plus diagonal."""
    runs = _iso_runs(np.geomspace(1e17, 1e20, 7), seed=4)
    fit = bs.fit(runs, seed=seed, warn=False, **SMALL)
    errors, reason = dsc.fold_errors(fit, seed=seed, **SMALL)
    assert reason == "" and set(errors["fold"]) <= set(dsc.FOLD_FRACTIONS)
    distinct = len(errors.groupby("fold").size())
    assert distinct >= 2
    assert errors["w"].sum() == pytest.approx(errors.groupby("fold").size().max())
    for f, rows in errors.groupby("fold"):
        W, g = errors.attrs["corr"][f]
        assert W.shape[0] == len(rows) and 1 <= W.shape[1] <= 32
        np.testing.assert_allclose(np.sum(W ** 2, axis=1) + g, 1.0, atol=1e-12)
        assert np.all(g >= 0)
    disc = dsc.update_with_errors(KNOWN, errors, seed=seed)
    assert disc.source == "field + own folds" and np.isfinite(disc.ess)


@pytest.mark.slow
def test_field_prior_recovers_a_known_spread_of_the_band_calibration(seed):
    """12 simulated sweeps whose band calibration level a_s is spread with SD 0.4 around
    -0.5 (b = -0.5 shared; plain SDs 0.004-0.1): the truth lies inside the 99% posterior
    intervals of a, s_a and b (quantiles from 4000 draws: Monte-Carlo error ~0.01 of the
    interval's width), and the shared-a fit (s_a = 0) leaves s_a at exactly 0."""
    rng = np.random.default_rng(11)
    levels = -0.5 + 0.4 * np.linspace(-1.6, 1.6, 12)[rng.permutation(12)]
    errors = {}
    for s, a_s in enumerate(levels):
        sd = np.exp(rng.uniform(np.log(0.004), np.log(0.1), 40))
        d = rng.uniform(0.3, 1.5, 40)
        lam = np.exp((a_s - 0.5 * np.log(sd / dsc.SD_REF)) * np.minimum(d, 1.0))
        e = np.sqrt((lam * sd) ** 2 + (0.003 * d) ** 2) * rng.standard_normal(40)
        errors[f"s{s}"] = pd.DataFrame({"e": e, "sd": sd, "d": d})
    prior = fit_field_prior(errors, seed=seed, chains=2, draws=2000, warmup=1000)
    for name, truth in (("a", -0.5), ("s_a", 0.4), ("b", -0.5)):
        lo, hi = np.quantile(getattr(prior, name), [0.005, 0.995])
        assert lo < truth < hi, (name, lo, hi)
    assert prior.provenance["divergences"] < 0.01 * 4000


def _coverage(bend, seed, prior=KNOWN):
    """90% coverage of 32 runs 0.1-2 decades beyond 56 fitted iso-FLOP runs: plain band,
    ``prior`` alone, ``prior`` + own folds (``prior=None``: the shipped field prior)."""
    prior = dsc.load_field_prior() if prior is None else prior
    runs = _iso_runs(np.geomspace(1e17, 1e22, 11), seed=seed, bend=bend)
    train, test = runs[runs["C"] <= 1.1e20], runs[runs["C"] > 1.1e20]
    fit = bs.fit(train, seed=seed, warn=False, **SMALL)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dsc.FieldPriorOnlyWarning)
        calib = dsc.calibrate_discrepancy(fit, prior=prior, **SMALL)
    y = test["loss"].to_numpy()
    out = {}
    alone = dsc.Discrepancy.from_field(prior, seed=seed)
    for name, table in (("plain", fit.predict(N=test["N"], D=test["D"], extrapolation="none")),
                        ("field", fit.predict(N=test["N"], D=test["D"], extrapolation=alone)),
                        ("own", calib.predict(N=test["N"], D=test["D"]))):
        out[name] = float(np.mean((y >= table["pred_lower"]) & (y <= table["pred_upper"])))
    return out


# 12 simulated data sets x 32 held-out runs. Measured (shipped prior, own folds): the
# per-data-set 90% coverage has an SD of ~0.15 (runs of one data set share one fit), so the
# mean over 12 has a Monte-Carlo SE of ~0.045; the bar 0.8 is 2.2 SE below nominal 0.9.
COVERAGE_SETS = tuple(range(1, 13))
_COVERAGE_CACHE: dict = {}


def _coverages(bend, prior_name):
    key = (bend, prior_name)
    if key not in _COVERAGE_CACHE:
        prior = {"known": KNOWN, "shipped": None}[prior_name]
        _COVERAGE_CACHE[key] = [_coverage(bend, s, prior=prior) for s in COVERAGE_SETS]
    return _COVERAGE_CACHE[key]


@pytest.mark.slow
@pytest.mark.parametrize("prior_name", ["known", "shipped"])
def test_correct_law_keeps_nominal_coverage(prior_name):
    """Correct law: the field prior updated by the own folds keeps mean 90% coverage
    >= 0.8 (measured 0.96 known / 0.92 shipped prior; tolerance above)."""
    cover = [c["own"] for c in _coverages(0.0, prior_name)]
    assert np.mean(cover) >= 0.8, cover


@pytest.mark.slow
@pytest.mark.parametrize("prior_name", ["known", "shipped"])
def test_bending_truth_recovers_coverage(prior_name):
    """Bending truth (larger runs beat the law): the plain band's mean 90% coverage
    collapses (measured 0.39), the field prior + own folds restores it (>= 0.8; measured
    0.96 known / 0.92 shipped prior)."""
    cover = _coverages(0.008, prior_name)
    plain = np.mean([c["plain"] for c in cover])
    own = np.mean([c["own"] for c in cover])
    assert plain < 0.6 and own >= 0.8, cover


@pytest.mark.realdata
def test_field_sweeps_cover_every_shared_sweep():
    from bayes_scaling.data.datasets import shared_data_available
    from bayes_scaling.extrapolation.field import field_sweeps

    if not shared_data_available():
        pytest.skip("shared data folder not found (../shared/data or $BAYES_SCALING_DATA)")
    sweeps = {s.name: s for s in field_sweeps()}
    assert len(sweeps) == 12
    assert len(sweeps["chinchilla"].runs) == 240 and len(sweeps["pythia final"].runs) == 16
    assert sweeps["pythia final"].law == "power_law_N"
    for sweep in sweeps.values():
        train, test, cut = split_sweep(sweep.runs)
        assert len(train) >= 10 and len(test) >= 5
        assert train["C"].max() <= cut < test["C"].min()
