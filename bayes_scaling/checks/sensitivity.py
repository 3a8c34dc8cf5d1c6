"""Prior sensitivity: how much the posterior of a quantity contracted from its prior."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import jax
import numpy as np
import numpyro.distributions as dist

from .._lazy import lazy_import
from ..inference.diagnostics import PriorDominatedWarning
from ..laws.inputs import law_inputs
from ..models.predictive import prior_draws
from .outliers import emit_warning

pd = lazy_import("pandas")

if TYPE_CHECKING:
    from ..results.scaling_fit import ScalingFit

__all__ = ["prior_sensitivity", "check_prior_dominated", "prediction_contraction"]


#: Contraction below which a quantity counts as prior-dominated: the posterior's
#: 90% interval is more than half as wide as the prior's.
CONTRACTION_THRESHOLD = 0.75


# --------------------------------------------------------- prior sensitivity
def _prior_draws(fit: ScalingFit, priors: Mapping[str, dist.Distribution] | None,
                 num_draws: int, seed: int) -> dict[str, np.ndarray]:
    """Draws of every site of the fit's model under its prior: :func:`models.predictive.prior_draws`."""
    return prior_draws(fit, priors, num_draws, seed)


def _width(draws: np.ndarray) -> float:
    lower, upper = np.quantile(draws, [0.05, 0.95])
    return float(upper - lower)


def _contraction(post: np.ndarray, prior: np.ndarray) -> float:
    """``1 - (w_post / w_prior)^2`` with ``w`` the width of the central 90% interval.

    Equals ``1 - var_post / var_prior`` for normal distributions; unlike the
    variance ratio it is not dominated by the heavy tails that prior
    predictive distributions have far from the data.
    """
    prior_width = _width(prior)
    if not np.isfinite(prior_width) or prior_width <= 0:
        return float("nan")
    return 1.0 - (_width(post) / prior_width) ** 2


def prior_sensitivity(
    fit: ScalingFit,
    *,
    priors: Mapping[str, dist.Distribution] | None = None,
    num_prior_draws: int = 4000,
    seed: int = 0,
) -> pd.DataFrame:
    """Posterior contraction of each parameter relative to its prior.

    ``contraction = 1 - (w_post / w_prior)^2`` with ``w`` the width of the
    central 90% interval — the robust form of Betancourt's (2018)
    ``1 - var_post / var_prior``, equal to it for normal shapes. Near 1 the
    runs determine the parameter; near 0 the prior does (and the posterior
    will move with it); negative values mean the data pulled the parameter
    into the prior's tail. ``shift = |median_post - median_prior| / sd_prior``
    measures how far they pulled it. Offsets (``A``, ``B``, ...) are compared
    on a log scale. ``prior_dominated``: contraction below 0.75 (posterior
    interval more than half as wide as the prior's).

    Parameters
    ----------
    fit : ScalingFit
    priors : mapping, optional
        The ``priors=`` the fit was made with (a ScalingFit does not store
        them); default: the law's default priors.
    num_prior_draws : int
    seed : int

    Returns
    -------
    DataFrame
        Indexed by parameter: ``scale``, ``prior_sd``, ``posterior_sd``,
        ``contraction``, ``shift``, ``prior_dominated``.
    """
    prior = _prior_draws(fit, priors, num_prior_draws, seed)
    names = list(fit.law.param_names) + [n for n in ("sigma", "nu") if n in prior]
    rows = []
    for name in names:
        post = fit.draws(name)
        pri = prior[name]
        log = name in fit.law.log_scale_params
        if log:
            post, pri = np.log(post), np.log(pri)
        post2 = post.reshape(post.shape[0], -1)
        pri2 = pri.reshape(pri.shape[0], -1)
        labels = [name] if post2.shape[1] == 1 else [
            f"{name}[{g}]" for g in getattr(fit, "group_labels", range(post2.shape[1]))]
        for j, label in enumerate(labels):
            sd_prior = float(np.std(pri2[:, j]))
            rows.append({"parameter": label, "scale": "log" if log else "linear",
                         "prior_sd": sd_prior, "posterior_sd": float(np.std(post2[:, j])),
                         "contraction": _contraction(post2[:, j], pri2[:, j]),
                         "shift": abs(float(np.median(post2[:, j]) - np.median(pri2[:, j])))
                         / max(sd_prior, 1e-300)})
    table = pd.DataFrame(rows).set_index("parameter")
    table["prior_dominated"] = ~(table["contraction"] >= CONTRACTION_THRESHOLD)
    return table


def check_prior_dominated(
    posterior_draws: Any,
    prior_draws: Any,
    *,
    label: str = "quantity",
    threshold: float = CONTRACTION_THRESHOLD,
    warn: bool = True,
) -> np.ndarray:
    """Contraction of a quantity from prior to posterior; warn if prior-dominated.

    ``contraction = 1 - (w_post / w_prior)^2`` with ``w`` the width of the
    central 90% interval (``1 - var_post / var_prior`` for normal shapes, but
    not swamped by the heavy tails of prior predictive draws).

    Parameters
    ----------
    posterior_draws, prior_draws : array-like, shape ``(draws,)`` or ``(draws, points)``
        Draws of the quantity under the posterior and under the prior (on the
        scale to compare: e.g. log loss).
    label : str
        Names the quantity in the warning.
    threshold : float, default 0.75
        Contraction below which the posterior mostly restates the prior (0.75:
        the posterior interval is more than half as wide as the prior's).

    Returns
    -------
    numpy.ndarray
        Contraction per point.

    Warns
    -----
    PriorDominatedWarning
        If any point's contraction is below ``threshold``.
    """
    post = np.asarray(posterior_draws, dtype=np.float64)
    prior = np.asarray(prior_draws, dtype=np.float64)
    post = post.reshape(post.shape[0], -1)
    prior = prior.reshape(prior.shape[0], -1)
    contraction = np.array([_contraction(post[:, j], prior[:, j]) for j in range(post.shape[1])])
    weak = ~(contraction >= threshold)
    if warn and weak.any():
        worst = float(np.nanmin(contraction)) if np.isfinite(contraction).any() else float("nan")
        emit_warning(
            f"{label} is prior-dominated: its 90% posterior interval is "
            f"{np.sqrt(max(1 - worst, 0)):.0%} as wide as its prior's (contraction {worst:.2f} "
            f"< {threshold}) at {int(weak.sum())} of "
            f"{len(contraction)} points. The runs barely constrain it: the interval reflects the "
            "priors (e.g. of E and the exponents) rather than evidence. Add runs closer to the "
            "target scale, or state and justify informative priors.",
            PriorDominatedWarning,
        )
    return contraction


def prediction_contraction(
    fit: ScalingFit,
    N: Any = None,  # noqa: N803 - the field's notation
    D: Any = None,  # noqa: N803
    C: Any = None,  # noqa: N803
    *,
    U: Any = None,  # noqa: N803 - unique tokens, for laws that take them
    priors: Mapping[str, dist.Distribution] | None = None,
    threshold: float = CONTRACTION_THRESHOLD,
    scale: str = "linear",
    num_prior_draws: int = 4000,
    seed: int = 0,
    warn: bool = True,
) -> pd.DataFrame:
    """How much the runs, rather than the priors, determine a predicted loss.

    Draws of the loss curve at the requested points under the posterior and
    under the prior (same model and design, :func:`prior_sensitivity`), and
    their contraction (:func:`check_prior_dominated`). Far beyond the data the
    loss approaches ``E``, whose default prior is uniform below the smallest
    observed loss: when the runs do not reach towards saturation the answer
    there is mostly that prior.

    Parameters
    ----------
    fit : ScalingFit
    N, D, C : array-like
        As in :meth:`ScalingFit.predict` (two of them for a joint law).
    priors : mapping, optional
        The ``priors=`` the fit was made with (default: the law's defaults).
    threshold : float, default 0.75
    scale : {"linear", "log"}
        Compare variances of the loss (default: the quantity reported) or of
        log loss (which weights the prior's tail towards ``E = 0`` heavily and
        so reports more contraction).
    warn : bool

    Returns
    -------
    DataFrame
        One row per point: the sizes, ``prior_sd`` and ``posterior_sd`` of the
        loss (or log loss), ``contraction``, ``prior_dominated``.

    Warns
    -----
    PriorDominatedWarning
        When a point's contraction is below ``threshold``.

    Examples
    --------
    >>> table = prediction_contraction(fit, N=1e12, D=2e13)
    >>> table[["prior_sd", "posterior_sd", "contraction", "prior_dominated"]].shape
    (1, 4)
    """

    if getattr(fit, "groups", None) is not None:
        raise NotImplementedError("prediction_contraction supports fits without groups")
    if scale not in ("linear", "log"):
        raise ValueError(f"scale must be 'linear' or 'log', got {scale!r}")
    flat = law_inputs(fit.law, N, D, C, fit.runs.flops_factor, U)
    post = np.log(fit.predict_draws(**{k: flat[k] for k in fit.law.inputs}))
    prior_params = _prior_draws(fit, priors, num_prior_draws, seed)
    import jax.numpy as jnp

    with jax.enable_x64(True):
        params = {k: jnp.asarray(prior_params[k])[:, None] for k in fit.law.param_names}
        inputs = {k: jnp.log(jnp.asarray(flat[k]))[None, :] for k in fit.law.inputs}
        prior = np.asarray(fit.law.log_mean(params, inputs))
    if scale == "linear":
        post, prior = np.exp(post), np.exp(prior)
    contraction = check_prior_dominated(post, prior, label="the predicted loss",
                                        threshold=threshold, warn=warn)
    out = pd.DataFrame(flat)
    out["prior_sd"] = prior.std(axis=0)
    out["posterior_sd"] = post.std(axis=0)
    out["contraction"] = contraction
    out["prior_dominated"] = ~(contraction >= threshold)
    return out
