"""Prior predictive: what a law's priors imply for the loss curves before any fit."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
from numpyro.infer import Predictive

from .._lazy import lazy_import
from .._predictive import predictive_table
from ..data.runs import RunsTable, load_runs
from ..laws import Design, Law, get_law
from ..laws.inputs import design_for, law_inputs
from ..priors.literature import trace_params
from .scaling import build_model
from .setup import check_options, check_priors, prepare

pd = lazy_import("pandas")

__all__ = ["PriorPredictive", "prior_predictive", "prior_draws"]


# ---------------------------------------------------------------- prior predictive
@dataclass(frozen=True, eq=False)
class PriorPredictive:
    """Loss curves implied by a prior at given points, before their losses are seen.

    Attributes
    ----------
    law : Law
    points : pandas.DataFrame
        ``N``, ``D``, ``C`` (where known) of the points, plus ``loss`` when the
        points are runs with observed losses.
    curve_draws : ndarray, shape (num_draws, num_points)
        Loss curve ``L(N, D)`` per prior draw (no observation noise).
    loss_draws : ndarray, shape (num_draws, num_points)
        A new run's loss per draw (observation noise added).
    params : dict
        Prior draws of the law's parameters and the noise parameters.
    level : float
    """

    law: Law
    points: pd.DataFrame
    curve_draws: np.ndarray
    loss_draws: np.ndarray
    params: dict[str, np.ndarray]
    level: float

    def bands(self, level: float | None = None) -> pd.DataFrame:
        """One row per point: ``median``, ``lower``/``upper`` of the curve and
        ``pred_lower``/``pred_upper`` of a new run's loss (equal-tailed), and,
        where losses were given, ``inside`` (the observed loss is in the predictive band)."""
        level = self.level if level is None else level
        out = predictive_table(self.points, self.curve_draws, self.loss_draws, level,
                               mean=False)
        if "loss" in out:
            out["inside"] = (out["pred_lower"] <= out["loss"]) & (out["loss"] <= out["pred_upper"])
        return out


def _points_and_design(law: Law, data: Any, flops_factor: float, typical_loss: float | None):

    has_loss = isinstance(data, RunsTable) or (
        isinstance(data, pd.DataFrame) and "loss" in data.columns) or isinstance(data, str)
    if has_loss:
        runs = data if isinstance(data, RunsTable) else load_runs(data, flops_factor=flops_factor)
        runs.require(law.inputs, min_runs=1, law=f"{law.name} law")
        design = design_for(runs, law)
        if typical_loss is not None:
            design = Design(design.log_centre, math.log(typical_loss), typical_loss)
        points = pd.DataFrame({k: runs.column(k) for k in ("N", "D", "C")
                               if k in runs.frame.columns})
        points["loss"] = runs.loss
        return points, design
    if not isinstance(data, pd.DataFrame):
        raise TypeError("data must be a runs table (with a loss column) or a DataFrame of "
                        f"N/D/C points, got {type(data).__name__}")
    if typical_loss is None or not typical_loss > 0:
        raise ValueError("points without a loss column need typical_loss= (a positive loss "
                         "of the order the runs will reach): the default priors of E and of "
                         "the offsets are scaled by it")
    sizes = {k: data[k].to_numpy(dtype=float) if k in data else None for k in ("N", "D", "C")}
    # A table keeps its own C (its FLOPs convention); only missing sizes are derived.
    both = sizes["N"] is not None and sizes["D"] is not None
    flat = law_inputs(law, sizes["N"], sizes["D"], None if both else sizes["C"], flops_factor)
    if both and sizes["C"] is not None:
        flat["C"] = np.ravel(sizes["C"])
    points = pd.DataFrame(flat)
    log_centre = {k: float(np.mean(np.log(v))) for k, v in flat.items()}
    return points, Design(log_centre, math.log(typical_loss), typical_loss)


def prior_predictive(
    law: str | Law,
    data: Any,
    *,
    priors: Any = None,
    num_draws: int = 1000,
    seed: int = 0,
    level: float = 0.9,
    likelihood: str = "normal",
    flops_factor: float = 6.0,
    typical_loss: float | None = None,
) -> PriorPredictive:
    """Loss curves a prior implies at a table's runs (or given points), before seeing data.

    A prior predictive check (Gabry et al. 2019): if the bands do not cover
    plausible losses (e.g. they allow losses of 100 nats, or exclude the
    range the runs are known to reach), the prior is wrong for this setup.

    Parameters
    ----------
    law : str or Law
    data : DataFrame, path or RunsTable
        Runs (with ``loss``: the default priors are scaled by the observed
        losses exactly as in :func:`bayes_scaling.fit`, and the bands can be
        set against them) or a DataFrame of ``N``/``D``/``C`` points without
        losses (then give ``typical_loss``).
    priors : mapping, str or tuple, optional
        As ``priors=`` of :func:`bayes_scaling.fit` (e.g. ``"literature:chinchilla"``);
        default: the law's default priors.
    num_draws, seed : int
        Number of prior draws; every draw flows from ``seed``.
    level : float
        Mass of the equal-tailed bands.
    likelihood : {"normal", "student_t"}
    flops_factor : float
        ``k`` in ``C = k N D``.
    typical_loss : float, optional
        Scale of the default priors when ``data`` has no losses (overrides the
        observed losses' scale when given with runs).

    Returns
    -------
    PriorPredictive
        ``.bands()`` gives the table; see also
        :func:`bayes_scaling.plotting_priors.plot_prior_predictive`.

    Examples
    --------
    >>> import bayes_scaling as bs
    >>> pp = prior_predictive("chinchilla", bs.example_runs(),
    ...                       priors="literature:chinchilla")
    >>> pp.bands()[["C", "loss", "lower", "upper"]].shape
    (252, 4)
    """
    from numpyro import handlers

    law = get_law(law)
    check_options(likelihood, level)
    if not isinstance(num_draws, (int, np.integer)) or num_draws < 2:
        raise ValueError(f"num_draws must be an integer >= 2, got {num_draws!r}")
    priors = check_priors(law, likelihood, priors)
    points, design = _points_and_design(law, data, flops_factor, typical_loss)
    arrays = design.as_arrays()
    # A prior on a derived offset (A) is a factor on a flat site, which cannot be
    # sampled forward. Under that prior the offset is independent of the other
    # parameters (log A is a shift of the flat site), so: pin the flat site and
    # draw the offset from its prior directly.
    probe = trace_params(law, arrays, priors)
    direct = {p: d for p, d in priors.items() if f"{p}_prior" in probe}
    flat_sites = {n: 0.0 for n, s in probe.items() if s["type"] == "sample"
                  and isinstance(s["fn"], dist.ImproperUniform)}
    model = handlers.substitute(build_model(law, likelihood), data=flat_sites)
    key_model, key_direct, key_noise = jax.random.split(jax.random.PRNGKey(seed), 3)
    with jax.enable_x64(True):
        log_inputs = {k: jnp.log(jnp.asarray(points[k].to_numpy(dtype=float)))
                      for k in law.inputs}
        draws = Predictive(model, num_samples=num_draws)(
            key_model, log_inputs=log_inputs, log_loss=None, design=arrays, priors=priors)
        params = {k: jnp.asarray(draws[k]) for k in law.param_names}
        for i, (name, prior) in enumerate(direct.items()):
            params[name] = prior.sample(jax.random.fold_in(key_direct, i), (num_draws,))
        log_mean = law.log_mean({k: v[:, None] for k, v in params.items()},
                                {k: v[None, :] for k, v in log_inputs.items()})
        sigma = jnp.asarray(draws["sigma"])[:, None]
        if likelihood == "student_t":
            eps = jax.random.t(key_noise, jnp.asarray(draws["nu"])[:, None], log_mean.shape)
        else:
            eps = jax.random.normal(key_noise, log_mean.shape)
        log_obs = log_mean + sigma * eps
    noise = {k: np.asarray(draws[k]) for k in ("sigma", "nu") if k in draws}
    return PriorPredictive(law=law, points=points, curve_draws=np.exp(np.asarray(log_mean)),
                           loss_draws=np.exp(np.asarray(log_obs)),
                           params={**{k: np.asarray(v) for k, v in params.items()}, **noise},
                           level=level)


def prior_draws(fit: Any, priors: Mapping[str, Any] | str | tuple | None, num_samples: int,
                seed: int) -> dict[str, np.ndarray]:
    """Draws of every site of a fit's model under ``priors``: the one prior sampler.

    ``fit`` is a fitted result (its law, likelihood, runs, groups); ``priors`` as in
    :func:`bayes_scaling.fit` (``None``: the defaults). A prior on a derived offset
    (e.g. ``"A"``) is a factor on a flat site, which cannot be sampled forward: that
    offset is drawn from its prior directly.
    """
    groups = getattr(fit, "groups", None)
    checked = dict(check_priors(fit.law, fit.likelihood, priors, groups))
    design = fit.design.as_arrays()
    sampled_sites = fit.law.default_priors(design)
    direct = {n: checked.pop(n) for n in list(checked)
              if n in fit.law.param_names and n not in sampled_sites}
    _, _, kwargs = prepare(fit.runs, fit.law, fit.likelihood, checked, fit.runs.flops_factor,
                           None, groups=groups)
    model = build_model(fit.law, fit.likelihood, groups)
    key = jax.random.PRNGKey(seed)
    key_model, key_direct = jax.random.split(key) if direct else (key, None)
    with jax.enable_x64(True):
        draws = Predictive(model, num_samples=num_samples)(key_model,
                                                           **{**kwargs, "log_loss": None})
        out = {k: np.asarray(v, dtype=np.float64) for k, v in draws.items()}
        for i, (name, prior) in enumerate(direct.items()):
            out[name] = np.asarray(prior.sample(jax.random.fold_in(key_direct, i),
                                                (num_samples,)), dtype=np.float64)
    return out
