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

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import jax
import numpy as np

from .._lazy import lazy_import

if TYPE_CHECKING:
    from ..results.scaling_fit import ScalingFit

from ..exceptions import DesignWarning
from ..results.extensions import register
from .reweighting import build_engine, greedy
from .targets import Target, default_candidates, positive, resolve_target, validate_candidates

pd = lazy_import("pandas")

__all__ = ["suggest_runs", "interval_check", "resolve_target", "default_candidates",
           "expected_width", "Target", "RunPlan", "IntervalCheck", "DesignWarning"]

#: Greedy rules run by :func:`suggest_runs`; the better final plan is returned.
RULES = ("per_flop", "largest_gain")




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
        tolerance = positive(tolerance, "tolerance")
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
    >>> plan = fit.suggest_runs(budget=1e21, target={"loss": {"C": 1e24}})
    >>> plan.runs.columns.tolist()
    [...]
    >>> answer = plan.check(tolerance=0.02)
    """
    budget = positive(budget, "budget")
    level = _check_common(fit, level, num_draws, num_outcomes)
    max_runs = 20 if n is None else int(n)
    if max_runs < 1:
        raise ValueError(f"n must be at least 1, got {n!r}")
    resolved = resolve_target(fit, target)
    if candidates is None:
        table = default_candidates(fit, budget, groups=resolved.groups or None)
    else:
        table = validate_candidates(fit, candidates)
    affordable = table["C"].to_numpy() <= budget * (1 + 1e-9)
    if not affordable.any():
        raise ValueError(f"no candidate run fits in the budget {budget:.3g} FLOPs "
                         f"(cheapest costs {table['C'].min():.3g})")
    table = table[affordable].reset_index(drop=True)
    engine = build_engine(fit, resolved, table, level=level, num_draws=int(num_draws),
                           num_outcomes=int(num_outcomes), seed=seed)
    min_ess = max(30.0, engine.num_draws / 50) if min_ess is None else float(min_ess)
    with jax.enable_x64(True):
        current = float(np.mean(engine.stats(engine.initial_log_w())[0]))
    costs = table["C"].to_numpy()
    results = {rule: greedy(engine, costs, budget, max_runs, rule, min_gain) for rule in RULES}
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
    table = validate_candidates(fit, runs)
    engine = build_engine(fit, resolved, table, level=level, num_draws=int(num_draws),
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
    tolerance = positive(tolerance, "tolerance")
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


# ScalingFit's method(s) of the same name call these (results layer: no import upwards).
register("suggest_runs", suggest_runs)
