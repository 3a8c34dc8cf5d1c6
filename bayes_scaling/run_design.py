"""Which runs to train next: Bayesian design of scaling-law experiments.

:func:`suggest_runs` answers "which small runs should I pay for so that my
prediction at the target scale is good enough?" from the current posterior:

1. **Target.** A scalar quantity computed per posterior draw (see
   :func:`resolve_target` for the spec): the loss at a given ``(N, D)``, the
   compute-optimal loss or model size at a budget, or the loss difference of two
   groups.
2. **Candidates.** Runs ``(N, D)`` (and ``group`` for a fit with groups), each
   costing ``C = k N D``; by default iso-FLOP lines at the budget and at halvings
   of it (:func:`default_candidates`).
3. **Expected width after a run, without refitting** (preposterior analysis by
   importance reweighting). For a replicate ``r``, draw a "true" parameter
   ``theta_r`` from the posterior and simulate the run's log-loss
   ``y_r ~ p(y | theta_r)`` with the fit's own likelihood (normal or Student-t on
   log-loss, noise scale of that draw). The posterior after observing ``y_r`` is
   the current posterior reweighted by ``p(y_r | theta_s)``: self-normalised
   weights (``logsumexp`` in log space) over the other draws ``s != r`` (leaving
   the generating draw out avoids the bias of weighting a draw by its own
   simulated data). The target's weighted 90% equal-tailed interval (weighted
   quantiles of the sorted draws) gives one width per replicate; the mean over
   replicates is the *expected width*. Everything is vectorised in JAX over
   replicates, draws and candidates.
4. **Greedy batch selection.** Add one run at a time, conditioning the weights on
   every run already chosen (outcomes simulated jointly from the same
   ``theta_r``), until the budget is spent, ``n`` runs are chosen, or no
   affordable run shrinks the expected width by at least ``min_gain``. Two
   greedy rules are run, *width reduction per FLOP* and *largest width
   reduction* that fits in the remaining budget, and the plan with the smaller
   final expected width is returned (the usual guard for budgeted greedy
   selection, which per-cost greedy alone can lose badly). **Greedy is an
   approximation**: it does not search over all batches, and each step is
   optimal only given the runs before it.

Approximations to keep in mind
------------------------------
* Reweighting a finite set of draws degenerates when the new runs are far more
  informative than the data behind the posterior (e.g. a run 100x beyond the
  fitted range with a tight noise scale): few draws keep weight and the
  expected widths are biased low. Each step reports the median effective sample
  size of the weights (``ess``); below ``min_ess`` the step is flagged
  (``reliable=False``) and a :class:`DesignWarning` says what to do (more
  posterior draws, a smaller budget, or refit after the first runs and ask
  again). No other estimator replaces it silently.
* The law is taken as true: runs in a regime the law does not describe (e.g.
  near saturation) are valued as if it did.
* Monte Carlo error: widths are averages over ``num_outcomes`` replicates and
  the weighted quantiles of ``num_draws`` draws; the same random numbers are
  used for every candidate, so their differences are less noisy than the widths.

:func:`interval_check` is the *stopping* answer: the current interval, the
posterior probability that the target lies within ``+-tolerance/2`` of its
median, and, for planned runs, the expected width afterwards and the
probability (over the simulated outcomes) that the interval will then be
narrower than the tolerance.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist

from ._lazy import lazy_import

pd = lazy_import("pandas")

if TYPE_CHECKING:
    from .fit import ScalingFit

__all__ = ["suggest_runs", "interval_check", "resolve_target", "default_candidates",
           "expected_width", "Target", "RunPlan", "IntervalCheck", "DesignWarning"]

#: Greedy rules run by :func:`suggest_runs`; the better final plan is returned.
RULES = ("per_flop", "largest_gain")
_TARGET_KINDS = ("loss", "N_opt", "difference")


class DesignWarning(UserWarning):
    """The importance weights behind an expected width collapsed (low effective sample size)."""


# ----------------------------------------------------------------------------- targets
@dataclass(frozen=True)
class Target:
    """A scalar target evaluated on every posterior draw of a fit.

    Attributes
    ----------
    kind : str
        ``"loss"`` (loss at a fixed ``(N, D)``), ``"loss_opt"`` (loss at the
        compute-optimal allocation of budget ``C``), ``"N_opt"`` or
        ``"difference"`` (``L_b - L_a``, each group compute-optimal at ``C``).
    label : str
        Human-readable description.
    scale : str
        ``"natural"``: widths are in the target's units (loss); ``"log"``: the
        target is ``log N_opt`` and a width ``w`` means ``upper / lower = e^w``.
    groups : tuple of str
        Groups the target depends on (``()`` for a fit without groups).
    values : ndarray
        The target on each posterior draw, shape ``(num_draws,)``.
    """

    kind: str
    label: str
    scale: str
    groups: tuple[str, ...]
    values: np.ndarray = field(repr=False)


def _positive(value: Any, what: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a positive number, got {value!r}") from None
    if not np.isfinite(out) or out <= 0:
        raise ValueError(f"{what} must be positive and finite, got {value!r}")
    return out


def _target_group(fit: ScalingFit, spec: Mapping[str, Any]) -> str | None:
    group = spec.get("group")
    if fit.groups is None:
        if group is not None:
            raise ValueError(f"target names group {group!r} but the fit has no groups")
        return None
    if group is None:
        raise ValueError(f"this fit has groups {list(fit.group_labels)}: the target needs "
                         "'group': label (or use the 'difference' target)")
    fit._group_position(group)  # validates the label
    return str(group)


def resolve_target(fit: ScalingFit, target: Mapping[str, Any]) -> Target:
    """Parse a target spec and evaluate it on the fit's posterior draws.

    Parameters
    ----------
    fit : ScalingFit
    target : mapping with one key
        * ``{"loss": {"N": n, "D": d}}``: loss of the law's mean curve at ``(N, D)``
          (any two of ``N``, ``D``, ``C``; no observation noise);
        * ``{"loss": {"C": c}}``: loss at the compute-optimal allocation of
          budget ``c`` (each draw at its own optimum);
        * ``{"N_opt": c}`` or ``{"N_opt": {"C": c}}``: compute-optimal model size
          at budget ``c``, on the log scale (the target is ``log N_opt``; a
          width ``w`` is the ratio ``upper / lower = e^w``);
        * ``{"difference": (a, b, c)}``: ``L_b - L_a`` of groups ``a`` and ``b``,
          each at its compute-optimal allocation of ``c`` (a fit with groups;
          see :func:`bayes_scaling.compare.compare`).

        For a fit with groups, ``"loss"`` and ``"N_opt"`` specs also take
        ``"group": label``.

    Returns
    -------
    Target

    Raises
    ------
    ValueError
        Unknown kind, missing or non-positive sizes, bad group labels.
    """
    if not isinstance(target, Mapping) or len(target) != 1:
        raise ValueError("target must be a mapping with one key, one of "
                         f"{list(_TARGET_KINDS)}, e.g. {{'loss': {{'N': 7e10, 'D': 1.4e12}}}}, "
                         f"got {target!r}")
    (kind, spec), = target.items()
    if kind not in _TARGET_KINDS:
        raise ValueError(f"unknown target {kind!r}; use one of {list(_TARGET_KINDS)}")
    if kind == "difference":
        if fit.groups is None:
            raise ValueError("the 'difference' target needs a fit with groups")
        if not isinstance(spec, Sequence) or isinstance(spec, str) or len(spec) != 3:
            raise ValueError(f"'difference' takes (group_a, group_b, C), got {spec!r}")
        from .compare import _check_pair

        a, b = _check_pair(fit, spec[0], spec[1])
        c = _positive(spec[2], "the difference target's C")
        values = (fit.allocation_draws(c, group=b)["loss_opt"][:, 0]
                  - fit.allocation_draws(c, group=a)["loss_opt"][:, 0])
        return Target("difference", f"L[{b}] - L[{a}] at compute-optimal C={c:.3g}",
                      "natural", (a, b), values)
    if kind == "N_opt" and not isinstance(spec, Mapping):
        spec = {"C": spec}
    if not isinstance(spec, Mapping):
        raise ValueError(f"the {kind!r} target takes a mapping of sizes, got {spec!r}")
    unknown = set(spec) - {"N", "D", "C", "group"}
    if unknown:
        raise ValueError(f"unknown keys {sorted(unknown)} in the {kind!r} target; "
                         "use N, D, C and (for a fit with groups) group")
    group = _target_group(fit, spec)
    groups = (group,) if group is not None else ()
    suffix = f" [{group}]" if group is not None else ""
    sizes = {k: _positive(spec[k], f"target {k}") for k in ("N", "D", "C") if k in spec}
    if kind == "N_opt":
        if set(sizes) != {"C"}:
            raise ValueError("the 'N_opt' target takes the compute budget C only")
        c = sizes["C"]
        values = np.log(fit.allocation_draws(c, group=group)["N_opt"][:, 0])
        return Target("N_opt", f"log N_opt at C={c:.3g}{suffix}", "log", groups, values)
    if set(sizes) == {"C"}:
        c = sizes["C"]
        values = fit.allocation_draws(c, group=group)["loss_opt"][:, 0]
        return Target("loss_opt", f"compute-optimal loss at C={c:.3g}{suffix}", "natural",
                      groups, values)
    if len(sizes) < 2:
        raise ValueError("the 'loss' target takes two of N, D, C (a point) or C alone "
                         f"(the compute-optimal loss), got {sorted(sizes)}")
    values = fit.predict_draws(**sizes, group=group)[:, 0]
    where = ", ".join(f"{k}={v:.3g}" for k, v in sizes.items())
    return Target("loss", f"loss at {where}{suffix}", "natural", groups, values)


# -------------------------------------------------------------------------- candidates
def default_candidates(
    fit: ScalingFit,
    budget: float,
    *,
    num_lines: int = 8,
    runs_per_line: int = 7,
    tokens_per_param: tuple[float, float] = (2.0, 200.0),
    groups: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Candidate runs on iso-FLOP lines at ``budget``, ``budget/2``, ``budget/4``, ...

    ``num_lines`` lines, halving the compute each time (a run of the whole budget
    down to ``budget / 2^(num_lines-1)``), ``runs_per_line`` model sizes per line
    spanning ``tokens_per_param`` geometrically (see
    :func:`bayes_scaling.simulate.iso_flop_design`). For a fit with groups the grid
    is repeated for each of ``groups`` (default: every group).

    Returns
    -------
    pandas.DataFrame
        ``N``, ``D``, ``C`` (cost, ``k N D``) and ``group`` for a fit with groups.
    """
    from .simulate import iso_flop_design

    budget = _positive(budget, "budget")
    if num_lines < 1 or runs_per_line < 1:
        raise ValueError("num_lines and runs_per_line must be at least 1")
    lines = budget / 2.0 ** np.arange(num_lines)
    grid = iso_flop_design(lines, runs_per_budget=runs_per_line,
                           tokens_per_param=tokens_per_param,
                           flops_factor=fit.runs.flops_factor)[["N", "D", "C"]]
    if fit.groups is None:
        return grid
    labels = list(fit.group_labels) if groups is None else [str(g) for g in groups]
    return pd.concat([grid.assign(group=g) for g in labels], ignore_index=True)


def _validate_candidates(fit: ScalingFit, candidates: Any) -> pd.DataFrame:
    """Check a candidate table; return a fresh frame with ``N``, ``D``, ``C`` (and ``group``)."""
    from .fit import _complete_sizes

    if not isinstance(candidates, pd.DataFrame):
        raise TypeError(f"candidates must be a pandas DataFrame, got {type(candidates).__name__}")
    if len(candidates) == 0:
        raise ValueError("candidates is empty")
    given = [k for k in ("N", "D", "C") if k in candidates.columns]
    if len(given) < 2:
        raise ValueError(f"candidates need two of the columns N, D, C; got {list(candidates.columns)}")
    values = {}
    for name in given:
        column = pd.to_numeric(candidates[name], errors="coerce").to_numpy(dtype=np.float64)
        bad = ~np.isfinite(column) | (column <= 0)
        if bad.any():
            row = candidates.index[int(np.argmax(bad))]
            raise ValueError(f"candidates column {name!r} must be positive and finite "
                             f"(row {row!r}: {candidates[name].loc[row]!r})")
        values[name] = column
    k = fit.runs.flops_factor
    n, d, c = _complete_sizes(values.get("N"), values.get("D"),
                              values.get("C") if len(given) == 2 else None, k)
    if len(given) == 3:
        derived = k * values["N"] * values["D"]
        off = np.abs(derived / values["C"] - 1.0) > 1e-6
        if off.any():
            row = candidates.index[int(np.argmax(off))]
            raise ValueError(f"candidates row {row!r}: C differs from k N D = "
                             f"{derived[int(np.argmax(off))]:.4g} (k = {k:g})")
    out = pd.DataFrame({"N": n, "D": d, "C": c})
    if fit.groups is not None:
        if "group" not in candidates.columns:
            raise ValueError("this fit has groups: candidates need a 'group' column "
                             f"with labels from {list(fit.group_labels)}")
        labels = candidates["group"].astype(str).to_numpy()
        unknown = sorted(set(labels) - set(fit.group_labels))
        if unknown:
            raise ValueError(f"candidates name unknown groups {unknown}; "
                             f"the fit has {list(fit.group_labels)}")
        out["group"] = labels
    elif "group" in candidates.columns:
        raise ValueError("candidates have a 'group' column but the fit has no groups")
    return out


# ------------------------------------------------------------------------------ engine
def _log_lik(y: Any, mu: Any, sigma: Any, nu: Any, student: bool) -> Any:
    if student:
        return dist.StudentT(nu, mu, sigma).log_prob(y)
    return dist.Normal(mu, sigma).log_prob(y)


def _weighted_stats(log_w: Any, t_sorted: Any, level: float) -> tuple[Any, Any, Any]:
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


_stats = jax.jit(_weighted_stats, static_argnames=("level",))


@functools.partial(jax.jit, static_argnames=("level", "student"))
def _score_candidates(log_w, y, mu, sigma, nu, t_sorted, *, level, student):
    """Widths, SDs and ESS per (candidate, replicate) after adding each candidate once.

    ``log_w`` (R, S) current log-weights; ``y`` (R, K) simulated outcomes;
    ``mu`` (S, K) each draw's mean log-loss at each candidate.
    """
    def one(args):
        y_k, mu_k = args
        ll = _log_lik(y_k[:, None], mu_k[None, :], sigma[None, :], nu[None, :], student)
        return _weighted_stats(log_w + ll, t_sorted, level)

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
class _Engine:
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
        out = _stats(log_w, self.t_sorted, level=self.level)
        return tuple(np.asarray(v) for v in out)

    def score(self, log_w: jax.Array, y: jax.Array) -> tuple[np.ndarray, ...]:
        out = _score_candidates(log_w, y, self.mu, self.sigma, self.nu, self.t_sorted,
                                level=self.level, student=self.student)
        return tuple(np.asarray(v) for v in out)

    def condition(self, log_w: jax.Array, y: jax.Array, k: int) -> jax.Array:
        return _condition(log_w, y[:, k], self.mu[:, k], self.sigma, self.nu,
                          student=self.student)


def _build_engine(fit: ScalingFit, target: Target, candidates: pd.DataFrame, *, level: float,
                  num_draws: int, num_outcomes: int, seed: int) -> _Engine:
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
        return _Engine(t_sorted=jnp.asarray(target.values[order]), mu=jnp.asarray(mu),
                       sigma=jnp.asarray(fit.draws("sigma")[order]), nu=jnp.asarray(nu),
                       truth=truth, student=student, level=level,
                       key=jax.random.PRNGKey(seed))


# ------------------------------------------------------------------------------ results
@dataclass(frozen=True)
class IntervalCheck:
    """The stopping answer for one target and tolerance (see :func:`interval_check`).

    Attributes
    ----------
    target : str
    level, tolerance : float
    median, lower, upper, width : float
        Current posterior median, equal-tailed ``level`` interval and its width
        (for ``N_opt``: on ``log N_opt``).
    narrow_enough : bool
        ``width <= tolerance`` now.
    p_within : float
        Posterior probability that the target lies within ``+-tolerance/2`` of
        its median. ``p_within >= level`` is (up to skewness) the same as the
        interval being narrower than the tolerance; it goes to 1 as the
        tolerance grows and to 0 as it shrinks.
    expected_width_after : float
        Expected ``level``-interval width after the planned runs (NaN without runs).
    p_narrow_after : float
        Probability, over outcomes of the planned runs simulated from the
        current posterior, that the interval will then be narrower than the
        tolerance (NaN without runs).
    ess_after : float
        Median effective sample size of the reweighted draws behind the two
        numbers above (NaN without runs).
    """

    target: str
    level: float
    tolerance: float
    median: float
    lower: float
    upper: float
    width: float
    narrow_enough: bool
    p_within: float
    expected_width_after: float = float("nan")
    p_narrow_after: float = float("nan")
    ess_after: float = float("nan")

    def to_frame(self) -> pd.DataFrame:
        """One-row DataFrame of the fields."""
        return pd.DataFrame([self.__dict__])


@dataclass(frozen=True)
class RunPlan:
    """Runs suggested by :func:`suggest_runs`.

    Attributes
    ----------
    runs : pandas.DataFrame
        One row per suggested run, in the greedy order: ``step``, ``N``, ``D``,
        ``C`` (cost, FLOPs), ``group`` (fits with groups), ``cumulative_cost``,
        ``expected_width`` and ``expected_sd`` (of the target after this and
        every earlier run), ``ess`` (median effective sample size of the
        weights) and ``reliable`` (``ess >= min_ess``).
    target : Target
    budget : float
    level : float
    current_width : float
        Width of the target's ``level`` interval now.
    rule : str
        The greedy rule whose plan was kept (``"per_flop"`` or ``"largest_gain"``).
    alternatives : dict
        Final expected width of each rule's plan.
    final_widths : ndarray
        Width after all suggested runs, one per simulated replicate.
    """

    runs: pd.DataFrame
    target: Target
    budget: float
    level: float
    current_width: float
    rule: str
    alternatives: dict[str, float]
    num_draws: int
    final_widths: np.ndarray = field(repr=False)
    final_ess: float = float("nan")

    @property
    def expected_width(self) -> float:
        """Expected interval width after every suggested run."""
        return float(self.runs["expected_width"].iloc[-1]) if len(self.runs) else \
            self.current_width

    @property
    def total_cost(self) -> float:
        return float(self.runs["C"].sum())

    def __repr__(self) -> str:
        return (f"RunPlan(target={self.target.label!r}, runs={len(self.runs)}, "
                f"cost={self.total_cost:.3g} of {self.budget:.3g} FLOPs, "
                f"expected width {self.current_width:.4g} -> {self.expected_width:.4g}, "
                f"rule={self.rule!r})")

    def check(self, tolerance: float) -> IntervalCheck:
        """The stopping answer (:class:`IntervalCheck`) for ``tolerance`` after these runs."""
        tolerance = _positive(tolerance, "tolerance")
        check = _check_now(self.target, tolerance, self.level)
        widths = self.final_widths if len(self.runs) else np.full(1, check.width)
        return IntervalCheck(**{**check.__dict__,
                                "expected_width_after": float(np.mean(widths)),
                                "p_narrow_after": float(np.mean(widths <= tolerance)),
                                "ess_after": self.final_ess})


def _check_now(target: Target, tolerance: float, level: float) -> IntervalCheck:
    tail = (1.0 - level) / 2.0
    lower, median, upper = np.quantile(target.values, [tail, 0.5, 1.0 - tail])
    width = float(upper - lower)
    p_within = float(np.mean(np.abs(target.values - median) <= tolerance / 2.0))
    return IntervalCheck(target=target.label, level=level, tolerance=tolerance,
                         median=float(median), lower=float(lower), upper=float(upper),
                         width=width, narrow_enough=width <= tolerance, p_within=p_within)


# ------------------------------------------------------------------------------ greedy
def _greedy(engine: _Engine, costs: np.ndarray, budget: float, max_runs: int, rule: str,
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


def _check_common(fit: ScalingFit, level: float | None, num_draws: int, num_outcomes: int
                  ) -> float:
    level = fit.level if level is None else float(level)
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    if int(num_draws) < 50 or int(num_outcomes) < 10:
        raise ValueError("num_draws must be >= 50 and num_outcomes >= 10")
    return level


def suggest_runs(
    fit: ScalingFit,
    budget: float,
    target: Mapping[str, Any],
    candidates: pd.DataFrame | None = None,
    n: int | None = None,
    *,
    level: float | None = None,
    min_gain: float = 0.005,
    min_ess: float | None = None,
    num_draws: int = 2000,
    num_outcomes: int = 256,
    seed: int = 0,
) -> RunPlan:
    """Runs whose results would most shrink the posterior interval of ``target``.

    See the module docstring for the method (importance reweighting of posterior
    draws by simulated outcomes, greedy batch selection) and its approximations.

    Parameters
    ----------
    fit : ScalingFit
        The current posterior.
    budget : float
        Total compute (FLOPs, ``C = k N D`` per run) to spend on new runs.
    target : mapping
        What to learn about: ``{"loss": {"N": 7e10, "D": 1.4e12}}``,
        ``{"loss": {"C": 1e24}}`` (compute-optimal loss), ``{"N_opt": 1e24}``
        (on ``log N_opt``) or ``{"difference": ("a", "b", 1e24)}``; see
        :func:`resolve_target`.
    candidates : DataFrame, optional
        Runs to choose from: two of ``N``, ``D``, ``C`` (and ``group`` for a fit
        with groups). Each may be chosen more than once (replicate runs with
        independent noise). Default: :func:`default_candidates` (iso-FLOP lines at
        the budget and its halvings; for groups, in the target's groups).
    n : int, optional
        At most this many runs (default 20).
    level : float, optional
        Interval mass (default: the fit's, 0.9).
    min_gain : float, default 0.005
        Stop when no affordable run shrinks the expected width by at least this
        share of the current width.
    min_ess : float, optional
        Steps whose median importance-weight ESS falls below it are flagged
        unreliable and warned about (default: ``max(30, draws used / 50)``).
    num_draws : int, default 2000
        Posterior draws used (a seeded subsample when the fit has more).
    num_outcomes : int, default 256
        Simulated outcome replicates per expected width.
    seed : int
        Seeds the draw subsample, the replicates' generating draws and the noise.

    Returns
    -------
    RunPlan
        ``plan.runs`` (the suggested runs and the expected width after each
        greedy step), ``plan.current_width``, ``plan.expected_width`` and
        ``plan.check(tolerance)`` for the stopping answer.

    Raises
    ------
    ValueError
        Bad budget, target, candidates, or no candidate fits in the budget.

    Examples
    --------
    >>> plan = fit.suggest_runs(budget=1e21, target={"loss": {"C": 1e24}})  # doctest: +SKIP
    >>> plan.runs                                                           # doctest: +SKIP
    >>> plan.check(tolerance=0.02)                                          # doctest: +SKIP
    """
    budget = _positive(budget, "budget")
    level = _check_common(fit, level, num_draws, num_outcomes)
    max_runs = 20 if n is None else int(n)
    if max_runs < 1:
        raise ValueError(f"n must be at least 1, got {n!r}")
    resolved = resolve_target(fit, target)
    if candidates is None:
        table = default_candidates(fit, budget, groups=resolved.groups or None)
    else:
        table = _validate_candidates(fit, candidates)
    affordable = table["C"].to_numpy() <= budget * (1 + 1e-9)
    if not affordable.any():
        raise ValueError(f"no candidate run fits in the budget {budget:.3g} FLOPs "
                         f"(cheapest costs {table['C'].min():.3g})")
    table = table[affordable].reset_index(drop=True)
    engine = _build_engine(fit, resolved, table, level=level, num_draws=int(num_draws),
                           num_outcomes=int(num_outcomes), seed=seed)
    min_ess = max(30.0, engine.num_draws / 50) if min_ess is None else float(min_ess)
    with jax.enable_x64(True):
        current = float(np.mean(engine.stats(engine.initial_log_w())[0]))
    costs = table["C"].to_numpy()
    results = {rule: _greedy(engine, costs, budget, max_runs, rule, min_gain) for rule in RULES}
    final = {rule: (r[0][-1]["expected_width"] if r[0] else current)
             for rule, r in results.items()}
    spent = {rule: float(costs[[s["candidate"] for s in r[0]]].sum())
             for rule, r in results.items()}
    # Smaller final width wins; within 1% (Monte Carlo noise), the cheaper plan.
    best = min(RULES, key=lambda r: (final[r] > 1.01 * min(final.values()), spent[r]))
    steps, final_widths, final_ess = results[best]
    rows = table.iloc[[s["candidate"] for s in steps]].reset_index(drop=True)
    runs = rows.assign(cumulative_cost=rows["C"].cumsum(),
                       expected_width=[s["expected_width"] for s in steps],
                       expected_sd=[s["expected_sd"] for s in steps],
                       ess=[s["ess"] for s in steps])
    runs["reliable"] = runs["ess"] >= min_ess
    runs.insert(0, "step", np.arange(1, len(runs) + 1))
    if not runs["reliable"].all():
        first = int(runs.loc[~runs["reliable"], "step"].iloc[0])
        warnings.warn(
            f"the importance weights collapsed from step {first} on (median ESS "
            f"{runs['ess'].min():.0f} of {engine.num_draws} draws): the expected widths of "
            "those steps are unreliable and biased low. Fit with more draws, ask with a "
            "smaller budget, or train the first suggested runs, refit and ask again.",
            DesignWarning, stacklevel=2)
    return RunPlan(runs=runs, target=resolved, budget=budget, level=level,
                   current_width=current, rule=best, alternatives=final,
                   num_draws=engine.num_draws, final_widths=final_widths, final_ess=final_ess)


def expected_width(
    fit: ScalingFit,
    target: Mapping[str, Any],
    runs: pd.DataFrame,
    *,
    level: float | None = None,
    num_draws: int = 2000,
    num_outcomes: int = 256,
    seed: int = 0,
) -> tuple[np.ndarray, float]:
    """Widths of the target's interval after the given runs, one per simulated replicate.

    The runs' outcomes are simulated jointly (one generating draw per replicate,
    independent noise per run) and the posterior draws reweighted by all of them.

    Returns
    -------
    widths : ndarray, shape (num_outcomes,)
    ess : float
        Median effective sample size of the weights.
    """
    level = _check_common(fit, level, num_draws, num_outcomes)
    resolved = resolve_target(fit, target)
    table = _validate_candidates(fit, runs)
    engine = _build_engine(fit, resolved, table, level=level, num_draws=int(num_draws),
                           num_outcomes=int(num_outcomes), seed=seed)
    with jax.enable_x64(True):
        log_w = engine.initial_log_w()
        for k in range(len(table)):  # run k's outcome gets its own noise (step k)
            log_w = engine.condition(log_w, engine.outcomes(k), k)
        widths, _, ess = engine.stats(log_w)
    return widths, float(np.median(ess))


def interval_check(
    fit: ScalingFit,
    target: Mapping[str, Any],
    tolerance: float,
    *,
    runs: pd.DataFrame | RunPlan | None = None,
    level: float | None = None,
    num_draws: int = 2000,
    num_outcomes: int = 256,
    seed: int = 0,
) -> IntervalCheck:
    """Is the target's interval already narrow enough, and will it be after ``runs``?

    Parameters
    ----------
    fit : ScalingFit
    target : mapping
        As in :func:`suggest_runs`.
    tolerance : float
        Acceptable width of the ``level`` interval, in the target's units (for
        ``N_opt``: ``log(upper / lower)``, e.g. ``log(2)``).
    runs : DataFrame or RunPlan, optional
        Planned runs (two of ``N``, ``D``, ``C``; ``group`` for fits with groups).
        With them, the expected width afterwards and the probability that it
        will be below the tolerance are estimated as in :func:`suggest_runs`.

    Returns
    -------
    IntervalCheck
        ``width`` and ``narrow_enough`` now; ``p_within``: the posterior
        probability that the target lies within ``+-tolerance/2`` of its median;
        ``expected_width_after`` and ``p_narrow_after`` for the planned runs.
    """
    tolerance = _positive(tolerance, "tolerance")
    level = _check_common(fit, level, num_draws, num_outcomes)
    resolved = resolve_target(fit, target)
    check = _check_now(resolved, tolerance, level)
    if runs is None:
        return check
    table = runs.runs if isinstance(runs, RunPlan) else runs
    if len(table) == 0:
        return IntervalCheck(**{**check.__dict__, "expected_width_after": check.width,
                                "p_narrow_after": float(check.narrow_enough)})
    widths, ess = expected_width(fit, target, table, level=level, num_draws=num_draws,
                                 num_outcomes=num_outcomes, seed=seed)
    return IntervalCheck(**{**check.__dict__, "expected_width_after": float(np.mean(widths)),
                            "p_narrow_after": float(np.mean(widths <= tolerance)),
                            "ess_after": ess})
