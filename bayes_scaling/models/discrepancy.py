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
data), the observed log-loss is

.. math::

    \log L_{\mathrm{obs}} = \log L_\theta(N, D) + \varepsilon + \delta(d), \qquad
    \delta(d) \mid \mu, \tau \sim \mathrm{Normal}(\mu\, d,\ (\tau\, d)^2),

with :math:`\varepsilon` the fit's observation noise. :math:`\mu` is a
systematic drift (log-loss per decade; negative when larger runs do better
than the law says) and :math:`\tau` the scale of the sweep-specific miss per
decade. Both are *sampled*: each posterior predictive draw carries its own
:math:`(\mu, \tau)` drawn from

* the **field prior** (``extrapolation="field"``, the default of
  :meth:`bayes_scaling.ScalingFit.predict`): the population distribution of a
  hierarchical meta-analysis over the public sweeps (:mod:`bayes_scaling.extrapolation.field`),

  .. math::

      \mu_s \sim \mathrm{Normal}(m, s_\mu^2), \qquad
      \log \tau_s \sim \mathrm{Normal}(\ell, s_\tau^2),

  each draw of :math:`(\mu, \tau)` for a new sweep taken from a posterior draw
  of :math:`(m, s_\mu, \ell, s_\tau)`; or
* the field prior **updated by the sweep's own leave-future-out fold**
  (:func:`calibrate_discrepancy`): the fit is refitted on the runs below a cut
  inside its range, the larger fitted runs are predicted, and the field draws
  are reweighted by the likelihood of those errors (importance resampling: an
  exact Bayesian update of the field prior). Where the sweep has too few runs
  for a fold, the field prior alone is used and :attr:`Discrepancy.note` (and a
  :class:`FieldPriorOnlyWarning`) says so; never an error.

Choices, and what they rest on (``benchmarks/EXTRAPOLATION.md``): drift plus
scale against scale only (``mu = 0``) was measured leave-one-sweep-out, and the
drift wins on interval score and error (the field's misses are one-sided).
A Gaussian process in log ``N`` and log ``D`` and separate distances in log
``N`` and log ``D`` were not measured: the held-out runs of a sweep lie on a
few iso-FLOP or size lines, too few to identify a length scale or two slopes.
The own-fold update is an option, not the default: measured, it narrows the
bands of the large sweeps more than their misses beyond the range justify.
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

__all__ = ["Discrepancy", "FieldPrior", "FieldPriorOnlyWarning", "FIELD_PRIOR_FILE",
           "axis_of", "distance", "with_discrepancy", "load_field_prior", "log_predictive_draws",
           "update_with_errors"]

#: Package data file holding the field prior's hyperparameter draws (written by
#: ``tools/field_prior.py``; never edited by hand).
FIELD_PRIOR_FILE = "field_discrepancy.json"
# Width of a central 90% normal interval in SDs: predictive quantiles -> an SD.
_Z90_WIDTH = 2.0 * statistics.NormalDist().inv_cdf(0.95)  # stdlib: scipy.stats takes ~1 s to import


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
    provenance : dict
        Sweeps, protocol, sampler settings and date of the meta-analysis.
    """

    m: np.ndarray
    s_mu: np.ndarray
    ell: np.ndarray
    s_tau: np.ndarray
    provenance: dict = field(default_factory=dict)

    def sample(self, num: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """``num`` draws of ``(mu, tau)`` for a new sweep (population predictive)."""
        rng = np.random.default_rng(seed)
        k = rng.integers(0, len(self.m), num)
        mu = self.m[k] + self.s_mu[k] * rng.standard_normal(num)
        tau = np.exp(self.ell[k] + self.s_tau[k] * rng.standard_normal(num))
        return mu, tau

    def to_json(self) -> dict[str, Any]:
        return {"provenance": self.provenance,
                "draws": {k: np.round(getattr(self, k), 6).tolist()
                          for k in ("m", "s_mu", "ell", "s_tau")}}

    @classmethod
    def from_json(cls, content: dict[str, Any]) -> FieldPrior:
        d = content["draws"]
        return cls(**{k: np.asarray(d[k], dtype=np.float64) for k in ("m", "s_mu", "ell",
                                                                      "s_tau")},
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
    """Draws of the discrepancy's drift and scale for one sweep.

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
    """

    mu: np.ndarray
    tau: np.ndarray
    source: str = "field"
    note: str = ""
    ess: float = float("nan")

    def draws(self, d: np.ndarray, num: int, seed: int) -> np.ndarray:
        """Draws ``(num, len(d))`` of ``delta(d)`` in log-loss (zero where ``d = 0``)."""
        rng = np.random.default_rng(seed)
        k = rng.integers(0, len(self.mu), num)
        d = np.asarray(d, dtype=np.float64)[None, :]
        z = rng.standard_normal((num, d.shape[1]))
        return self.mu[k, None] * d + self.tau[k, None] * d * z

    @classmethod
    def from_field(cls, prior: FieldPrior | None = None, num: int = 4000, seed: int = 0,
                   note: str = "") -> Discrepancy:
        prior = load_field_prior() if prior is None else prior
        mu, tau = prior.sample(num, seed)
        return cls(mu=mu, tau=tau, source="field", note=note, ess=float(num))


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


def update_with_errors(prior: FieldPrior, errors: pd.DataFrame, *, num: int = 4000,
                       seed: int = 0) -> Discrepancy:
    """Field prior updated by a sweep's own fold errors (importance resampling).

    ``errors`` has columns ``e`` (observed minus predicted log-loss), ``sd``
    (plain predictive SD) and ``d`` (decades beyond the fold's data); the
    likelihood of draw ``j`` is ``prod_i Normal(e_i; mu_j d_i, sd_i^2 + tau_j^2 d_i^2)``.
    """
    mu, tau = prior.sample(4 * num, seed)
    e, sd, d = (errors[c].to_numpy(np.float64)[None, :] for c in ("e", "sd", "d"))
    var = sd ** 2 + (tau[:, None] * d) ** 2
    logw = -0.5 * np.sum(np.log(var) + (e - mu[:, None] * d) ** 2 / var, axis=1)
    w = np.exp(logw - logw.max())
    w /= w.sum()
    ess = float(1.0 / np.sum(w ** 2))
    k = np.random.default_rng(seed + 1).choice(len(w), size=num, p=w)
    note = "" if ess >= 100 else (f"importance update has an effective sample size of "
                                  f"{ess:.0f}: the sweep's folds disagree with the field prior")
    return Discrepancy(mu=mu[k], tau=tau[k], source="field + own folds", note=note, ess=ess)


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
    delta = disc.draws(beyond, log_obs.shape[0], seed)
    return log_obs + delta, f"predictive + {disc.source} discrepancy", beyond
