"""Figures of bayes_scaling.plotting: rendered headless, content checked, main figures
compared with committed baseline PNGs.

Content tests share ONE small NUTS fit (4 chains x 300 draws) of the example runs on
the five smallest iso-FLOP lines (6e18..1e20 FLOPs), so extrapolation bands are
visible. Baseline-image tests use posterior draws committed in
``tests/baseline_images/baseline_draws.csv`` (from the same kind of fit): NUTS draws
are not bit-reproducible across CPUs, committed draws are, so the PNG comparison
measures the *drawing* code only.

Regenerate the baselines (after an intended change of a figure) with::

    BAYES_SCALING_REGENERATE_BASELINES=1 .venv/bin/python -m pytest tests/test_plotting.py -k baseline

and look at the PNGs before committing them.
"""

import os

os.environ.setdefault("MPLBACKEND", "Agg")  # headless, without relying on conftest.py

from pathlib import Path  # noqa: E402

import matplotlib  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.testing.compare import compare_images  # noqa: E402

import bayes_scaling as bs  # noqa: E402  (before JAX starts: host devices)
from bayes_scaling.plots import plotting as bp  # noqa: E402

matplotlib.use("Agg")

BASELINE_DIR = Path(__file__).parent / "baseline_images"
BASELINE_DRAWS = BASELINE_DIR / "baseline_draws.csv"
REGENERATE = os.environ.get("BAYES_SCALING_REGENERATE_BASELINES") == "1"
#: RMS (0-255 grey levels) tolerated between a rendering and its baseline. Re-rendering
#: on one machine gives 0 (the draws are fixed); removing one element gives 3.0 (the 90%
#: band of the loss figure) to 10.6 (the iso-FLOP medians): measured when the baselines
#: were made, and checked by test_baseline_comparison_detects_missing_band.
IMAGE_TOL = 1.5
BASELINE_KINDS = {
    # The field prior alone: the default's own-fold refits would tie the image to this
    # machine's sampler trajectories.
    "loss": {"targets": [1e22, 1e23], "extrapolation": "field"},
    "isoflop": {},
    "frontier": {"reference_laws": {"Hoffmann et al. 2022": {
        "E": 1.69, "A": 406.4, "alpha": 0.34, "B": 410.7, "beta": 0.28}}},
}
SMALL_BUDGETS = 1.1e20
NUM_RUNS = 4 * 28


# ------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def runs():
    table = bs.example_runs(seed=0)
    return table[table["budget"] <= SMALL_BUDGETS].reset_index(drop=True)


@pytest.fixture(scope="module")
def fit(runs, seed):
    return bs.fit(runs, law="chinchilla", chains=4, draws=300, warmup=300, seed=seed)


@pytest.fixture(scope="module")
def held_out():
    """Larger runs from the same truth, beyond the fitted budgets (near compute-optimal)."""
    N = np.array([2e9, 5e9, 1.2e10])  # noqa: N806
    return bs.simulate("chinchilla", bs.EXAMPLE_TRUTH, N=N, D=20 * N, noise=0.007, seed=7)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _fit_from_draws(runs: pd.DataFrame, draws: pd.DataFrame) -> bs.ScalingFit:
    """A ScalingFit whose posterior is the given table of draws (columns chain, draw, params)."""
    import arviz_base as azb

    from bayes_scaling.laws import Design

    table = bs.load_runs(runs)
    chains = int(draws["chain"].max()) + 1
    posterior = {name: draws[name].to_numpy().reshape(chains, -1)
                 for name in draws.columns if name not in ("chain", "draw")}
    design = Design(log_centre={k: float(np.mean(np.log(table.column(k)))) for k in "NDC"},
                    log_loss_centre=float(np.mean(np.log(table.loss))),
                    min_loss=float(table.loss.min()))
    return bs.ScalingFit(law=bs.get_law("chinchilla"), likelihood="normal", runs=table,
                         design=design, posterior=azb.from_dict({"posterior": posterior}), seed=0)


@pytest.fixture(scope="module")
def baseline_fit(runs, seed):
    if REGENERATE:
        full = bs.fit(runs, law="chinchilla", chains=4, draws=400, warmup=400, seed=seed)
        names = list(full.law.param_names) + ["sigma"]
        post = full.posterior["posterior"]
        rows = {"chain": np.repeat(np.arange(4), 100), "draw": np.tile(np.arange(100), 4)}
        rows.update({n: post[n].values[:, ::4].ravel() for n in names})
        BASELINE_DIR.mkdir(exist_ok=True)
        pd.DataFrame(rows).to_csv(BASELINE_DRAWS, index=False, float_format="%.17g")
    return _fit_from_draws(runs, pd.read_csv(BASELINE_DRAWS))


# ------------------------------------------------------------------ helpers
def _by_gid(ax, gid):
    return [a for a in ax.get_children() if a.get_gid() == gid]


def _render(fit, kind, path, drop_gid=None):
    """Deterministic rendering: default style, DejaVu Sans, fixed size (the function's) and dpi."""
    with matplotlib.style.context("default"), matplotlib.rc_context(
        {"font.family": "DejaVu Sans", "text.hinting": "default", "figure.dpi": 72,
         "savefig.dpi": 72, "svg.hashsalt": "matplotlib"}
    ):
        out = bp.plot(fit, kind, **BASELINE_KINDS[kind])
        fig = out if isinstance(out, matplotlib.figure.Figure) else out.figure
        if drop_gid is not None:
            removed = 0
            for ax in fig.axes:
                for artist in _by_gid(ax, drop_gid):
                    artist.remove()
                    removed += 1
            assert removed, f"no artist with gid {drop_gid!r} in the {kind} figure"
        fig.savefig(path)
    plt.close(fig)


# ------------------------------------------------------------ loss vs compute
def test_loss_vs_compute_content(fit):
    ax = bp.plot_loss_vs_compute(fit, targets=[1e22, 1e23])
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert "FLOPs" in ax.get_xlabel() and "nats/token" in ax.get_ylabel()
    (runs,) = _by_gid(ax, "runs")
    assert len(runs.get_offsets()) == NUM_RUNS
    (band90,), (band50,), (median,) = (_by_gid(ax, g) for g in ("band90", "band50", "median"))
    assert len(_by_gid(ax, "extrapolation")) == 1
    # The frontier falls with compute; the extrapolation region starts at the largest run.
    y = median.get_ydata()
    assert np.all(np.diff(y) < 0)
    assert ax.get_xlim()[1] == pytest.approx(1.5e23)  # 1.5x the largest target
    # The 90% band contains the 50% band, which contains the median.
    lo90, hi90 = _band_edges(band90)
    lo50, hi50 = _band_edges(band50)
    assert len(lo90) == len(y)
    assert np.all(lo90 <= lo50 + 1e-12) and np.all(hi50 <= hi90 + 1e-12)
    assert np.all((lo50 <= y + 1e-12) & (y <= hi50 + 1e-12))
    # The band widens beyond the data.
    width = np.log(hi90) - np.log(lo90)
    assert width[-1] > 5 * width[0]
    # Targets: a credible (thick) and a wider predictive (capped) interval per target.
    (cred,) = _by_gid(ax, "target_credible")
    (pred,) = _by_gid(ax, "target_predictive")
    cred_seg, pred_seg = cred.get_segments(), pred.get_segments()
    assert len(cred_seg) == len(pred_seg) == 2
    for c, p in zip(cred_seg, pred_seg, strict=True):
        assert p[:, 1].min() < c[:, 1].min() and c[:, 1].max() < p[:, 1].max()
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert {"90% credible band", "50% credible band", "training runs"} <= set(labels)
    # A colour bar of model size in parameters.
    assert any("parameters" in other.get_ylabel() for other in ax.figure.axes if other is not ax)


def _band_edges(collection):
    """Lower and upper y of a fill_between PolyCollection (matplotlib's vertex layout:
    start, lower edge forward, end, upper edge backward, close)."""
    verts = collection.get_paths()[0].vertices
    n = (len(verts) - 3) // 2
    return verts[1:n + 1, 1], verts[n + 2:2 * n + 2, 1][::-1]


def test_loss_vs_compute_held_out_runs_and_given_ax(fit, held_out):
    fig, ax = plt.subplots()
    out = bp.plot_loss_vs_compute(fit, targets=held_out, ax=ax)
    assert out is ax
    (observed,) = _by_gid(ax, "target_observed")
    np.testing.assert_allclose(observed.get_offsets()[:, 1], held_out["loss"])
    np.testing.assert_allclose(observed.get_offsets()[:, 0], held_out["C"])
    with pytest.raises(ValueError, match="two of N, D, C"):
        bp.plot_loss_vs_compute(fit, targets={"N": [1e10]})


# --------------------------------------------------------------- iso-FLOP profiles
def test_isoflop_profiles_content(fit, runs):
    ax = bp.plot_isoflop_profiles(fit)
    budgets = np.sort(runs["budget"].unique())
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert "parameters" in ax.get_xlabel() and "nats/token" in ax.get_ylabel()
    medians, bands = _by_gid(ax, "median"), _by_gid(ax, "band")
    assert len(medians) == len(bands) == len(budgets)
    assert sum(len(s.get_offsets()) for s in _by_gid(ax, "runs")) == NUM_RUNS
    markers = _by_gid(ax, "n_opt")
    assert len(markers) == len(budgets)
    table = fit.optimal_allocation(budgets)
    for line, row, budget in zip(markers, table.itertuples(), budgets, strict=True):
        x, y = line.get_xdata()[0], line.get_ydata()[0]
        np.testing.assert_allclose(x, row.N_opt, rtol=1e-6)
        n_runs = runs.loc[runs["budget"] == budget, "N"]
        assert n_runs.min() < x < n_runs.max()  # the optimum lies inside each profile
        assert 0.9 * row.loss_opt < y < 1.1 * row.loss_opt
    legend = ax.get_legend()
    assert legend is not None and "FLOPs" in legend.get_title().get_text()
    assert len(legend.get_texts()) == len(budgets) + 3


def test_isoflop_profiles_unobserved_budget_is_dashed(fit):
    ax = bp.plot_isoflop_profiles(fit, budgets=[6e18, 1e22])
    solid, dashed = _by_gid(ax, "median")
    assert solid.get_linestyle() == "-" and dashed.get_linestyle() == "--"
    (runs,) = _by_gid(ax, "runs")  # only the fitted budget has runs
    assert len(runs.get_offsets()) == 28


# --------------------------------------------------------------------- frontier
def test_frontier_content(fit):
    ref = BASELINE_KINDS["frontier"]["reference_laws"]
    fig = bp.plot_frontier(fit, C_range=(1e18, 1e26), reference_laws=ref)
    ax_n, ax_d, ax_r = fig.axes
    for ax in fig.axes:
        assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
        assert "FLOPs" in ax.get_xlabel()
        assert len(_by_gid(ax, "band90")) == len(_by_gid(ax, "band50")) == 1
        assert len(_by_gid(ax, "reference")) == 1
        assert len(_by_gid(ax, "best_runs")) == 1
    assert "parameters" in ax_n.get_ylabel() and "tokens" in ax_d.get_ylabel()
    assert "tokens per parameter" in ax_r.get_ylabel()
    # Each draw's allocation lies on the iso-FLOP line: C = 6 N D for the medians too
    # (the median of a monotone transform), to rounding of the quantiles.
    (n_line,), (d_line,) = _by_gid(ax_n, "median"), _by_gid(ax_d, "median")
    c = n_line.get_xdata()
    assert c[0] == pytest.approx(1e18) and c[-1] == pytest.approx(1e26)
    np.testing.assert_allclose(6 * n_line.get_ydata() * d_line.get_ydata(), c, rtol=0.05)
    assert np.all(np.diff(n_line.get_ydata()) > 0) and np.all(np.diff(d_line.get_ydata()) > 0)
    (rule,) = _by_gid(ax_r, "rule_20")
    np.testing.assert_allclose(rule.get_ydata(), 20)
    labels = [t.get_text() for t in ax_n.get_legend().get_texts()]
    assert "20 tokens per parameter" in labels and "Hoffmann et al. 2022" in labels
    # The reference line is the closed form of the published parameters.
    (ref_line,) = _by_gid(ax_n, "reference")
    p = ref["Hoffmann et al. 2022"]
    a = p["beta"] / (p["alpha"] + p["beta"])
    g = (p["alpha"] * p["A"] / (p["beta"] * p["B"])) ** (1 / (p["alpha"] + p["beta"]))
    np.testing.assert_allclose(ref_line.get_ydata(), g * (c / 6) ** a, rtol=1e-8)


def test_frontier_rejects_bad_reference_and_few_axes(fit):
    with pytest.raises(ValueError, match="missing"):
        bp.plot_frontier(fit, reference_laws={"broken": {"E": 1.7}})
    _, ax = plt.subplots()
    with pytest.raises(ValueError, match="at least 3 Axes"):
        bp.plot_frontier(fit, axes=[ax])


# ------------------------------------------------------------ arviz-plots figures
def test_posterior_pairs(fit):
    fig = bp.plot_posterior_pairs(fit)
    assert isinstance(fig, matplotlib.figure.Figure)
    xlabels = {ax.get_xlabel() for ax in fig.axes}
    assert {"E", "log10 A", "alpha", "log10 B", "beta"} <= xlabels
    # Lower triangle: every draw (one scatter per chain) in each of the 5 * 4 / 2 pairs,
    # and divergent draws once more on top (any trajectory may have a few).
    divergent = int(fit.posterior["sample_stats"]["diverging"].sum())
    scattered = [ax for ax in fig.axes
                 if sum(len(c.get_offsets()) for c in ax.collections)
                 == fit.num_draws + divergent]
    assert len(scattered) == 5 * 4 // 2
    fig = bp.plot_posterior_pairs(fit, ["alpha", "beta"], log_offsets=False)
    assert {"alpha", "beta"} <= {ax.get_xlabel() for ax in fig.axes}
    with pytest.raises(ValueError, match="not in the posterior"):
        bp.plot_posterior_pairs(fit, ["gamma"])


def test_prior_posterior(fit):
    fig = bp.plot_prior_posterior(fit, num_samples=1000)
    titles = {ax.get_title(): ax for ax in fig.axes if ax.get_title()}
    assert set(titles) == {"E", "log10 A", "alpha", "log10 B", "beta", "sigma"}
    for ax in titles.values():
        assert len(ax.get_lines()) >= 2  # prior and posterior densities
    assert fig.legends, "a legend says which curve is the prior"
    # The posterior is far narrower than the default prior: the data dominate.
    for name in ("alpha", "E"):
        lines = titles[name].get_lines()
        widths = sorted(np.ptp(line.get_xdata()) for line in lines[:2])
        assert widths[0] < 0.3 * widths[1]


def test_prior_draws_follow_given_priors(fit):
    import jax.numpy as jnp
    import numpyro.distributions as dist

    default = bp._prior_draws(fit, None, 4000, seed=0)
    assert np.all(default["E"] < fit.runs.loss.min())
    informed = bp._prior_draws(
        fit, {"alpha": dist.LogNormal(jnp.log(0.34), 0.05), "A": dist.LogNormal(6.0, 0.1)},
        4000, seed=0)
    assert np.median(informed["alpha"]) == pytest.approx(0.34, rel=0.02)
    assert np.std(np.log(informed["alpha"])) == pytest.approx(0.05, rel=0.1)
    assert np.median(np.log(informed["A"])) == pytest.approx(6.0, abs=0.02)
    again = bp._prior_draws(fit, None, 4000, seed=0)
    np.testing.assert_array_equal(default["alpha"], again["alpha"])  # seeded


# -------------------------------------------------------------------- residuals
def test_residuals_content(fit):
    fig = bp.plot_residuals(fit)
    axes = fig.axes
    assert len(axes) == 6
    for ax, unit in zip(axes[:4], ("parameters", "tokens", "FLOPs", "nats/token"), strict=True):
        assert ax.get_xscale() == "log" and unit in ax.get_xlabel()
        assert "residual" in ax.get_ylabel()
        (points,) = _by_gid(ax, "residuals")
        resid = points.get_offsets()[:, 1]
        assert len(resid) == NUM_RUNS
        assert abs(np.mean(resid)) < 0.002 and np.std(resid) < 0.012  # noise SD is 0.007
        assert len(_by_gid(ax, "noise_band")) == 1 and len(_by_gid(ax, "binned_median")) == 1
    assert axes[0].get_legend() is not None
    # Posterior-predictive check: about 90% of runs inside their 90% interval.
    ppc = axes[4]
    inside = len(_by_gid(ppc, "ppc_inside")[0].get_offsets())
    outside = len(_by_gid(ppc, "ppc_outside")[0].get_offsets())
    assert inside + outside == NUM_RUNS
    assert 0.8 < inside / NUM_RUNS < 0.97
    assert f"{inside / NUM_RUNS:.0%}" in ppc.get_title()
    pit = axes[5]
    assert sum(p.get_height() for p in pit.patches) == NUM_RUNS
    assert pit.get_legend() is not None


# -------------------------------------------------------------------- dispatcher
@pytest.mark.parametrize("kind", sorted(bp.KINDS))
def test_dispatcher_draws_every_kind(fit, kind):
    out = bs.plotting.plot(fit, kind)
    fig = out if isinstance(out, matplotlib.figure.Figure) else out.figure
    assert fig.axes


def test_dispatcher_rejects_unknown_kind(fit):
    with pytest.raises(ValueError, match="kind must be one of"):
        bp.plot(fit, kind="violin")


# ------------------------------------------------------------- baseline images
@pytest.mark.parametrize("kind", sorted(BASELINE_KINDS))
def test_baseline_image(baseline_fit, kind, tmp_path):
    expected = BASELINE_DIR / f"{kind}.png"
    if REGENERATE:
        _render(baseline_fit, kind, expected)
        pytest.skip(f"regenerated {expected}")
    actual = tmp_path / f"{kind}.png"
    _render(baseline_fit, kind, actual)
    result = compare_images(str(expected), str(actual), tol=IMAGE_TOL, in_decorator=True)
    assert result is None, f"{kind} figure differs from its baseline: {result}"


@pytest.mark.parametrize("kind, gid", [("loss", "band90"), ("isoflop", "band"),
                                       ("frontier", "band90"), ("loss", "extrapolation")])
def test_baseline_comparison_detects_missing_band(baseline_fit, kind, gid, tmp_path):
    """The tolerance is tight enough that a figure without its band fails."""
    if REGENERATE:
        pytest.skip("regenerating baselines")
    actual = tmp_path / f"{kind}_without_{gid}.png"
    _render(baseline_fit, kind, actual, drop_gid=gid)
    result = compare_images(str(BASELINE_DIR / f"{kind}.png"), str(actual), tol=IMAGE_TOL,
                            in_decorator=True)
    assert result is not None, f"removing {gid!r} went unnoticed at tol={IMAGE_TOL}"
