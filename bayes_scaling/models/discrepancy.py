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

* the **field prior** (``extrapolation="field"``): the population distribution of a
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
  single unlucky fold look like a drift). That correlation is the curves' few
  parameter directions plus independent observation noise, kept as low rank
  plus diagonal, so the exact Gaussian likelihood of every candidate draw costs
  ``O(n k^2)`` by the Woodbury identity rather than a Cholesky factor's
  ``O(n^3)`` (:mod:`bayes_scaling.models.discrepancy_update`, which also
  describes the adaptive importance sampler). The folds are nested, so a run above
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
several own folds. Two other forms are measured there, leave-one-sweep-out
against this one (section *Discrepancy forms not shipped*, by
``benchmarks/discrepancy_variants.py``),
and neither is better on interval score or coverage: separate distances in
log ``N`` and log ``D`` (a run beyond the largest fitted compute is often
within the fitted ``N`` and ``D``, where both distances are zero and the
miss is not), and a Gaussian process in ``(log N, log D)`` (Kennedy and
O'Hagan 2001; its length scale comes out near one decade, and the band
widens). The band calibration is an empirical
statement about the public sweeps: a fit far outside their kind (a handful of
runs, a new loss) should be checked against ``extrapolation="field"`` and
``extrapolation="none"``.

Known gaps (measured; numbers in ``benchmarks/EXTRAPOLATION.md`` and the slow
tests):

* The field prior alone (``extrapolation="field"``: no refits) is wider than
  needed: leave-one-sweep-out its mean 90% coverage lies above the bar's 0.95,
  and it over-covers simulated runs from a correct law. Its sweep-specific
  calibration level is what widens a new sweep's band, at a cost in interval
  score against a level shared by the field. It is shipped because the
  own-fold update needs it: with it the updated bands come closest to the bar
  (every item but the lowest sweep's coverage, which falls just short), with a
  shared level they fall further short; on simulated runs from a correct law
  and on bending truth they keep the nominal coverage where the plain band
  fails on the latter. The updated prior is therefore the default of
  ``predict`` (``extrapolation="auto"``: the field prior alone where the sweep
  has no usable fold). The model-choice rows of the benchmark measure its two
  parts (errors counted as independent within a fold; the 65% cut alone).
* A cut needs at least 15 fitted runs below it; 2 of the 12 public sweeps
  (datablations single-epoch, Pythia) have none and get the field prior alone.
* The large iso-FLOP sweeps (Chinchilla, the Marin mixes) stay the least
  covered after the update (the lowest, just under the bar's 0.6): their misses
  beyond the range are larger than their own folds show.
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

    ScalingFit = Any

__all__ = ["Discrepancy", "FieldPrior", "FieldPriorOnlyWarning", "FIELD_PRIOR_FILE", "SD_REF",
           "axis_of", "distance", "with_discrepancy", "load_field_prior", "log_predictive_draws"]

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
        predictive: ``a`` is the new sweep's ``a_s``), and ``k``, the index of the
        hyperparameter draw each came from."""
        rng = np.random.default_rng(seed)
        k = rng.integers(0, len(self.m), num)
        mu = self.m[k] + self.s_mu[k] * rng.standard_normal(num)
        tau = np.exp(self.ell[k] + self.s_tau[k] * rng.standard_normal(num))
        # Drawn after mu and tau, so a prior with s_a = 0 keeps its earlier draws.
        a = self.a[k] + self.s_a[k] * rng.standard_normal(num)
        return {"mu": mu, "tau": tau, "a": a, "b": self.b[k], "k": k}

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


def log_predictive_draws(fit: ScalingFit, sizes: dict[str, np.ndarray], seed: int, *,
                         parts: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Plain draws of a new run's observed log-loss: curve plus observation noise
    (``parts=True``: the two parts, curve and noise, separately)."""
    import jax

    curve = np.log(fit.predict_draws(**{k: sizes[k] for k in fit.law.inputs}))
    noise = np.asarray(fit.noise_draws(curve.shape, jax.random.PRNGKey(seed)))
    return (curve, noise) if parts else curve + noise


def with_discrepancy(fit: ScalingFit, sizes: dict[str, np.ndarray], log_obs: np.ndarray,
                      extrapolation: Any, seed: int) -> tuple[np.ndarray, str, np.ndarray]:
    """Predictive log-loss draws with the discrepancy: the band, its label and ``d``.

    ``extrapolation``: ``"auto"`` (``fit.discrepancy()``: the field prior updated by
    the sweep's own folds where it has the runs; computed only when a point lies
    beyond the data), ``"field"`` (the shipped field prior alone), ``"none"``
    (plain band) or a :class:`Discrepancy`.
    """
    beyond = distance(fit, dict(sizes))
    if isinstance(extrapolation, str) and extrapolation == "none":
        return log_obs, "plain predictive", beyond
    if isinstance(extrapolation, str) and extrapolation == "auto":
        if not np.any(beyond > 0):  # zero inside the data: no refits needed
            return log_obs, "plain predictive (inside the data)", beyond
        disc = fit.discrepancy()
    elif isinstance(extrapolation, str) and extrapolation == "field":
        disc = Discrepancy.from_field(seed=seed)
    elif isinstance(extrapolation, Discrepancy):
        disc = extrapolation
    else:
        raise ValueError(f"extrapolation must be 'auto', 'field', 'none' or a Discrepancy, "
                         f"got {extrapolation!r}")
    return disc.apply(log_obs, beyond, seed), f"predictive + {disc.source} discrepancy", beyond
