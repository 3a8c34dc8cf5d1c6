"""Learning curves with run effects: recovery, new-run bands, coverage vs the iid fit, Pythia."""

import warnings

import numpy as np
import pandas as pd
import pytest

import bayes_scaling as bs
from bayes_scaling.compare.loo import with_log_likelihood
from bayes_scaling.data import RunsTableError
from bayes_scaling.data.datasets import DATA_ENV_VAR, data_root, load_pythia, shared_data_available
from bayes_scaling.inference import trace_count
from bayes_scaling.results.learning_curves import (
    LearningCurveFit,
    fit_learning_curves,
    select_checkpoints,
    simulate_learning_curves,
)

needs_data = pytest.mark.skipif(
    not shared_data_available(),
    reason=f"shared data folder not found at {data_root(check=False)} "
           f"(set {DATA_ENV_VAR} to run the real-data tests)",
)

TRUTH = {"E": 1.8, "A": 480.0, "alpha": 0.35, "B": 2000.0, "beta": 0.37}
TAU, SIGMA = 0.02, 0.005
SIZES = np.geomspace(5e7, 4e8, 5)   # five runs, each to 20 tokens per parameter
N_NEW = 1.6e9                       # the new run: 4x the largest fitted model
SMALL = {"chains": 2, "draws": 400, "warmup": 400}


def _checkpoints(seed, tau=TAU, sizes=SIZES):
    return simulate_learning_curves("chinchilla", TRUTH, N=sizes, D_final=20 * sizes,
                                    num_checkpoints=8, tau=tau, noise=SIGMA, seed=seed)


@pytest.fixture(scope="module")
def curves(seed):
    table = _checkpoints(seed=1)  # the coverage design: one compiled sampler serves both
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.SamplingWarning)
        return table, fit_learning_curves(table, seed=seed + 1, **SMALL)


def test_recovers_tau_sigma_and_law(curves):
    """Truth inside the 90% intervals of tau, sigma and the law's parameters."""
    table, result = curves
    assert isinstance(result, LearningCurveFit) and isinstance(result, bs.ScalingFit)
    summary = result.summary()
    truth = {**TRUTH, "sigma": SIGMA, "tau": TAU}
    for name, true in truth.items():
        row = summary.loc[name]
        assert row["lower"] <= true <= row["upper"], (name, row.to_dict())
    assert abs(summary.loc["sigma", "median"] - SIGMA) < 0.0015
    effects = result.run_effects()
    true_u = np.array([table.attrs["run_effects"][r] for r in effects["run"]])
    inside = (effects["effect_lower"] <= true_u) & (true_u <= effects["effect_upper"])
    assert inside.mean() >= 0.75, effects.assign(truth=true_u)


def test_new_run_band_includes_run_spread(curves):
    _, result = curves
    # The plain band: beyond the data the default field discrepancy rescales it.
    new = result.predict(N=N_NEW, D=20 * N_NEW, extrapolation="none")
    tau = float(np.median(result.draws("tau")))
    log_pred = np.log(new["pred_upper"] / new["pred_lower"])[0]
    log_curve = np.log(new["upper"] / new["lower"])[0]
    # The predictive band of a new run adds tau (and sigma) to the curve's band.
    # Variances add: a 90% band's log-width grows by at least (2 x 1.645 tau)^2 in square.
    assert log_pred**2 > log_curve**2 + 0.9 * (2 * 1.645 * tau) ** 2, (log_pred, log_curve, tau)
    label = result.run_labels[-1]
    own = result.predict(N=8e8, D=1.6e10, run=label)
    assert own["run"].iloc[0] == label
    assert own["pred_upper"].iloc[0] / own["pred_lower"].iloc[0] < \
        new["pred_upper"].iloc[0] / new["pred_lower"].iloc[0]
    alloc = result.optimal_allocation(C=1e22)  # the ScalingFit methods work unchanged
    assert alloc["N_opt_lower"].iloc[0] < alloc["N_opt"].iloc[0] < alloc["N_opt_upper"].iloc[0]


def test_pointwise_log_likelihood_is_computed_on_demand_with_the_run_effects(curves,
                                                                            monkeypatch):
    table, result = curves
    assert "log_likelihood" not in result.posterior.children  # not stored by default
    values = result.log_likelihood()
    chains, draws = SMALL["chains"], SMALL["draws"]
    assert values.shape == (chains, draws, len(table))
    # The model's density, written out: law + run effect, Normal(sigma) on log-loss.
    post = result.posterior["posterior"]
    flat = {k: post[k].values.reshape((chains * draws,) + post[k].shape[2:])
            for k in ("E", "A", "alpha", "B", "beta", "sigma", "run_effect")}
    runs = result.runs.frame
    index = np.searchsorted(np.asarray(result.run_labels), runs["run"].astype(str).to_numpy())
    mean = np.log(flat["E"][:, None] + flat["A"][:, None] / runs["N"].to_numpy() ** flat["alpha"][
        :, None] + flat["B"][:, None] / runs["D"].to_numpy() ** flat["beta"][:, None])
    mean = mean + flat["run_effect"][:, index]
    sigma = flat["sigma"][:, None]
    expected = (-0.5 * ((np.log(runs["loss"].to_numpy()) - mean) / sigma) ** 2
                - np.log(sigma) - 0.5 * np.log(2 * np.pi))
    np.testing.assert_allclose(values.reshape(chains * draws, -1), expected, rtol=1e-8)
    # In blocks of 64 draws (the last one padded): the same values.
    monkeypatch.setattr("bayes_scaling.inference.pointwise.BLOCK_ELEMENTS", 64 * len(table))
    blocked = result._pointwise_log_likelihood()
    np.testing.assert_allclose(blocked, values, rtol=1e-12)
    tree = with_log_likelihood(result)  # what LOO reads
    assert tree["log_likelihood"]["log_loss"].sizes["run"] == len(table)


def test_input_errors_name_the_column():
    table = _checkpoints(seed=0)
    with pytest.raises(RunsTableError, match="column 'run'") as info:
        fit_learning_curves(table.drop(columns="run"))
    assert info.value.column == "run"
    with pytest.raises(RunsTableError, match="column 'experiment'"):
        fit_learning_curves(table, run="experiment")
    renamed = table.rename(columns={"run": "run_id"})
    assert set(select_checkpoints(renamed).frame["run"]) == set(table["run"])
    with pytest.raises(RunsTableError, match="at least two runs"):
        fit_learning_curves(table[table["run"] == "run0"])
    with pytest.raises(RunsTableError, match="no checkpoint left"):
        select_checkpoints(table, min_tokens=1e15)
    mixed = table.copy()
    mixed.loc[3, "N"] *= 2
    with pytest.raises(RunsTableError, match="different N"):
        select_checkpoints(mixed)
    kept = select_checkpoints(table, min_tokens=1e9, lr_warmup_tokens={"run4": 5e9})
    assert kept.frame["D"].min() >= 1e9
    assert kept.frame.loc[kept.frame["run"] == "run4", "D"].min() > 5e9
    assert "run" in table.columns and len(table) == 40  # the caller's table is untouched


def _ragged_table(seed):
    """Four runs with 3, 4, 6 and 9 checkpoints, rows shuffled (not in run or token order)."""
    rng = np.random.default_rng(seed)
    frames = [simulate_learning_curves("chinchilla", TRUTH, N=n, D_final=20 * n,
                                       num_checkpoints=k, tau=TAU, noise=SIGMA, seed=seed + i)
              .assign(run=f"r{i}")
              for i, (n, k) in enumerate(zip((5e7, 1e8, 2e8, 4e8), (3, 4, 6, 9), strict=True))]
    table = pd.concat(frames, ignore_index=True)
    return table.iloc[rng.permutation(len(table))].reset_index(drop=True)


def _marginal_by_hand(table, params, tau, sigma, rho):
    """log p(log-loss | law, tau, sigma, rho) and each run's conditional mean and SD of u,
    from the multivariate normal of each run's residuals: cov = tau^2 11' + AR(1) cov."""
    from scipy.stats import multivariate_normal

    total, moments = 0.0, {}
    for run, rows in table.groupby("run"):
        rows = rows.sort_values("D")
        law = np.log(params["E"] + params["A"] / rows["N"].to_numpy() ** params["alpha"]
                     + params["B"] / rows["D"].to_numpy() ** params["beta"])
        r = np.log(rows["loss"].to_numpy()) - law
        lag = np.abs(np.subtract.outer(np.arange(len(r)), np.arange(len(r))))
        cov = tau**2 + sigma**2 * rho**lag
        total += multivariate_normal(np.zeros(len(r)), cov).logpdf(r)
        inv_one = np.linalg.solve(cov, np.ones(len(r)))
        moments[run] = (tau**2 * inv_one @ r, np.sqrt(tau**2 - tau**4 * inv_one.sum()))
    return total, moments


@pytest.mark.parametrize("ar1", [False, True])
@pytest.mark.parametrize("padded", [False, True])
def test_collapsed_density_is_the_marginal_over_run_effects(ar1, padded):
    """The collapsed model's factor equals the multivariate-normal marginal written out
    (run effect and AR(1) residuals in one covariance), on ragged, shuffled rows and with
    shape-bucket padding; the run-effect conditional equals Gaussian conditioning."""
    import jax

    from bayes_scaling.inference.buckets import bucket_size
    from bayes_scaling.models.learning_curves import _collapsed_log_likelihood as collapsed
    from bayes_scaling.models.learning_curves import (
        chunked_layout,
        collapsed_terms,
        run_effect_conditional,
    )
    from bayes_scaling.results.learning_curves import _run_structure

    table = _ragged_table(3)
    params = {"E": 1.7, "A": 300.0, "alpha": 0.33, "B": 2500.0, "beta": 0.38}
    tau, sigma, rho = 0.03, 0.007, (0.6 if ar1 else 0.0)
    labels, run_index, _, _ = _run_structure(table)
    layout = chunked_layout(run_index, table["D"].to_numpy(), len(labels),
                            pad=bucket_size if padded else (lambda n: n))
    rows = layout.pop("rows")
    assert layout.pop("chunk") in (1, 2, 4)
    with jax.enable_x64(True):
        law = np.log(params["E"] + params["A"] / table["N"].to_numpy() ** params["alpha"]
                     + params["B"] / table["D"].to_numpy() ** params["beta"])
        resid = jax.numpy.asarray((np.log(table["loss"].to_numpy()) - law)[rows])
        q, b, c, normaliser = collapsed_terms(resid, layout, sigma, rho, ar1)
        value = float(collapsed(q, b, c, normaliser, tau))
        mean, sd = (np.asarray(x)[: len(labels)] for x in run_effect_conditional(b, c, tau))
    expected, moments = _marginal_by_hand(table, params, tau, sigma, rho)
    np.testing.assert_allclose(value, expected, rtol=1e-10)
    np.testing.assert_allclose(mean, [moments[r][0] for r in labels], rtol=1e-8)
    np.testing.assert_allclose(sd, [moments[r][1] for r in labels], rtol=1e-8)


# -m slow (default-suite budget): the collapsed density is checked exactly above, and
# the default suite's recovery test fits the collapsed model against known truth
@pytest.mark.slow
@pytest.mark.parametrize("ar1", [False, True])
def test_collapsed_and_latent_fits_agree_in_distribution(ar1, seed):
    """The collapsed model (run effects integrated out, then drawn from their conditional)
    and the latent model (run effects sampled by NUTS) give one posterior: means of the
    law, sigma, tau (rho) and every run effect agree within 5 combined Monte-Carlo
    standard errors (sd / sqrt(bulk ESS) per fit; < 1e-6 per quantity for correct
    samplers). Eight sizes over two decades, so the law is well identified."""
    from arviz_stats import ess

    sizes = np.geomspace(2e7, 2e9, 8)
    table = _checkpoints(seed=7, sizes=sizes)
    settings = {"chains": 4, "draws": 600, "warmup": 400, "warn": False, "ar1": ar1}
    fits = [fit_learning_curves(table, seed=seed + 1, collapsed=True, **settings),
            fit_learning_curves(table, seed=seed + 2, collapsed=False, **settings)]
    a, b = (f.summary() for f in fits)
    gap = (a["mean"] - b["mean"]).abs()
    assert (gap < 5 * np.hypot(a["mcse_mean"], b["mcse_mean"])).all(), (gap, a, b)
    means, errors = [], []
    for f in fits:
        draws = f.posterior["posterior"]["run_effect"]
        means.append(draws.mean(("chain", "draw")).values)
        bulk = ess(f.posterior, var_names=["run_effect"], method="bulk")["run_effect"].values
        errors.append(draws.std(("chain", "draw")).values / np.sqrt(bulk))
    assert (np.abs(means[0] - means[1]) < 5 * np.hypot(*errors)).all(), (means, errors)
    # the collapsed sampler has a handful of dimensions: far fewer leapfrog steps
    steps = [float(f.posterior["sample_stats"]["n_steps"].mean()) for f in fits]
    assert steps[0] < steps[1], steps


def test_a_new_table_size_inside_a_seen_bucket_compiles_nothing(seed):
    """Collapsed fits pad checkpoint chunks and runs to shape buckets: 5 and then 6 runs of
    8 checkpoints run one compiled sampler (and one run-effect program)."""
    table = _checkpoints(seed=2, sizes=np.geomspace(5e7, 6e8, 6))
    settings = {"seed": seed, "warn": False, **SMALL}
    fit_learning_curves(table[table["run"] != "run5"], **settings)
    before = trace_count()
    six = fit_learning_curves(table, **settings)
    assert trace_count() == before
    assert six.draws("run_effect").shape == (SMALL["chains"] * SMALL["draws"], 6)


def test_outlier_report_checks_each_checkpoint_against_its_own_run(seed):
    """Runs sit tau = 0.05 (10 sigma) around the law: the report centres each checkpoint
    on law + its run's effect, so one checkpoint raised by 0.08 in log-loss (16 sigma)
    has p < 1e-3 (measured 7e-5; centred on the law alone, as before, p = 0.04), and the
    clean 39 are not flagged: a clean checkpoint's two-sided p < 0.001 has probability
    <= 0.001, so >= 3 of 39 by chance has probability < 1e-5."""
    from bayes_scaling.checks import outlier_report

    table = _checkpoints(seed=4, tau=0.05)
    bad = table.index[13]
    table.loc[bad, "loss"] *= np.exp(0.08)
    report = outlier_report(fit_learning_curves(table, seed=seed, warn=False, **SMALL))
    assert report.loc[bad, "p_value"] < 1e-3, report.loc[bad]
    assert (report.drop(index=bad)["p_value"] < 1e-3).sum() <= 2, report


def _coverage(seeds, tau=TAU, sampler=None, fit_seed=0):
    """Share of data sets whose 90% predictive band for a new run's loss (at N_NEW, 20
    tokens per parameter) covers that run's simulated loss, for both models."""
    sampler = SMALL if sampler is None else sampler
    tables = [_checkpoints(seed, tau) for seed in seeds]
    naive = bs.fit_many([t.drop(columns="run") for t in tables], **sampler, seed=fit_seed)
    truth_curve = float(bs.simulate("chinchilla", TRUTH, N=N_NEW, D=20 * N_NEW,
                                    noise=0)["loss"].iloc[0])
    hits = {"random_effect": 0, "naive": 0}
    traces = []
    for i, (seed, table) in enumerate(zip(seeds, tables, strict=True)):
        rng = np.random.default_rng(10_000 + seed)
        observed = truth_curve * np.exp(rng.normal(0, tau) + rng.normal(0, SIGMA))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", bs.SamplingWarning)
            re_fit = fit_learning_curves(table, seed=fit_seed + seed, **sampler)
        traces.append(trace_count())
        for name, result in (("random_effect", re_fit), ("naive", naive[i])):
            # The plain bands: this compares the two models' own new-run bands, not the
            # field discrepancy both would add beyond the data.
            band = result.predict(N=N_NEW, D=20 * N_NEW, extrapolation="none")
            hits[name] += band["pred_lower"].iloc[0] <= observed <= band["pred_upper"].iloc[0]
    assert len(set(traces)) == 1  # one compiled sampler served every data set
    hits = {name: count / len(seeds) for name, count in hits.items()}
    print(f"coverage of the 90% new-run band over {len(seeds)} data sets: {hits}")
    return hits


@pytest.mark.slow  # default-suite budget: the statistical claim runs with -m slow
def test_naive_fit_is_overconfident_small(seed):
    """8 data sets (5 runs x 8 checkpoints, tau = 0.02, sigma = 0.005): the iid fit's 90%
    band for a new 4x larger run covers far less often than the random-effect model's.
    Measured (seeds 0-7): random effect 7/8, iid 4/8."""
    coverage = _coverage(range(8), fit_seed=seed)
    assert coverage["random_effect"] >= 6 / 8, coverage
    assert coverage["naive"] <= 5 / 8, coverage
    assert coverage["random_effect"] - coverage["naive"] >= 2 / 8, coverage


@pytest.mark.slow
def test_naive_fit_is_overconfident(seed):
    """60 data sets: random-effect coverage within Binomial(60, 0.9)'s 99% range
    (>= 47/60), the iid fit's far below nominal (<= 0.7).
    Measured (seeds 100-159): random effect 58/60 (0.97), iid 31/60 (0.52)."""
    coverage = _coverage(range(100, 160), fit_seed=seed)
    assert coverage["random_effect"] >= 47 / 60, coverage
    assert coverage["naive"] <= 0.7, coverage


@pytest.mark.slow  # the beyond_chinchilla notebook runs the same fit by default
@pytest.mark.realdata
@needs_data
def test_pythia_held_out_largest_model(seed):
    """Pythia (standard Pile; N with embeddings; loss = ln LAMBADA perplexity), the 14
    checkpoints past 1e10 tokens of each of the seven smaller models: tau is clearly
    positive and the 90% new-run band covers the held-out 12B model's checkpoints.
    Measured: tau 0.047 (0.020-0.113), sigma 0.032, 14/14 covered. (The iid fit also
    covers 14/14 here, with a band 2.3x narrower in log-width: checkpoint noise is large
    on this task loss, so Pythia alone does not show the iid fit failing.)"""
    evals = load_pythia(deduped=False)
    train = evals[evals["run"] != "pythia-12b"]
    held_out = evals[(evals["run"] == "pythia-12b") & (evals["D"] >= 1e10)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.SamplingWarning)
        result = fit_learning_curves(train, min_tokens=1e10, seed=seed, **SMALL)
    summary = result.summary()
    assert summary.loc["tau", "lower"] > 0.01, summary
    band = result.predict(N=held_out["N"].to_numpy(), D=held_out["D"].to_numpy())
    observed = held_out["loss"].to_numpy()
    covered = (band["pred_lower"] <= observed) & (observed <= band["pred_upper"])
    assert covered.mean() >= 0.8, band.assign(observed=observed)
    assert isinstance(result.runs.frame, pd.DataFrame) and result.runs.num_runs == 7 * 14


@pytest.mark.slow
@pytest.mark.realdata
@needs_data
def test_pythia_residuals_are_autocorrelated(seed):
    """With ar1=True the within-run residuals of Pythia's LAMBADA loss are strongly
    autocorrelated (measured rho 0.89, 0.80-0.95), and tau shrinks (0.019): wiggles that
    persist over checkpoints were partly read as run offsets by the iid-residual model."""
    evals = load_pythia(deduped=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bs.SamplingWarning)
        result = fit_learning_curves(evals[evals["run"] != "pythia-12b"], min_tokens=1e10,
                                     ar1=True, seed=seed, **SMALL)
    summary = result.summary()
    assert summary.loc["rho", "lower"] > 0.5, summary
    assert "rho" in result.param_draws()
