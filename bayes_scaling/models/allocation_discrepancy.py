r"""Allocation discrepancy: an honest interval for the compute-optimal ``N`` beyond the data.

The law's compute-optimal model size :math:`N_{\mathrm{opt}}(C)` (the minimum of the
fitted law along :math:`C = k N D`) and the minimum a sweep actually measures at a
budget (the vertex of its iso-FLOP profile) disagree on the field's public
sweeps, already inside the fitted range and more so beyond it
(``benchmarks/EXTRAPOLATION.md``, "N_opt backtest"). The plain posterior interval
of :math:`N_{\mathrm{opt}}` knows only the law's parameter uncertainty, so held-out
iso-FLOP minima fall outside it. This module adds the disagreement as a
discrepancy on :math:`\ln N_{\mathrm{opt}}`.

The model
---------
For a budget :math:`C` at :math:`d` decades of compute beyond the largest fitted
run (:math:`d = 0` inside the data),

.. math::

    \ln N_{\mathrm{opt,obs}}(C) = \ln N_{\mathrm{opt,law}}(C) + \nu_s
        + g \min(d, d_{\max}) + \varepsilon, \qquad
    \varepsilon \sim \mathrm{Normal}\bigl(0,\ \sigma^2 + (\tau d)^2\bigr),

    \nu_s \sim \mathrm{Normal}(m, s_\nu^2),

with :math:`\nu_s` the sweep's offset between the law's optimum and its iso-FLOP
vertices, :math:`\sigma` the scatter of single vertices (including the error of a
parabola vertex fitted to a handful of runs), :math:`g` a drift per decade
beyond the data shared by the field, applied up to the largest distance
:math:`d_{\max}` at which the field measured it (1.2 decades) and held there
further out (a linear drift extrapolated over many decades would move
:math:`N_{\mathrm{opt}}` by factors the data cannot support), and :math:`\tau`
the growth of the scatter per decade, which keeps growing. ``D_opt`` and ``tokens_per_param`` follow through
:math:`C = k N D` (:math:`\ln D_{\mathrm{opt}}` moves by :math:`-\delta`, the
ratio by :math:`-2\delta`); ``loss_opt`` is left as the law's loss at its own
optimum (the loss is flat along the iso-FLOP line near its minimum, so the vertex
offset changes it to second order only).

* **Field prior** (:func:`load_allocation_prior`, file
  ``bayes_scaling/data/field_allocation.json``): posterior draws of
  :math:`(m, s_\nu, \sigma, \tau, g)` from a hierarchical meta-analysis
  (:mod:`bayes_scaling.extrapolation.allocation_field`) over the public iso-FLOP
  sweeps, each fitted on the lower 65% of its log-compute range, using both the
  vertices inside that range (:math:`d = 0`) and the held-out larger ones.
* **Own update** (:func:`update_with_vertices`): the fit's own iso-FLOP vertices
  inside its data (budgets with at least 5 runs around a vertex) update
  :math:`\nu_s` conjugately for every field draw, and the draws are reweighted by
  the marginal likelihood of those vertices (importance resampling: an exact
  Bayesian update). A fit without such budgets uses the field prior alone, with
  a note (never an error).

The discrepancy is added beyond the fitted range only (:math:`d > 0`), where the
plain interval is an extrapolation; inside it, the plain posterior interval is
reported (``band`` column), so the interval widens in a step at the edge of the
data. Known limits: the residuals of one sweep's vertices share the law's
posterior error (treated as independent); the field is five sweeps from two labs
(the three Marin mixes and the two Porian sets: Chinchilla's and Gemstones' runs
are not laid out on iso-FLOP budgets), so sweeps of one lab inform each other in
the leave-one-sweep-out backtest; the drift ``g`` is learnt from budgets 0.3-1.2
decades beyond the data and held at its value at 1.2 decades further out, while
the scatter keeps growing: a choice, not a measurement (the field has no vertex
farther out). Without a ``budget``
column (a fitted ``RunsTable`` keeps none) budgets are found by
clustering ``C``, which merges budgets less than a factor 1.3 apart. On *simulated*
runs from an exactly correct law the law's optimum is the truth and the field
default (offset and drift above zero) is shifted up; use ``extrapolation="none"``
there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ALLOCATION_PRIOR_FILE", "AllocationDiscrepancy", "AllocationFieldPrior",
           "isoflop_vertices", "load_allocation_prior", "own_discrepancy", "shift_allocation",
           "update_with_vertices", "vertex_residuals", "with_allocation_discrepancy"]

#: Package data file of the allocation field prior (written by
#: ``benchmarks/extrapolation.py --write-allocation-prior``; never edited by hand).
ALLOCATION_PRIOR_FILE = "field_allocation.json"
_HYPER = ("m", "s_nu", "sigma", "tau", "g")
#: Fewest runs on an iso-FLOP budget for its vertex to count.
MIN_VERTEX_RUNS = 5


@dataclass(frozen=True)
class AllocationFieldPrior:
    """Posterior draws of the field's allocation-discrepancy hyperparameters.

    Attributes
    ----------
    m, s_nu : numpy.ndarray
        Mean and SD across sweeps of the offset ``nu`` (ln N).
    sigma : numpy.ndarray
        Scatter of single iso-FLOP vertices about ``ln N_opt,law + nu`` (ln N).
    tau : numpy.ndarray
        Growth of that scatter per decade of compute beyond the data (ln N per decade).
    g : numpy.ndarray
        Drift of ``ln N`` per decade beyond the data (zeros: no drift).
    reach : float
        Largest distance (decades) of a held-out vertex in the meta-analysis: the
        drift is applied up to it and held there further out (not extrapolated).
    provenance : dict
        Sweeps, protocol, sampler settings and date of the meta-analysis.
    """

    m: np.ndarray
    s_nu: np.ndarray
    sigma: np.ndarray
    tau: np.ndarray
    g: np.ndarray | None = None
    reach: float = float("inf")
    provenance: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.g is None:  # no drift
            object.__setattr__(self, "g", np.zeros_like(self.m))

    def sample(self, num: int, seed: int) -> dict[str, np.ndarray]:
        """``num`` draws of ``nu``, ``sigma``, ``tau``, ``g`` for a new sweep (population
        predictive)."""
        rng = np.random.default_rng(seed)
        k = rng.integers(0, len(self.m), num)
        return {"nu": self.m[k] + self.s_nu[k] * rng.standard_normal(num),
                "sigma": self.sigma[k], "tau": self.tau[k], "g": self.g[k]}

    def to_json(self) -> dict[str, Any]:
        return {"provenance": self.provenance, "reach": self.reach,
                "draws": {k: np.round(getattr(self, k), 5).tolist() for k in _HYPER}}

    @classmethod
    def from_json(cls, content: dict[str, Any]) -> AllocationFieldPrior:
        d = content["draws"]
        return cls(**{k: np.asarray(d[k], dtype=np.float64) for k in _HYPER if k in d},
                   reach=float(content.get("reach", float("inf"))),
                   provenance=content.get("provenance", {}))


@lru_cache(maxsize=1)
def load_allocation_prior() -> AllocationFieldPrior:
    """The shipped allocation field prior (``bayes_scaling/data/field_allocation.json``).

    Its provenance (sweeps, protocol, date) is in ``.provenance``.
    """
    text = resources.files("bayes_scaling").joinpath("data", ALLOCATION_PRIOR_FILE).read_text()
    return AllocationFieldPrior.from_json(json.loads(text))


@dataclass(frozen=True)
class AllocationDiscrepancy:
    """Draws of one sweep's offset ``nu`` and scatter ``(sigma, tau)`` (ln N_opt).

    Attributes
    ----------
    nu, sigma, tau, g : numpy.ndarray
        Paired draws (``g``: drift per decade; zeros when absent).
    source : str
        ``"field prior"`` or ``"field prior + own iso-FLOP minima"``.
    note : str
        Why the sweep's own vertices were not used, if they were not.
    ess : float
        Effective sample size of the importance update.
    reach : float
        The drift ``g d`` is applied as ``g min(d, reach)`` (see ``AllocationFieldPrior``).
    """

    nu: np.ndarray
    sigma: np.ndarray
    tau: np.ndarray
    source: str = "field prior"
    note: str = ""
    ess: float = float("nan")
    g: np.ndarray | None = None
    reach: float = float("inf")

    def __post_init__(self) -> None:
        if self.g is None:
            object.__setattr__(self, "g", np.zeros_like(self.nu))

    def draws(self, d: np.ndarray, num: int, seed: int) -> np.ndarray:
        """Draws ``(num, len(d))`` of ``nu + g d + eps(d)`` in ln N (zero where ``d = 0``)."""
        rng = np.random.default_rng(seed)
        k = rng.integers(0, len(self.nu), num)
        d = np.asarray(d, dtype=np.float64)[None, :]
        scale = np.sqrt(self.sigma[k, None] ** 2 + (self.tau[k, None] * d) ** 2)
        # One deviation per draw shared by every budget: a sweep's miss is persistent (and
        # a frontier drawn over many budgets stays smooth); marginals are unchanged.
        delta = (self.nu[k, None] + self.g[k, None] * np.minimum(d, self.reach)
                 + scale * rng.standard_normal((num, 1)))
        return np.where(d > 0, delta, 0.0)

    @classmethod
    def from_field(cls, prior: AllocationFieldPrior | None = None, num: int = 4000,
                   seed: int = 0, note: str = "") -> AllocationDiscrepancy:
        prior = load_allocation_prior() if prior is None else prior
        s = prior.sample(num, seed)
        return cls(nu=s["nu"], sigma=s["sigma"], tau=s["tau"], g=s["g"], source="field prior",
                   note=note, ess=float(num), reach=prior.reach)


def isoflop_vertices(frame: pd.DataFrame, *, rtol: float = 0.3,
                     min_runs: int = MIN_VERTEX_RUNS, max_span: float = 2.0) -> pd.DataFrame:
    """Empirical iso-FLOP minima: vertex of a parabola of ln loss in ln N per budget.

    Budgets are the ``budget`` column when present, else clusters of ``C`` (sorted
    ``ln C`` split where consecutive runs differ by more than a factor
    ``1 + rtol``); a cluster whose ``C`` spans more than a factor ``max_span`` is no
    iso-FLOP line (runs spread over compute) and is skipped. A budget counts with
    at least ``min_runs`` runs, three distinct ``N``, positive curvature and its
    vertex inside its runs' ``N`` range.

    Returns
    -------
    pandas.DataFrame
        Columns ``C`` (the budget, geometric mean of its runs' ``C`` when clustered),
        ``N_vertex`` and ``runs``.
    """
    import pandas as pd

    c = frame["C"].to_numpy(np.float64)
    if "budget" in frame.columns:
        labels, centres = pd.factorize(frame["budget"])[0], frame["budget"].unique()
    else:
        log_c = np.log(c)
        order = np.argsort(log_c, kind="stable")
        sorted_labels = np.concatenate([[0], np.cumsum(np.diff(log_c[order]) > np.log1p(rtol))])
        labels = np.empty_like(sorted_labels)
        labels[order] = sorted_labels
        centres = [float(np.exp(log_c[labels == j].mean())) for j in range(labels.max() + 1)]
    rows = []
    for j, centre in enumerate(centres):
        sub = frame[labels == j]
        x = np.log(sub["N"].to_numpy(np.float64))
        spread = float(np.ptp(np.log(sub["C"].to_numpy(np.float64))))
        if len(sub) < min_runs or len(np.unique(x)) < 3 or (
                "budget" not in frame.columns and spread > np.log(max_span)):
            continue
        y = np.log(sub["loss"].to_numpy(np.float64))
        u = x - x.mean()  # centred for conditioning
        c2, c1, _ = np.polyfit(u, y, 2)
        vertex = -c1 / (2.0 * c2) if c2 > 0 else np.nan
        if np.isfinite(vertex) and u.min() <= vertex <= u.max():
            rows.append({"C": float(centre), "N_vertex": float(np.exp(vertex + x.mean())),
                         "runs": int(len(sub))})
    return pd.DataFrame(rows, columns=["C", "N_vertex", "runs"])


def vertex_residuals(log_n_draws: np.ndarray, vertices: pd.DataFrame, d: np.ndarray
                     ) -> pd.DataFrame:
    """Residuals of iso-FLOP vertices against the law's ``ln N_opt`` draws at their budgets.

    ``log_n_draws`` has shape ``(draws, len(vertices))``. Returns columns ``r``
    (``ln N_vertex`` minus the median ``ln N_opt``), ``sd`` (posterior SD of
    ``ln N_opt`` from its 90% interval) and ``d`` (decades beyond the fitted runs).
    """
    import pandas as pd

    lower, median, upper = np.quantile(log_n_draws, [0.05, 0.5, 0.95], axis=0)
    return pd.DataFrame({"r": np.log(vertices["N_vertex"].to_numpy(np.float64)) - median,
                         "sd": (upper - lower) / 3.289707253902945,  # 90% normal width in SDs
                         "d": np.asarray(d, dtype=np.float64)})


def update_with_vertices(prior: AllocationFieldPrior, residuals: pd.DataFrame, *,
                         num: int = 4000, seed: int = 0) -> AllocationDiscrepancy:
    """Field prior updated by a sweep's own in-range vertex residuals (conjugate in ``nu``).

    For each field draw of ``(m, s_nu, sigma)`` the offset's posterior given the
    residuals ``r_i ~ Normal(nu, sd_i^2 + sigma^2)`` is normal; the draw is weighted
    by the marginal likelihood of the residuals and resampled.
    """
    rng = np.random.default_rng(seed)
    k = rng.integers(0, len(prior.m), 4 * num)
    m, s_nu, sigma, tau, g = (getattr(prior, n)[k] for n in _HYPER)
    s_nu = np.maximum(s_nu, 1e-9)  # a point-mass offset prior stays finite
    r, sd = (residuals[c].to_numpy(np.float64)[None, :] for c in ("r", "sd"))
    var = sd ** 2 + sigma[:, None] ** 2
    precision = 1.0 / s_nu ** 2 + np.sum(1.0 / var, axis=1)
    mean = (m / s_nu ** 2 + np.sum(r / var, axis=1)) / precision
    # log p(r) = log p(r | nu) + log p(nu) - log p(nu | r), at nu = posterior mean
    log_lik = -0.5 * np.sum(np.log(2 * np.pi * var) + (r - mean[:, None]) ** 2 / var, axis=1)
    log_prior = -0.5 * (np.log(2 * np.pi * s_nu ** 2) + (mean - m) ** 2 / s_nu ** 2)
    log_post = -0.5 * np.log(2 * np.pi / precision)
    logw = log_lik + log_prior - log_post
    w = np.exp(logw - logw.max())
    w /= w.sum()
    ess = float(1.0 / np.sum(w ** 2))
    pick = rng.choice(len(w), size=num, p=w)
    nu = mean[pick] + rng.standard_normal(num) / np.sqrt(precision[pick])
    note = "" if ess >= 100 else (f"importance update has an effective sample size of "
                                  f"{ess:.0f}: the sweep's vertices disagree with the field prior")
    return AllocationDiscrepancy(nu=nu, sigma=sigma[pick], tau=tau[pick], g=g[pick],
                                 source="field prior + own iso-FLOP minima", note=note, ess=ess,
                                 reach=prior.reach)


def shift_allocation(draws: dict[str, np.ndarray], delta: np.ndarray) -> dict[str, np.ndarray]:
    """Allocation draws with ``ln N_opt`` moved by ``delta`` along ``C = k N D``."""
    out = dict(draws)
    factor = np.exp(delta)
    out["N_opt"] = draws["N_opt"] * factor
    out["D_opt"] = draws["D_opt"] / factor
    out["tokens_per_param"] = draws["tokens_per_param"] / factor ** 2
    return out


def own_discrepancy(fit: Any, prior: AllocationFieldPrior | None = None, *, num: int = 4000,
                    seed: int = 0) -> AllocationDiscrepancy:
    """The field prior updated by the fit's own in-range iso-FLOP vertices, or alone with a note."""
    prior = load_allocation_prior() if prior is None else prior
    if getattr(fit, "groups", None) is not None:
        return AllocationDiscrepancy.from_field(
            prior, num, seed, note="a fit with groups: field prior alone")
    vertices = isoflop_vertices(fit.runs.frame)
    if not len(vertices):
        return AllocationDiscrepancy.from_field(
            prior, num, seed, note=f"no iso-FLOP budget with >= {MIN_VERTEX_RUNS} runs around "
                                   f"a vertex in the fitted runs: field prior alone")
    log_n = np.log(fit.allocation_draws(vertices["C"].to_numpy(), extrapolation="none")["N_opt"])
    return update_with_vertices(prior, vertex_residuals(log_n, vertices, 0.0), num=num, seed=seed)


#: What ``extrapolation="field"`` means for the allocation: chosen by the leave-one-sweep-out
#: N_opt backtest (best interval score; ``benchmarks/EXTRAPOLATION.md``).
DEFAULT_VARIANT = "field + own"


def with_allocation_discrepancy(fit: Any, compute: np.ndarray, draws: dict[str, np.ndarray],
                                extrapolation: Any, seed: int
                                ) -> tuple[dict[str, np.ndarray], Any, np.ndarray]:
    """Allocation draws with the discrepancy beyond the fitted runs: draws, labels, ``d``.

    The labels (one per budget, or one string for the plain interval) say which
    interval each budget gets: ``"plain posterior"`` inside the fitted range.

    ``extrapolation``: ``"field"`` (the default variant, :data:`DEFAULT_VARIANT`),
    ``"field prior"`` (the shipped field prior alone), ``"field + own"`` (updated by
    the fit's own in-range iso-FLOP vertices), ``"none"`` (the plain posterior
    interval) or an :class:`AllocationDiscrepancy`.
    """
    reach = float(np.max(fit.runs.C))
    beyond = np.log10(np.asarray(compute, dtype=np.float64) / reach)
    beyond = np.where(beyond > 1e-9, beyond, 0.0)  # a budget of the runs, to rounding: inside
    if isinstance(extrapolation, str):
        choice = DEFAULT_VARIANT if extrapolation == "field" else extrapolation
        if choice == "none":
            return draws, "plain posterior", beyond
        if choice == "field prior":
            disc = AllocationDiscrepancy.from_field(seed=seed)
        elif choice == "field + own":
            disc = own_discrepancy(fit, seed=seed)
        else:
            raise ValueError(f"extrapolation must be 'field', 'field prior', 'field + own', "
                             f"'none' or an AllocationDiscrepancy, got {extrapolation!r}")
    elif isinstance(extrapolation, AllocationDiscrepancy):
        disc = extrapolation
    else:
        raise ValueError(f"extrapolation must be 'field', 'field prior', 'field + own', 'none' "
                         f"or an AllocationDiscrepancy, got {extrapolation!r}")
    delta = disc.draws(beyond, draws["N_opt"].shape[0], seed)
    label = f"posterior + {disc.source} discrepancy" + (f" ({disc.note})" if disc.note else "")
    labels = np.where(beyond > 0, label, "plain posterior")  # zero inside the fitted runs
    return shift_allocation(draws, delta), labels, beyond
