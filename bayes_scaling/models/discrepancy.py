r"""Extrapolation discrepancy: honest predictive bands beyond the fitted runs.

A law fitted on small runs misdescribes larger ones: on the field's public
sweeps the larger runs land mostly *below* the plain predictive band
(``benchmarks/EXTRAPOLATION.md``). This module adds that error to the
predictive distribution as a model discrepancy (Kennedy and O'Hagan 2001) on
log-loss that is zero inside the fitted range and grows with the distance
beyond it.

The model
---------
For a new run at distance :math:`d` (decades of compute ``C`` beyond the
largest fitted run, or of the law's single input; :math:`d = 0` inside the
data), with :math:`\hat y` the plain predictive median of log-loss,
:math:`y_{\mathrm{plain}}` a plain predictive draw (curve plus observation
noise) and :math:`s` the plain predictive SD at that point, the observed
log-loss is

.. math::

    \log L_{\mathrm{obs}} = \hat y + \lambda(s, d)\,(y_{\mathrm{plain}} - \hat y)
        + \delta(d), \qquad
    \delta(d) \mid \mu, \tau \sim \mathrm{Normal}(\mu\, d,\ (\tau\, d)^2),

    \log \lambda(s, d) = \bigl(a_s + b \log(s / s_0)\bigr)\, \min(d, 1),
    \qquad s_0 = 0.02, \quad b > -1 .

:math:`\mu` is a systematic drift (log-loss per decade; negative when larger
runs do better than the law says), :math:`\tau` the scale of the
sweep-specific miss per decade, and :math:`\lambda` the *band calibration*:
how far the plain band's own width transfers beyond the data. Across the
field the held-out misses are of about the same size whatever the width of the
plain band (``benchmarks/EXTRAPOLATION.md``): fits with tight bands (many runs, little scatter) miss by more
than their band says (:math:`\lambda > 1`), loose fits of few or noisy small
runs by less (:math:`\lambda < 1`: small runs scatter more than large ones,
and weakly identified parameters spread the plain band). :math:`\lambda`
grows in over the first decade, so the band is continuous at the edge of the
data, and equals 1 inside it; :math:`b > -1` keeps the calibrated band's
width :math:`\lambda s` increasing with the plain band's :math:`s`. All of
:math:`(\mu, \tau, a_s, b)` are *sampled*: each posterior predictive draw
carries its own, drawn from

* the **field prior** (``extrapolation="field"``, the default of
  :meth:`bayes_scaling.ScalingFit.predict`): the population distribution of a
  hierarchical meta-analysis over the public sweeps (:mod:`bayes_scaling.extrapolation.field`),

  .. math::

      \mu_s \sim \mathrm{Normal}(m, s_\mu^2), \qquad
      \log \tau_s \sim \mathrm{Normal}(\ell, s_\tau^2), \qquad
      a_s \sim \mathrm{Normal}(a, s_a^2),

  with :math:`b` shared by the field; each draw for a new sweep taken from a
  posterior draw of :math:`(m, s_\mu, \ell, s_\tau, a, s_a, b)`. A prior file
  without ``s_a`` (written before it existed) has :math:`s_a = 0`, a
  calibration level shared by the field; or
* the field prior **updated by the sweep's own leave-future-out folds**
  (:func:`calibrate_discrepancy`): the fit is refitted on the runs below
  each of several cuts inside its range (50, 65 and 80% of its log range,
  where a cut leaves enough runs on both sides), the larger fitted runs are
  predicted, and the field draws are reweighted by the likelihood of those
  errors (importance resampling). A fold's errors are jointly normal with the
  correlation of its fit's plain predictive draws (one fit's parameter error
  shifts all its predictions together; counting them as independent made a
  single unlucky fold look like a drift). The folds are nested, so a run above
  several cuts is predicted more than once; each fold's log-likelihood weighs
  by the mean over its runs of ``1 / (folds holding the run out)``, so each run
  counts about once: a composite likelihood, an approximation to the exact
  update, not the exact one. Where the sweep has too few runs for any fold,
  the field prior alone is used and :attr:`Discrepancy.note` (and a
  :class:`FieldPriorOnlyWarning`) says so; never an error.

Choices, and what they rest on (``benchmarks/EXTRAPOLATION.md``, all measured
leave-one-sweep-out; known-truth coverage from the slow tests of
``tests/test_discrepancy.py``): see the section *Model choice* there for drift
plus scale against scale only, with against without the band calibration,
a sweep-specific against a shared calibration level, and one against
several own folds. A Gaussian process in log ``N`` and log ``D`` and
separate distances in log ``N`` and log ``D`` were not measured: the held-out
runs of a sweep lie on a few iso-FLOP or size lines, too few to identify a
length scale or two slopes. The band calibration is an empirical
statement about the public sweeps: a fit far outside their kind (a handful of
runs, a new loss) should be checked with :func:`calibrate_discrepancy` or shown
with ``extrapolation="none"`` next to it.

Known gaps (measured; numbers in ``benchmarks/EXTRAPOLATION.md`` and the slow
tests):

* The field prior alone (the default of ``predict``: no refits) is wider than
  needed: leave-one-sweep-out its mean 90% coverage lies above the bar's 0.95,
  and it over-covers simulated runs from a correct law. Its sweep-specific
  calibration level is what widens a new sweep's band, at a cost in interval
  score against a level shared by the field. It is shipped because the
  own-fold update needs it: with it the updated bands meet every item of the
  bar, with a shared level they do not; on simulated runs from a correct law
  and on bending truth they keep the nominal coverage where the plain band
  fails on the latter. Use :func:`calibrate_discrepancy` where the sweep has
  the runs. The model-choice rows of the benchmark measure its two parts
  (errors counted as independent within a fold; the 65% cut alone).
* A cut needs at least 15 fitted runs below it; 2 of the 12 public sweeps
  (datablations single-epoch, Pythia) have none and get the field prior alone.
* The large iso-FLOP sweeps (Chinchilla, the Marin mixes) stay the least
  covered after the update: their misses beyond the range are larger than
  their own folds show.
* The nested folds' pooled likelihood is approximate (above); the
  meta-analysis treats one sweep's held-out errors as independent; its NUTS
  fits with ``s_a`` show a few divergences (up to 25 of 4000 draws per
  leave-one-sweep-out fit: the hierarchical funnel of a 12-sweep population).
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import numpy as np

from ..exceptions import BayesScalingWarning

if TYPE_CHECKING:  # the fit's duck type: runs, law, predict_draws, noise_draws
    import pandas as pd

    ScalingFit = Any

__all__ = ["Discrepancy", "FieldPrior", "FieldPriorOnlyWarning", "FIELD_PRIOR_FILE", "SD_REF",
           "axis_of", "distance", "with_discrepancy", "load_field_prior", "log_predictive_draws",
           "update_with_errors"]

#: Package data file holding the field prior's hyperparameter draws (written by
#: ``tools/field_prior.py``; never edited by hand).
FIELD_PRIOR_FILE = "field_discrepancy.json"
# Width of a central 90% normal interval in SDs: predictive quantiles -> an SD.
_Z90_WIDTH = 2.0 * statistics.NormalDist().inv_cdf(0.95)  # stdlib: scipy.stats takes ~1 s to import
#: Reference plain predictive SD (log-loss) of the band calibration.
SD_REF = 0.02
_HYPER = ("m", "s_mu", "ell", "s_tau", "a", "b", "s_a")


class FieldPriorOnlyWarning(BayesScalingWarning):
    """The sweep's own runs could not update the field prior; the field prior alone is used."""


@dataclass(frozen=True)
class FieldPrior:
    """Posterior draws of the field's discrepancy hyperparameters.

    Attributes
    ----------
    m, s_mu : numpy.ndarray
        Mean and SD across sweeps of the drift ``mu`` (log-loss per decade).
    ell, s_tau : numpy.ndarray
        Mean and SD across sweeps of ``log tau`` (``tau``: log-loss SD per decade).
    a, b : numpy.ndarray
        Band calibration: ``log lambda = (a_s + b log(s / 0.02)) min(d, 1)`` with
        ``a_s ~ Normal(a, s_a^2)`` across sweeps. Zero (no calibration) in prior files
        written before it existed.
    s_a : numpy.ndarray
        SD across sweeps of the band calibration's level ``a_s``. Zero (``a`` shared by
        the field) in prior files written before it existed.
    provenance : dict
        Sweeps, protocol, sampler settings and date of the meta-analysis.
    """

    m: np.ndarray
    s_mu: np.ndarray
    ell: np.ndarray
    s_tau: np.ndarray
    a: np.ndarray | None = None
    b: np.ndarray | None = None
    provenance: dict = field(default_factory=dict)
    s_a: np.ndarray | None = None

    def __post_init__(self) -> None:
        for name in ("a", "b", "s_a"):  # old files: lambda = 1, or a shared by the field
            if getattr(self, name) is None:
                object.__setattr__(self, name, np.zeros_like(self.m))

    def sample_all(self, num: int, seed: int) -> dict[str, np.ndarray]:
        """``num`` draws of ``mu``, ``tau``, ``a``, ``b`` for a new sweep (population
        predictive: ``a`` is the new sweep's ``a_s``)."""
        rng = np.random.default_rng(seed)
        k = rng.integers(0, len(self.m), num)
        mu = self.m[k] + self.s_mu[k] * rng.standard_normal(num)
        tau = np.exp(self.ell[k] + self.s_tau[k] * rng.standard_normal(num))
        # Drawn after mu and tau, so a prior with s_a = 0 keeps its earlier draws.
        a = self.a[k] + self.s_a[k] * rng.standard_normal(num)
        return {"mu": mu, "tau": tau, "a": a, "b": self.b[k]}

    def sample(self, num: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """``num`` draws of ``(mu, tau)`` for a new sweep (population predictive)."""
        draws = self.sample_all(num, seed)
        return draws["mu"], draws["tau"]

    def to_json(self) -> dict[str, Any]:
        return {"provenance": self.provenance,
                "draws": {k: np.round(getattr(self, k), 6).tolist() for k in _HYPER}}

    @classmethod
    def from_json(cls, content: dict[str, Any]) -> FieldPrior:
        d = content["draws"]
        return cls(**{k: np.asarray(d[k], dtype=np.float64) for k in _HYPER if k in d},
                   provenance=content.get("provenance", {}))


@lru_cache(maxsize=1)
def load_field_prior() -> FieldPrior:
    """The shipped field prior (``bayes_scaling/data/field_discrepancy.json``).

    Its provenance (sweeps, protocol, date) is in ``.provenance``; regenerate it
    with ``python tools/field_prior.py`` (needs the shared data folder).
    """
    text = resources.files("bayes_scaling").joinpath("data", FIELD_PRIOR_FILE).read_text()
    return FieldPrior.from_json(json.loads(text))


@dataclass(frozen=True)
class Discrepancy:
    """Draws of the discrepancy's drift, scale and band calibration for one sweep.

    Attributes
    ----------
    mu, tau : numpy.ndarray
        Paired draws (log-loss per decade beyond the fitted range).
    source : str
        ``"field"`` or ``"field + own folds"``.
    note : str
        Why the sweep's own runs were not used, if they were not.
    ess : float
        Effective sample size of the importance update (``len(mu)`` without one).
    a, b : numpy.ndarray, optional
        Band-calibration draws paired with ``mu`` and ``tau`` (zeros: ``lambda = 1``).
    """

    mu: np.ndarray
    tau: np.ndarray
    source: str = "field"
    note: str = ""
    ess: float = float("nan")
    a: np.ndarray | None = None
    b: np.ndarray | None = None

    def __post_init__(self) -> None:
        for name in ("a", "b"):
            if getattr(self, name) is None:
                object.__setattr__(self, name, np.zeros_like(self.mu))

    def draws(self, d: np.ndarray, num: int, seed: int) -> np.ndarray:
        """Draws ``(num, len(d))`` of ``delta(d)`` in log-loss (zero where ``d = 0``)."""
        rng = np.random.default_rng(seed)
        k = rng.integers(0, len(self.mu), num)
        d = np.asarray(d, dtype=np.float64)[None, :]
        z = rng.standard_normal((num, d.shape[1]))
        return self.mu[k, None] * d + self.tau[k, None] * d * z

    def apply(self, log_obs: np.ndarray, d: np.ndarray, seed: int) -> np.ndarray:
        """Plain predictive log-loss draws ``(num, points)`` -> draws with the discrepancy.

        Inside the data (``d = 0``) the draws are returned unchanged; beyond it each
        draw's deviation from the plain median is scaled by its ``lambda(s, d)`` and
        ``delta(d)`` is added (module docstring).
        """
        d = np.asarray(d, dtype=np.float64)
        num = log_obs.shape[0]
        k = np.random.default_rng(seed).integers(0, len(self.mu), num)
        centre = np.median(log_obs, axis=0)
        lower, upper = np.quantile(log_obs, [0.05, 0.95], axis=0)
        spread = np.maximum((upper - lower) / _Z90_WIDTH, np.finfo(float).tiny)
        log_lam = ((self.a[k, None] + self.b[k, None] * np.log(spread / SD_REF)[None, :])
                   * np.minimum(d, 1.0)[None, :])
        scaled = centre[None, :] + np.exp(log_lam) * (log_obs - centre[None, :])
        return scaled + self.draws(d, num, seed + 1)

    @classmethod
    def from_field(cls, prior: FieldPrior | None = None, num: int = 4000, seed: int = 0,
                   note: str = "") -> Discrepancy:
        prior = load_field_prior() if prior is None else prior
        draws = prior.sample_all(num, seed)
        return cls(mu=draws["mu"], tau=draws["tau"], a=draws["a"], b=draws["b"],
                   source="field", note=note, ess=float(num))


def axis_of(law: Any) -> str:
    """The size that measures distance: compute for joint laws, else the single input."""
    inputs = law.inputs
    return inputs[0] if len(inputs) == 1 else "C"


def distance(fit: ScalingFit, sizes: dict[str, np.ndarray]) -> np.ndarray:
    """Decades of the fit's distance axis beyond its largest fitted run (0 inside)."""
    axis = axis_of(fit.law)
    reach = float(np.max(fit.runs.column(axis)))
    return np.maximum(np.log10(np.asarray(sizes[axis], dtype=np.float64) / reach), 0.0)


def log_predictive_draws(fit: ScalingFit, sizes: dict[str, np.ndarray], seed: int
                         ) -> np.ndarray:
    """Plain draws of a new run's observed log-loss: curve plus observation noise."""
    import jax

    curve = np.log(fit.predict_draws(**{k: sizes[k] for k in fit.law.inputs}))
    return curve + fit.noise_draws(curve.shape, jax.random.PRNGKey(seed))


def _fold_loglik(e, sd, d, lam, tau, mu, corr):
    """Log-likelihood per draw of one fold's errors, correlated through ``corr``.

    ``e ~ MVN(mu d, L R L + diag(tau^2 d^2))`` with ``L = diag(lambda sd)`` and ``R``
    the correlation of the fold fit's plain predictive draws; processed in chunks
    of draws (one Cholesky factor per draw).
    """
    n = e.shape[0]
    out = np.empty(lam.shape[0])
    eye = np.eye(n)
    for start in range(0, lam.shape[0], 256):
        sl = slice(start, start + 256)
        scale = lam[sl] * sd[None, :]
        cov = scale[:, :, None] * corr[None] * scale[:, None, :]
        cov = cov + ((tau[sl, None] * d[None, :]) ** 2)[:, :, None] * eye[None] + 1e-12 * eye
        chol = np.linalg.cholesky(cov)
        resid = e[None, :] - mu[sl, None] * d[None, :]
        white = np.linalg.solve(chol, resid[:, :, None])[:, :, 0]
        logdet = 2.0 * np.sum(np.log(np.diagonal(chol, axis1=1, axis2=2)), axis=1)
        out[sl] = -0.5 * (logdet + np.sum(white ** 2, axis=1))
    return out


def update_with_errors(prior: FieldPrior, errors: pd.DataFrame, *, num: int = 4000,
                       seed: int = 0) -> Discrepancy:
    """Field prior updated by a sweep's own fold errors (importance resampling).

    ``errors`` has columns ``e`` (observed minus predicted log-loss), ``sd``
    (plain predictive SD) and ``d`` (decades beyond the fold's data), and
    optionally ``w`` (a weight per error, default 1); the log-likelihood of draw
    ``j`` is ``sum_i w_i log Normal(e_i; mu_j d_i, (lambda_ij sd_i)^2 + tau_j^2 d_i^2)``.
    Weights ``w_i = 1 / k_i`` for a run held out by ``k_i`` nested folds count each
    run once (a composite likelihood: the folds' errors are correlated, so the
    pooled likelihood is an approximation, not the exact one).

    Where ``errors.attrs["corr"]`` maps each value of column ``fold`` to the
    correlation matrix of that fold fit's plain predictive draws (as
    :func:`bayes_scaling.extrapolation.discrepancy.fold_errors` returns), the errors
    of a fold are jointly normal, ``MVN(mu d, L R L + diag(tau^2 d^2))`` with
    ``L = diag(lambda sd)``: the same joint scaling of a plain draw as
    :meth:`Discrepancy.apply`. Each fold then weighs by the mean of its rows'
    ``w``. Without it the errors are independent, as above: a fit's parameter
    error, shared by all its predictions, would then count once per run.
    """
    draws = prior.sample_all(4 * num, seed)
    mu, tau, a, b = (draws[k] for k in ("mu", "tau", "a", "b"))
    e, sd, d = (errors[c].to_numpy(np.float64)[None, :] for c in ("e", "sd", "d"))
    wt = (errors["w"].to_numpy(np.float64) if "w" in errors.columns
          else np.ones(e.shape[1]))[None, :]
    if np.any(~np.isfinite(wt)) or np.any(wt < 0):
        raise ValueError("errors column 'w' must hold finite weights >= 0")
    lam = np.exp((a[:, None] + b[:, None] * np.log(sd / SD_REF)) * np.minimum(d, 1.0))
    corr = errors.attrs.get("corr")
    if corr is not None and "fold" in errors.columns:
        folds = errors["fold"].to_numpy()
        logw = np.zeros(len(mu))
        for f in np.unique(folds):
            rows = folds == f
            r = np.asarray(corr[f], dtype=np.float64)
            if r.shape != (rows.sum(), rows.sum()):
                raise ValueError(f"errors.attrs['corr'][{f!r}] has shape {r.shape}, fold "
                                 f"{f!r} has {rows.sum()} rows")
            logw += np.mean(wt[0, rows]) * _fold_loglik(
                e[0, rows], sd[0, rows], d[0, rows], lam[:, rows], tau, mu, r)
    else:
        var = (lam * sd) ** 2 + (tau[:, None] * d) ** 2
        logw = -0.5 * np.sum(wt * (np.log(var) + (e - mu[:, None] * d) ** 2 / var), axis=1)
    w = np.exp(logw - logw.max())
    w /= w.sum()
    ess = float(1.0 / np.sum(w ** 2))
    k = np.random.default_rng(seed + 1).choice(len(w), size=num, p=w)
    note = "" if ess >= 100 else (f"importance update has an effective sample size of "
                                  f"{ess:.0f}: the sweep's folds disagree with the field prior")
    return Discrepancy(mu=mu[k], tau=tau[k], a=a[k], b=b[k], source="field + own folds",
                       note=note, ess=ess)


def with_discrepancy(fit: ScalingFit, sizes: dict[str, np.ndarray], log_obs: np.ndarray,
                      extrapolation: Any, seed: int) -> tuple[np.ndarray, str, np.ndarray]:
    """Predictive log-loss draws with the discrepancy: the band, its label and ``d``.

    ``extrapolation``: ``"field"`` (the shipped field prior), ``"none"`` (plain band) or a
    :class:`Discrepancy`.
    """
    beyond = distance(fit, dict(sizes))
    if isinstance(extrapolation, str) and extrapolation == "none":
        return log_obs, "plain predictive", beyond
    if isinstance(extrapolation, str) and extrapolation == "field":
        disc = Discrepancy.from_field(seed=seed)
    elif isinstance(extrapolation, Discrepancy):
        disc = extrapolation
    else:
        raise ValueError(f"extrapolation must be 'field', 'none' or a Discrepancy, got "
                         f"{extrapolation!r}")
    return disc.apply(log_obs, beyond, seed), f"predictive + {disc.source} discrepancy", beyond
