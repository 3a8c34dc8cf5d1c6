"""Prior-data conflict: do the runs contradict an informative prior?"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpyro.distributions as dist

from .._lazy import lazy_import
from ..exceptions import PriorDataConflictWarning
from .literature import resolve_priors

pd = lazy_import("pandas")

__all__ = ["prior_data_conflict", "check_prior_data_conflict"]


# ------------------------------------------------------------- prior-data conflict
def _gaussian_scale(prior: dist.Distribution) -> tuple[float, float, bool] | None:
    """(location, scale, log?) of a Normal or LogNormal scalar prior; None for other families."""
    if isinstance(prior, dist.LogNormal):
        base = prior.base_dist
        log = True
    elif isinstance(prior, dist.Normal):
        base, log = prior, False
    else:
        return None
    loc, scale = np.asarray(base.loc, dtype=float), np.asarray(base.scale, dtype=float)
    if loc.size != 1 or scale.size != 1:
        return None
    return float(loc), float(scale), log


def prior_data_conflict(fit: Any, priors: Any, *, prob: float = 0.01) -> pd.DataFrame:
    """Do the data contradict the informative priors? One row per checked parameter.

    The check is Evans & Moshonov's (2006) prior predictive test of a
    sufficient statistic, in its Gaussian form. On the prior's own scale
    (``log theta`` for a LogNormal, ``theta`` for a Normal prior
    ``N(m0, s0^2)``), approximate the posterior marginal by ``N(m, s^2)`` (draw
    mean and variance) and recover what the data alone say by removing the
    prior's precision:

    .. math:: \\lambda_y = s^{-2} - s_0^{-2}, \\qquad
              \\hat\\theta_y = (m s^{-2} - m_0 s_0^{-2}) / \\lambda_y .

    Under the prior, the data's estimate is distributed as
    ``N(m0, s0^2 + 1/lambda_y)``, so

    .. math:: z = (\\hat\\theta_y - m_0) / \\sqrt{s_0^2 + 1/\\lambda_y}

    and the two-sided tail probability ``p`` is the prior predictive p-value.
    A parameter is flagged when ``p < prob / k`` (Bonferroni over the ``k``
    checked parameters). This is exact for a Gaussian likelihood that is
    locally independent across parameters, and an approximation otherwise;
    a parameter the data say almost nothing about (``lambda_y`` below a tenth
    of the prior precision) cannot conflict and is reported with ``p = 1``.
    Only Normal and LogNormal priors are checked (flat or bounded priors do
    not carry information to conflict with).

    Parameters
    ----------
    fit : ScalingFit
    priors : mapping, str or tuple
        The ``priors=`` the fit was made with (a ScalingFit records them: ``fit.priors``).
    prob : float
        Family-wise false-alarm rate when the prior is right.

    Returns
    -------
    pandas.DataFrame
        ``parameter``, ``prior_median``, ``prior_lower``/``prior_upper``
        (99% prior interval), ``posterior_median``, ``data_estimate``
        (``theta_y`` back on the parameter's scale), ``z``, ``p_value``,
        ``conflict``.
    """
    priors = resolve_priors(fit.law, priors)
    posterior = fit.posterior["posterior"]
    draws = {}
    for name in priors:
        if name in posterior:
            values = fit.draws(name)
            if values.ndim == 1:
                draws[name] = values
            else:  # per-group parameter: one check per group
                for g, label in enumerate(fit.group_labels):
                    draws[f"{name}[{label}]"] = values[:, g]
    return conflict_table(draws, priors, prob)


def conflict_table(draws: Mapping[str, np.ndarray], priors: Mapping[str, dist.Distribution],
                    prob: float) -> pd.DataFrame:
    """The test of :func:`prior_data_conflict` on flat draws ``{label: (num_draws,)}``."""
    rows = []
    for label, x in draws.items():
        gauss = _gaussian_scale(priors[label.split("[")[0]])
        if gauss is None:
            continue
        m0, s0, log = gauss
        t = np.log(x) if log else np.asarray(x, dtype=float)
        m, s2 = float(np.mean(t)), float(np.var(t))
        lam_y = 1.0 / s2 - 1.0 / s0**2 if s2 > 0 else 0.0
        if lam_y > 0.1 / s0**2:
            estimate = (m / s2 - m0 / s0**2) / lam_y
            z = (estimate - m0) / math.sqrt(s0**2 + 1.0 / lam_y)
        else:
            estimate, z = float("nan"), 0.0

        def back(v: float, log: bool = log) -> float:
            return math.exp(v) if log else v

        rows.append({"parameter": label, "prior_median": back(m0),
                     "prior_lower": back(m0 - 2.5758 * s0),
                     "prior_upper": back(m0 + 2.5758 * s0),
                     "posterior_median": float(np.median(x)),
                     "data_estimate": back(estimate) if np.isfinite(estimate) else np.nan,
                     "z": z, "p_value": math.erfc(abs(z) / math.sqrt(2.0))})
    table = pd.DataFrame(rows, columns=["parameter", "prior_median", "prior_lower",
                                        "prior_upper", "posterior_median", "data_estimate",
                                        "z", "p_value"])
    table["conflict"] = table["p_value"] < prob / max(len(table), 1)
    return table


def check_prior_data_conflict(fit: Any, priors: Any, *, prob: float = 0.01
                              ) -> pd.DataFrame:
    """Run :func:`prior_data_conflict` and warn (:class:`PriorDataConflictWarning`) on conflict."""

    table = prior_data_conflict(fit, priors, prob=prob)
    flagged = table[table["conflict"]]
    if len(flagged):
        parts = [f"{r.parameter}: prior median {r.prior_median:.4g} (99% {r.prior_lower:.4g}"
                 f"-{r.prior_upper:.4g}), data alone say {r.data_estimate:.4g}, posterior "
                 f"median {r.posterior_median:.4g} (p = {r.p_value:.1g})"
                 for r in flagged.itertuples()]
        warnings.warn(
            "the runs contradict the informative prior — " + "; ".join(parts) + ". The "
            "posterior is a compromise that neither source supports. Loosen the prior, or "
            "check that your conventions match the published fit's (tokeniser and loss "
            "definition shift E and the offsets; parameter counting with or without "
            "embeddings and the FLOPs factor shift the offsets and exponents).",
            PriorDataConflictWarning, stacklevel=3)
    return table
