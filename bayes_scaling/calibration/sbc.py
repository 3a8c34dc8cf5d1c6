"""Simulation-based calibration: are the posterior intervals honest?

Simulation-based calibration (SBC; Talts et al. 2018) checks the whole fitting
pipeline — model, priors, sampler, settings — against data where the truth is
known *and drawn from the prior the fit assumes*:

1. draw parameters ``theta ~ p(theta)`` from the prior and a runs table
   ``y ~ p(y | theta)`` on a fixed, realistic design (the NumPyro model's prior
   predictive: :class:`numpyro.infer.Predictive` with ``log_loss=None``);
2. fit ``y`` with the same model (batched: :func:`bayes_scaling.fit_many`);
3. record the rank of ``theta`` among ``L`` (thinned) posterior draws.

If the posterior is computed correctly, each rank is uniform on ``0..L``, and
every central ``q`` interval contains the truth in a share ``q`` of the
simulations — *for any function of the parameters*, including the loss of a run
100x larger than any fitted and the compute-optimal model size at that budget.
(The function must not depend on the true parameters: the loss at the *true*
compute-optimal allocation is not a valid test quantity, see
``_extrapolation``.)
Histograms piled at the edges (intervals too narrow), humped in the middle (too
wide) or tilted (biased) point at the failure; a chi-square test over rank bins
and binomial error bars on the coverage quantify it.

The priors are made explicit: the law's default priors are evaluated once for
the fixed design (``sbc_priors``) and given to *both* the simulation and
every fit, so the fit's prior equals the generating prior exactly (the default
priors otherwise adapt to each data set's losses, which SBC does not allow).
Prior draws whose tables are absurd (a loss above ``max_loss`` or not finite)
are rejected; because the rule looks at the data only, the posterior of the
kept tables is unchanged and the check stays exact. The number rejected is
reported.

Examples
--------
>>> import bayes_scaling as bs
>>> # Long run (40 fits, minutes); tests/test_calibration.py makes the same calls.
>>> result = bs.calibration.run_sbc("power_law_C", 40, seed=0)   # doctest: +SKIP
>>> result.uniformity()          # chi-square p-value per quantity   # doctest: +SKIP
>>> result.coverage()            # 50/80/90/95% coverage with error bars  # doctest: +SKIP
>>> result.plot()                # rank histograms                   # doctest: +SKIP

References
----------
Talts, Betancourt, Simpson, Vehtari, Gelman (2018), "Validating Bayesian inference
algorithms with simulation-based calibration", arXiv:1804.06788.
Modrák et al. (2023), "Simulation-based calibration checking for Bayesian
computation: the choice of test quantities shapes sensitivity".
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist

from .._lazy import lazy_import
from ..inference.intervals import renamed_level
from ..laws import Law, get_law
from ..laws.allocation import log_optimal_allocation
from ..models.likelihood import noise_priors
from ..models.setup import prepare
from ..results.batch import FitBatch, fit_many
from .simulation import draw_prior_tables, sbc_design, sbc_priors

pd = lazy_import("pandas")
stats = lazy_import("scipy.stats")


__all__ = [
    "SBCResult", "run_sbc", "sbc_design", "sbc_priors", "draw_prior_tables",
    "binomial_interval", "DEFAULT_LEVELS",
]

#: Interval masses whose coverage is reported.
DEFAULT_LEVELS = (0.5, 0.8, 0.9, 0.95)


# -------------------------------------------------------------------- results
def binomial_interval(successes: Any, trials: Any, level: float | None = None, *,
                      confidence: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Clopper-Pearson (exact) interval of a binomial proportion.

    Returns ``(lower, upper)``; guaranteed to cover the true proportion with at
    least ``level`` probability (default 0.95; ``confidence=`` is the deprecated name).
    """
    confidence = renamed_level(level, 0.95, confidence=confidence)
    k = np.asarray(successes, dtype=np.float64)
    n = np.asarray(trials, dtype=np.float64)
    tail = (1.0 - confidence) / 2.0
    with np.errstate(invalid="ignore", divide="ignore"):
        lower = np.where(k > 0, stats.beta.ppf(tail, k, n - k + 1), 0.0)
        upper = np.where(k < n, stats.beta.ppf(1 - tail, k + 1, n - k), 1.0)
    return lower, upper


@dataclass(frozen=True, eq=False)
class SBCResult:
    """Ranks and coverage of a simulation-based calibration run.

    Attributes
    ----------
    law : Law
    likelihood : str
    truths : DataFrame
        One row per simulation, one column per checked quantity: the true value.
    ranks : DataFrame
        Rank of the truth among ``num_ranks`` thinned posterior draws (0..L).
    below : DataFrame
        Share of *all* posterior draws below the truth (used for coverage).
    num_ranks : int
        ``L``: thinned draws per fit, so ranks take ``L + 1`` values.
    diagnostics : DataFrame
        Per-fit sampler diagnostics (``FitBatch.diagnostics``).
    num_rejected : int
        Prior draws rejected as absurd before ``len(truths)`` were kept.
    settings : dict
        Sampler settings, extrapolation target and the fit's prior overrides.
    seconds : float
        Wall time of the fits (compilation included).
    """

    law: Law
    likelihood: str
    truths: pd.DataFrame
    ranks: pd.DataFrame
    below: pd.DataFrame
    num_ranks: int
    diagnostics: pd.DataFrame
    num_rejected: int
    settings: dict = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def num_simulations(self) -> int:
        return len(self.ranks)

    @property
    def quantities(self) -> list[str]:
        return list(self.ranks.columns)

    def uniformity(self, num_bins: int = 10) -> pd.DataFrame:
        """Chi-square test that each quantity's ranks are uniform on ``0..L``.

        Ranks are grouped into ``num_bins`` bins of (nearly) equal width; the
        expected count of a bin is proportional to the rank values it holds.

        Returns
        -------
        DataFrame
            One row per quantity: ``chi2``, ``dof``, ``p_value``, ``edge_share``
            (share of ranks in the outer two bins; ``2 / num_bins`` expected) and
            ``mean_rank`` (scaled to 0..1; 0.5 expected; low means the posterior
            sits above the truth).
        """
        size = self.num_ranks + 1
        width = np.bincount(np.arange(size) * num_bins // size, minlength=num_bins)
        rows = []
        for name in self.quantities:
            ranks = self.ranks[name].to_numpy()
            counts = np.bincount(ranks * num_bins // size, minlength=num_bins)
            expected = width / width.sum() * len(ranks)
            chi2, p = stats.chisquare(counts, expected)
            rows.append({"quantity": name, "chi2": float(chi2), "dof": num_bins - 1,
                         "p_value": float(p),
                         "edge_share": float((counts[0] + counts[-1]) / len(ranks)),
                         "mean_rank": float(np.mean(ranks) / self.num_ranks)})
        return pd.DataFrame(rows).set_index("quantity")

    def coverage(self, levels: Sequence[float] = DEFAULT_LEVELS, *, level: float | None = None,
                 confidence: float | None = None) -> pd.DataFrame:
        """Share of simulations whose central interval contains the truth.

        Intervals are equal-tailed (as in :meth:`ScalingFit.summary`): the truth
        is inside the ``level`` interval when the share of posterior draws below
        it lies in ``((1 - level) / 2, (1 + level) / 2)``.

        Returns
        -------
        DataFrame
            One row per (quantity, level): ``hits``, ``n``, ``coverage`` and the
            Clopper-Pearson ``lower``/``upper`` bounds at ``level`` (default 0.95;
            ``confidence=`` is the deprecated name);
            ``consistent`` says whether the nominal level lies inside them.
        """
        confidence = renamed_level(level, 0.95, confidence=confidence)
        rows = []
        n = self.num_simulations
        for name in self.quantities:
            u = self.below[name].to_numpy()
            for level in levels:
                tail = (1.0 - level) / 2.0
                hits = int(np.sum((u > tail) & (u < 1.0 - tail)))
                lo, hi = binomial_interval(hits, n, confidence)
                rows.append({"quantity": name, "level": level, "hits": hits, "n": n,
                             "coverage": hits / n, "lower": float(lo), "upper": float(hi),
                             "consistent": bool(lo <= level <= hi)})
        return pd.DataFrame(rows)

    def coverage_table(self, levels: Sequence[float] = DEFAULT_LEVELS, *,
                       level: float | None = None, confidence: float | None = None
                       ) -> pd.DataFrame:
        """:meth:`coverage` as a quantity x level table of ``"0.91 [0.86, 0.94]"`` strings."""
        cov = self.coverage(levels, level=renamed_level(level, 0.95, confidence=confidence))
        cov["cell"] = [f"{c:.2f} [{lo:.2f}, {hi:.2f}]" for c, lo, hi in
                       zip(cov["coverage"], cov["lower"], cov["upper"], strict=True)]
        table = cov.pivot(index="quantity", columns="level", values="cell")
        table.columns = [f"{level:.0%}" for level in table.columns]
        return table.loc[self.quantities]

    def report(self, num_bins: int = 10) -> str:
        """Plain-text summary: settings, rejections, diagnostics, uniformity, coverage."""
        s = self.settings
        diag = self.diagnostics
        divergent = (diag["divergences"] > 0).mean()
        high_rhat = (diag["max_rhat"] > 1.01).mean()
        min_ess = diag[["min_ess_bulk", "min_ess_tail"]].min(axis=1)
        lines = [
            f"SBC of the {self.law.name} law ({self.likelihood} likelihood): "
            f"{self.num_simulations} simulations, {self.num_rejected} prior draws rejected "
            f"(a loss > {s.get('max_loss')} or non-finite)",
            f"design: {s.get('num_runs')} runs; sampler {s.get('chains')} chains x "
            f"({s.get('warmup')} warm-up + {s.get('draws')} draws), target_accept "
            f"{s.get('target_accept')}; ranks among L = {self.num_ranks} thinned draws",
            f"extrapolation target: {s.get('target')}",
            f"fit-only prior overrides: {s.get('fit_priors') or 'none'}",
            f"fits with any divergence: {divergent:.0%}; with R-hat > 1.01: {high_rhat:.0%}; "
            f"median of the smallest ESS: {np.median(min_ess):.0f} (of {self.num_ranks} draws "
            f"ranked); {self.seconds:.0f} s for all fits",
            "",
            f"rank uniformity (chi-square, {num_bins} bins):",
            self.uniformity(num_bins).to_string(float_format=lambda v: f"{v:.3g}"),
            "",
            "coverage of equal-tailed intervals (Clopper-Pearson 95% bounds):",
            self.coverage_table().to_string(),
        ]
        return "\n".join(lines)

    def plot(self, num_bins: int = 10, *, axes: Any = None, level: float | None = None,
             band: float | None = None) -> Any:
        """Rank histograms, one panel per quantity, with the ``level`` range expected
        under uniformity (binomial quantiles of a bin count) shaded.

        Returns the matplotlib Figure.
        """
        band = renamed_level(level, 0.99, band=band)
        import matplotlib.pyplot as plt

        names = self.quantities
        if axes is None:
            cols = min(4, len(names))
            rows = -(-len(names) // cols)
            fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows),
                                     squeeze=False)
        else:
            fig = np.ravel(axes)[0].figure
        flat = np.ravel(axes)
        size = self.num_ranks + 1
        n = self.num_simulations
        p = 1.0 / num_bins
        lo, hi = stats.binom.ppf([(1 - band) / 2, (1 + band) / 2], n, p)
        table = self.uniformity(num_bins)
        for ax, name in zip(flat, names, strict=False):
            counts = np.bincount(self.ranks[name].to_numpy() * num_bins // size,
                                 minlength=num_bins)
            ax.axhspan(lo, hi, color="0.85", zorder=0)
            ax.axhline(n * p, color="0.5", lw=0.8, zorder=1)
            ax.bar(np.arange(num_bins), counts, width=0.9, color="C0", zorder=2)
            ax.set_title(f"{name}  (p = {table.loc[name, 'p_value']:.2g})", fontsize=9)
            ax.set_xticks([0, num_bins - 1], ["0", f"L={self.num_ranks}"])
            ax.tick_params(labelsize=8)
        for ax in flat[len(names):]:
            ax.set_visible(False)
        fig.suptitle(f"SBC rank histograms: {self.law.name}, {self.likelihood}, "
                     f"{n} simulations", fontsize=10)
        fig.tight_layout()
        return fig


# ------------------------------------------------------------------------ run
def _describe(prior: dist.Distribution) -> str:
    """``LogNormal(loc=-6.21, scale=0.01)``: a distribution's class and scalar arguments."""
    args = []
    for name in getattr(prior, "arg_constraints", {}):
        value = np.asarray(getattr(prior, name, np.nan))
        args.append(f"{name}={float(value):.4g}" if value.size == 1 else f"{name}=...")
    return f"{type(prior).__name__}({', '.join(args)})"


def _thin_indices(total: int, num: int) -> np.ndarray:
    if num > total:
        raise ValueError(f"num_ranks={num} exceeds the {total} posterior draws per fit")
    return np.linspace(0, total - 1, num).round().astype(int)


def _extrapolation(law: Law, design_runs: Any, truths: pd.DataFrame, batch: FitBatch,
                   factor: float, likelihood: str, key: jax.Array, tokens_per_param: float
                   ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], str]:
    """True values and posterior draws of the extrapolated quantities.

    Every quantity is a function of the parameters alone, evaluated the same way
    for the truth and for each draw, as SBC requires. (The loss at the *true*
    compute-optimal point is not such a function: the truth is evaluated at its
    own optimum and every draw at a point that is sub-optimal for it, so the
    draws sit above the truth by construction and ranks come out low even for
    an exact posterior.)

    Laws of N and D, at ``C* = factor * max C``: the loss curve and a new run's
    observed loss at a fixed allocation (``tokens_per_param``), the
    compute-optimal loss ``loss_opt`` and model size ``N_opt``. Single-axis
    laws: the curve and a new run at ``factor * max x``.
    """
    label = f"{factor:g}x"
    names = list(law.param_names)
    true_p = {k: truths[k].to_numpy(np.float64) for k in names}  # float64: see enable_x64 below
    post = {k: np.asarray(batch.draws(k), np.float64) for k in names}  # (fits, S)
    num_fits, num_draws = post[names[0]].shape
    truth_out: dict[str, np.ndarray] = {}
    draws_out: dict[str, np.ndarray] = {}
    with jax.enable_x64(True):
        if set(law.inputs) >= {"N", "D"}:
            flops_factor = float(design_runs.flops_factor)
            budget = factor * float(np.max(design_runs.C))
            log_k = float(np.log(flops_factor))
            log_c = jnp.log(jnp.asarray([budget]))
            flat = {k: v.reshape(-1) for k, v in post.items()}
            for who, params, out in (("truth", true_p, truth_out), ("draws", flat, draws_out)):
                log_n, log_d, _ = log_optimal_allocation(law, params, log_c, log_k)
                p = {k: v[:, None] for k, v in params.items()}
                log_opt = law.log_mean(p, {"N": log_n, "D": log_d})[:, 0]
                shape = (num_fits,) if who == "truth" else (num_fits, num_draws)
                out[f"N_opt@{label}"] = np.exp(np.asarray(log_n[:, 0])).reshape(shape)
                out[f"loss_opt@{label}"] = np.exp(np.asarray(log_opt)).reshape(shape)
            n_fixed = np.sqrt(budget / (flops_factor * tokens_per_param))
            inputs = {"N": jnp.full((num_fits, 1), np.log(n_fixed)),
                      "D": jnp.full((num_fits, 1), np.log(tokens_per_param * n_fixed))}
            target = (f"C = {budget:.3g} FLOPs ({label} the largest run); loss@ and new_run@ "
                      f"at N = {n_fixed:.3g}, D = {tokens_per_param:g} N")
        else:
            x = law.inputs[0]
            top = factor * float(np.max(design_runs.column(x)))
            inputs = {x: jnp.full((num_fits, 1), np.log(top))}
            target = f"{x} = {top:.3g} ({label} the largest run)"
        true_log = law.log_mean(true_p, {k: v[:, 0] for k, v in inputs.items()})
        post_log = law.log_mean(post, inputs)  # (fits, S)
        key_true, key_post = jax.random.split(key)
        sigma_t = jnp.asarray(truths["sigma"].to_numpy())
        sigma_p = jnp.asarray(batch.draws("sigma"))
        if likelihood == "student_t":
            eps_t = jax.random.t(key_true, jnp.asarray(truths["nu"].to_numpy()), (num_fits,))
            eps_p = jax.random.t(key_post, jnp.asarray(batch.draws("nu")), (num_fits, num_draws))
        else:
            eps_t = jax.random.normal(key_true, (num_fits,))
            eps_p = jax.random.normal(key_post, (num_fits, num_draws))
    truth_out[f"loss@{label}"] = np.exp(np.asarray(true_log))
    draws_out[f"loss@{label}"] = np.exp(np.asarray(post_log))
    truth_out[f"new_run@{label}"] = np.exp(np.asarray(true_log + sigma_t * eps_t))
    draws_out[f"new_run@{label}"] = np.exp(np.asarray(post_log + sigma_p * eps_p))
    return truth_out, draws_out, target


def run_sbc(
    law: str | Law,
    num_simulations: int,
    *,
    design: pd.DataFrame | None = None,
    likelihood: str = "normal",
    priors: Mapping[str, dist.Distribution] | None = None,
    fit_priors: Mapping[str, dist.Distribution] | None = None,
    chains: int = 4,
    draws: int = 300,
    warmup: int = 500,
    target_accept: float = 0.99,
    num_ranks: int = 99,
    extrapolation_factor: float = 100.0,
    tokens_per_param: float = 20.0,
    max_loss: float = 20.0,
    seed: int = 0,
    batch_size: int = 64,
) -> SBCResult:
    """Simulation-based calibration of ``law`` fitted with NUTS.

    Parameters
    ----------
    law : str or Law
    num_simulations : int
        Simulated data sets (after rejection of absurd prior draws).
    design : DataFrame, optional
        The runs' inputs and reference losses (default ``sbc_design``).
    likelihood : {"normal", "student_t"}
        Used to simulate and to fit.
    priors : mapping, optional
        Overrides of sampled sites for simulation *and* fit (see ``sbc_priors``).
    fit_priors : mapping, optional
        Overrides for the fit only: a deliberately wrong method for negative
        controls, e.g. ``{"sigma": dist.LogNormal(jnp.log(0.002), 0.01)}`` when
        the data were simulated with ``sigma`` near 0.01.
    chains, draws, warmup, target_accept
        NUTS settings of every fit. ``target_accept=0.99`` by default: prior
        draws include hard posteriors (a term below the noise leaves its
        exponent unidentified) where 0.9 gives divergences in many fits.
    num_ranks : int
        ``L``: posterior draws kept (evenly spaced, which also thins
        autocorrelation) to rank each truth among; ranks are in ``0..L``.
    extrapolation_factor : float
        Extrapolated quantities are checked at this multiple of the largest
        run's compute (or single input).
    tokens_per_param : float
        Fixed allocation ``D / N`` at which the extrapolated loss curve and new
        run are checked (laws of N and D).
    max_loss : float
        Reject prior tables with a loss above this (or non-finite).
    seed : int
    batch_size : int
        Passed to :func:`bayes_scaling.fit_many`.

    Returns
    -------
    SBCResult
        Quantities: the law's parameters, ``sigma`` (and ``nu``), the loss curve
        ``loss@100x`` and a new run's observed loss ``new_run@100x`` at the
        extrapolation target and, for laws of N and D, the compute-optimal
        model size ``N_opt@100x`` and loss ``loss_opt@100x`` at that budget.
    """
    law = get_law(law)
    design = sbc_design(law) if design is None else design
    gen_priors = sbc_priors(law, design, likelihood=likelihood, priors=priors)
    tables, truths, rejected = draw_prior_tables(
        law, num_simulations, design=design, likelihood=likelihood, priors=gen_priors,
        max_loss=max_loss, seed=seed)
    fit_with = {**gen_priors, **dict(fit_priors or {})}
    start = time.perf_counter()
    batch = fit_many(tables, law, likelihood=likelihood, priors=fit_with, chains=chains,
                     draws=draws, warmup=warmup, target_accept=target_accept, seed=seed + 1,
                     batch_size=batch_size)
    seconds = time.perf_counter() - start
    design_runs, _, _ = prepare(design, law, likelihood, {}, 6.0, None)
    extra_truth, extra_draws, target = _extrapolation(
        law, design_runs, truths, batch, extrapolation_factor, likelihood,
        jax.random.PRNGKey(seed + 2), tokens_per_param)
    names = list(law.param_names) + list(noise_priors(likelihood))
    all_truth = {n: truths[n].to_numpy() for n in names} | extra_truth
    all_draws = {n: batch.draws(n) for n in names} | extra_draws
    keep = _thin_indices(chains * draws, num_ranks)
    ranks, below = {}, {}
    for name, true in all_truth.items():
        post = all_draws[name]
        ranks[name] = np.sum(post[:, keep] < true[:, None], axis=1)
        below[name] = np.mean(post < true[:, None], axis=1)
    settings = {"chains": chains, "draws": draws, "warmup": warmup,
                "target_accept": target_accept, "max_loss": max_loss, "seed": seed,
                "num_runs": len(design), "target": target,
                "fit_priors": {k: _describe(v) for k, v in dict(fit_priors or {}).items()}}
    return SBCResult(law=law, likelihood=likelihood, truths=pd.DataFrame(all_truth),
                     ranks=pd.DataFrame(ranks), below=pd.DataFrame(below),
                     num_ranks=num_ranks, diagnostics=batch.diagnostics,
                     num_rejected=rejected, settings=settings, seconds=seconds)
