"""Expected interval width after a run: reweight the posterior draws by simulated outcomes (no refit)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist

from .._lazy import lazy_import

if TYPE_CHECKING:
    from ..results.scaling_fit import ScalingFit
from .targets import Target

pd = lazy_import("pandas")


# ------------------------------------------------------------------------------ engine
def _log_lik(y: Any, mu: Any, sigma: Any, nu: Any, student: bool) -> Any:
    if student:
        return dist.StudentT(nu, mu, sigma).log_prob(y)
    return dist.Normal(mu, sigma).log_prob(y)


def weighted_stats(log_w: Any, t_sorted: Any, level: float) -> tuple[Any, Any, Any]:
    """Per replicate (rows of ``log_w``): interval width, SD and ESS of the reweighted target.

    ``t_sorted`` is increasing, so the weighted CDF is a cumulative sum; the
    bounds are the first draws at which it reaches ``(1-level)/2`` and ``(1+level)/2``.
    """
    w = jax.nn.softmax(log_w, axis=-1)
    cdf = jnp.cumsum(w, axis=-1)
    tail = (1.0 - level) / 2.0
    lo = jax.vmap(lambda c: jnp.searchsorted(c, tail))(cdf)
    hi = jax.vmap(lambda c: jnp.searchsorted(c, 1.0 - tail))(cdf)
    top = t_sorted.shape[0] - 1
    width = t_sorted[jnp.minimum(hi, top)] - t_sorted[jnp.minimum(lo, top)]
    mean = w @ t_sorted
    var = jnp.maximum(w @ t_sorted**2 - mean**2, 0.0)
    ess = 1.0 / jnp.sum(w**2, axis=-1)
    return width, jnp.sqrt(var), ess


@functools.partial(jax.jit, static_argnames=("level", "student"))
def _score_candidates(log_w, y, mu, sigma, nu, t_sorted, *, level, student):
    """Widths, SDs and ESS per (candidate, replicate) after adding each candidate once.

    ``log_w`` (R, S) current log-weights; ``y`` (R, K) simulated outcomes;
    ``mu`` (S, K) each draw's mean log-loss at each candidate.
    """
    def one(args):
        y_k, mu_k = args
        ll = _log_lik(y_k[:, None], mu_k[None, :], sigma[None, :], nu[None, :], student)
        return weighted_stats(log_w + ll, t_sorted, level)

    return jax.lax.map(one, (y.T, mu.T))


@functools.partial(jax.jit, static_argnames=("student",))
def _simulate(key, mu_truth, sigma_truth, nu_truth, *, student):
    """Log-losses ``(R, K)`` around the generating draws' means, with the fit's noise model."""
    if student:
        eps = jax.random.t(key, nu_truth[:, None], mu_truth.shape)
    else:
        eps = jax.random.normal(key, mu_truth.shape)
    return mu_truth + sigma_truth[:, None] * eps


@functools.partial(jax.jit, static_argnames=("student",))
def _condition(log_w, y_k, mu_k, sigma, nu, *, student):
    """Add the log-likelihood of outcomes ``y_k`` (R,) of one run to the log-weights (R, S)."""
    return log_w + _log_lik(y_k[:, None], mu_k[None, :], sigma[None, :], nu[None, :], student)


@dataclass
class Engine:
    """Reweighting state shared by the greedy rules and :func:`interval_check`."""

    t_sorted: jax.Array      # (S,) target on the kept draws, increasing
    mu: jax.Array            # (S, K) mean log-loss of each draw at each candidate
    sigma: jax.Array         # (S,)
    nu: jax.Array            # (S,) (ones for a normal likelihood)
    truth: np.ndarray        # (R,) index of the generating draw of each replicate
    student: bool
    level: float
    key: jax.Array

    @property
    def num_draws(self) -> int:
        return int(self.t_sorted.shape[0])

    def initial_log_w(self) -> jax.Array:
        """Zero log-weights except the generating draw of each replicate (left out)."""
        log_w = np.zeros((self.truth.size, self.num_draws))
        log_w[np.arange(self.truth.size), self.truth] = -np.inf
        return jnp.asarray(log_w)

    def outcomes(self, step: int) -> jax.Array:
        """Simulated log-losses ``(R, K)`` of a run at every candidate, fresh noise per step."""
        t = self.truth
        return _simulate(jax.random.fold_in(self.key, step), self.mu[t, :], self.sigma[t],
                         self.nu[t], student=self.student)

    def stats(self, log_w: jax.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        out = weighted_stats_jit(log_w, self.t_sorted, level=self.level)
        return tuple(np.asarray(v) for v in out)

    def score(self, log_w: jax.Array, y: jax.Array) -> tuple[np.ndarray, ...]:
        out = _score_candidates(log_w, y, self.mu, self.sigma, self.nu, self.t_sorted,
                                level=self.level, student=self.student)
        return tuple(np.asarray(v) for v in out)

    def condition(self, log_w: jax.Array, y: jax.Array, k: int) -> jax.Array:
        return _condition(log_w, y[:, k], self.mu[:, k], self.sigma, self.nu,
                          student=self.student)


def build_engine(fit: ScalingFit, target: Target, candidates: pd.DataFrame, *, level: float,
                  num_draws: int, num_outcomes: int, seed: int) -> Engine:
    rng = np.random.default_rng(seed)
    total = fit.num_draws
    keep = np.sort(rng.choice(total, size=min(num_draws, total), replace=False))
    order = keep[np.argsort(target.values[keep], kind="stable")]
    mu = np.empty((order.size, len(candidates)))
    groups = candidates["group"] if "group" in candidates.columns else None
    for label in ([None] if groups is None else pd.unique(groups)):
        rows = np.arange(len(candidates)) if label is None else np.flatnonzero(groups == label)
        part = candidates.iloc[rows]
        mu[:, rows] = np.log(fit.predict_draws(N=part["N"].to_numpy(), D=part["D"].to_numpy(),
                                               group=label))[order]
    student = fit.likelihood == "student_t"
    nu = fit.draws("nu")[order] if student else np.ones(order.size)
    truth = rng.integers(0, order.size, size=num_outcomes)
    with jax.enable_x64(True):
        return Engine(t_sorted=jnp.asarray(target.values[order]), mu=jnp.asarray(mu),
                       sigma=jnp.asarray(fit.draws("sigma")[order]), nu=jnp.asarray(nu),
                       truth=truth, student=student, level=level,
                       key=jax.random.PRNGKey(seed))


# ------------------------------------------------------------------------------ greedy
def greedy(engine: Engine, costs: np.ndarray, budget: float, max_runs: int, rule: str,
            min_gain: float) -> tuple[list[dict], np.ndarray, float]:
    """One greedy pass; returns the chosen steps, the final widths and ESS."""
    with jax.enable_x64(True):
        log_w = engine.initial_log_w()
        width, _, ess = engine.stats(log_w)
        current = float(np.mean(width))
        start = current
        remaining = budget
        steps: list[dict] = []
        final_widths, final_ess = width, float(np.median(ess))
        for step in range(max_runs):
            affordable = costs <= remaining * (1 + 1e-9)
            if not affordable.any():
                break
            y = engine.outcomes(step)
            widths, sds, esses = engine.score(log_w, y)
            mean_width = widths.mean(axis=1)
            gain = np.where(affordable, current - mean_width, -np.inf)
            useful = gain >= min_gain * start
            if not useful.any():
                break
            score = gain / costs if rule == "per_flop" else gain
            k = int(np.argmax(np.where(useful, score, -np.inf)))
            log_w = engine.condition(log_w, y, k)
            remaining -= costs[k]
            current = float(mean_width[k])
            final_widths, final_ess = widths[k], float(np.median(esses[k]))
            steps.append({"candidate": k, "expected_width": current,
                          "expected_sd": float(sds[k].mean()), "ess": final_ess})
    return steps, np.asarray(final_widths), final_ess


#: Compiled weighted statistics (the greedy step and the interval check call it per target).
weighted_stats_jit = jax.jit(weighted_stats, static_argnames=("level",))
