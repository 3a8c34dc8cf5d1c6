"""Hyperparameter laws: optimal learning rate and batch size, critical batch size.

Two joint NumPyro models, sampled with the library's compiled NUTS runner.

**Optimal hyperparameter vs budget** (:func:`fit_hyperparameter_law`). Input:
a *sweep table*, one row per training run, with the budget (``C``, or ``N`` /
``D``), the hyperparameter value (learning rate, batch size, ...) and the final
loss. Runs sharing a budget value form one sweep. Model, with ``u = ln h``:

.. math::

    \\ln L_{jk} &\\sim \\mathcal N(m_k + \\kappa_k (u_j - u^*_k)^2, \\sigma) \\\\
    u^*_k &= \\ln a + b \\ln C_k + \\tau \\varepsilon_k, \\quad \\varepsilon_k \\sim \\mathcal N(0, 1)

i.e. per budget a quadratic bowl in ``ln h`` around the optimum ``h*_k`` with
its own curvature ``kappa_k`` and minimum ``m_k``, and the optima on a power
law ``h*(C) = a C^b`` with scatter ``tau``. Each budget's optimum enters the
law with its own uncertainty (nothing is plugged in). DeepSeek LLM (2024)
reports ``lr_opt = 0.3118 C^-0.125`` and ``B_opt = 0.2920 C^0.3271`` this way
(C in FLOPs, B in tokens).

**Critical batch size vs loss** (:func:`fit_critical_batch_size`). Kaplan et
al. (2020), after McCandlish et al. (2018): to reach a target loss ``L`` with
batch size ``B`` takes ``S`` steps and ``E = B S`` examples with
``(S/S_min - 1)(E/E_min - 1) = 1``, i.e. ``S = S_min (1 + B_crit / B)`` with
``B_crit = E_min / S_min``, and ``B_crit(L) = B* L^(-1/alpha_B)`` (Kaplan:
``B* ~ 2e8`` tokens, ``alpha_B ~ 0.21``). Input: one row per (target loss,
batch size) with the steps that run needed to first reach the target; or,
when ``B_crit`` has been measured per loss elsewhere, one row per loss with
that value.

Examples
--------
>>> import numpy as np
>>> from bayes_scaling.results.hyperparams import fit_hyperparameter_law, simulate_sweeps
>>> sweeps = simulate_sweeps(np.geomspace(1e17, 1e20, 6),      # 6 budgets x 9 learning rates
...                          np.geomspace(2.5e-4, 1e-2, 9), seed=1)
>>> law = fit_hyperparameter_law(sweeps, hyper="lr", by="C", chains=2, draws=500, warmup=500)
>>> table = law.summary()       # a, b, tau, sigma with 90% intervals
>>> band = law.predict(C=1e24)  # h* with credible and predictive bands
>>> optima = law.optima()       # per-budget optima with their uncertainty
>>> len(optima)
6
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist

from .._lazy import lazy_import
from ..inference.intervals import quantile_columns
from ..inference.nuts import SamplerConfig, resolve_sampler
from ..models.hyperparams import bowl_model
from ..priors.serialize import decode_priors
from .base import predictive_table
from .critical_batch import CriticalBatchFit, fit_critical_batch_size, simulate_steps_to_target
from .extensions import implementation
from .persistence import read_tree, sampler_from_meta
from .posterior_result import (
    META_KEY,
    PosteriorResult,
    check_extra_priors,
    column,
    sample_posterior,
)

pd = lazy_import("pandas")
xr = lazy_import("xarray")

__all__ = ["fit_hyperparameter_law", "HyperparameterFit", "fit_critical_batch_size",
           "CriticalBatchFit", "simulate_sweeps", "simulate_steps_to_target", "DEEPSEEK_LR",
           "DEEPSEEK_BATCH", "load"]


#: DeepSeek LLM (2024): ``lr_opt = 0.3118 C^-0.125`` (C in FLOPs).
DEEPSEEK_LR = {"a": 0.3118, "b": -0.125}
#: DeepSeek LLM (2024): ``B_opt = 0.2920 C^0.3271`` (tokens; C in FLOPs).
DEEPSEEK_BATCH = {"a": 0.2920, "b": 0.3271}


@dataclass(frozen=True, eq=False)
class HyperparameterFit(PosteriorResult):
    """Posterior of ``h*(x) = a x^b`` fitted from sweeps (see :func:`fit_hyperparameter_law`).

    Attributes
    ----------
    sweeps : DataFrame
        The columns used (``by``, ``hyper``, ``loss``), a copy.
    hyper, by, loss : str
        Column names.
    budgets : ndarray
        Distinct budget values, ascending (the order of per-budget variables).
    """

    sweeps: pd.DataFrame = None  # type: ignore[assignment]
    hyper: str = "lr"
    by: str = "C"
    loss: str = "loss"
    budgets: np.ndarray = None  # type: ignore[assignment]

    def _meta(self) -> dict[str, Any]:
        return {"hyper": self.hyper, "by": self.by, "loss": self.loss,
                "budgets": [float(b) for b in self.budgets]}

    def _table(self) -> pd.DataFrame:
        return self.sweeps

    def summary(self, level: float | None = None) -> pd.DataFrame:
        """``a``, ``b`` (the law), ``tau`` (scatter of optima), ``sigma`` (loss noise):
        mean, sd, median, interval, R-hat, ESS."""
        return self._summary(["a", "b", "tau", "sigma"], level)

    def predict_draws(self, values: Any) -> np.ndarray:
        """Draws of the law ``a x^b`` at ``values`` of ``by``: ``(num_draws, num_points)``."""
        x = np.atleast_1d(np.asarray(values, dtype=np.float64)).ravel()
        if not np.all(np.isfinite(x)) or np.any(x <= 0):
            raise ValueError(f"{self.by} values must be positive and finite")
        return np.exp(self.draws("log_a")[:, None] + self.draws("b")[:, None] * np.log(x)[None])

    def predict(self, values: Any = None, *, level: float | None = None, seed: int | None = None,
                **by: Any) -> pd.DataFrame:
        """Optimal hyperparameter at new budgets, with bands.

        Call as ``predict(C=1e24)`` (the ``by`` column's name) or ``predict([...])``.

        Returns
        -------
        DataFrame
            One row per budget: the budget, ``median`` with ``lower``/``upper``
            (credible band of the law ``a x^b``) and ``pred_lower``/``pred_upper``
            (where one new sweep's optimum may fall: adds the scatter ``tau``),
            ``level``.
        """
        if by:
            if set(by) != {self.by} or values is not None:
                raise ValueError(f"give the budgets as predict({self.by}=...)")
            values = by[self.by]
        if values is None:
            raise ValueError(f"give the budgets as predict({self.by}=...)")
        level = self.level if level is None else level
        x = np.atleast_1d(np.asarray(values, dtype=np.float64)).ravel()
        law = self.predict_draws(x)
        rng = np.random.default_rng(self.seed + 1 if seed is None else seed)
        scatter = np.exp(self.draws("tau")[:, None] * rng.standard_normal(law.shape))
        return predictive_table({self.by: x}, law, law * scatter, level, mean=False)

    def optima(self, level: float | None = None) -> pd.DataFrame:
        """Per-budget optimum ``h*`` and loss at it, with intervals; and the sweep's best run.

        Columns: the budget, ``runs``, ``opt`` (+``_lower``/``_upper``),
        ``loss_opt`` (+ bounds), ``curvature`` (median, in log-loss per
        ``(ln h)^2``) and ``best_in_sweep`` (the hyperparameter of the run with
        the lowest loss, for comparison).
        """
        level = self.level if level is None else level
        out = pd.DataFrame({self.by: self.budgets})
        budget_of_run = self.sweeps[self.by].to_numpy()
        out["runs"] = [int(np.sum(budget_of_run == b)) for b in self.budgets]
        out = out.assign(**quantile_columns("opt", np.exp(self.draws("log_opt")), level))
        out = out.assign(**quantile_columns("loss_opt", np.exp(self.draws("log_min_loss")),
                                             level))
        out["curvature"] = np.median(np.exp(self.draws("log_curvature")), axis=0)
        best = []
        for b in self.budgets:
            rows = self.sweeps[budget_of_run == b]
            best.append(float(rows[self.hyper].to_numpy()[np.argmin(rows[self.loss].to_numpy())]))
        out["best_in_sweep"] = best
        out["level"] = level
        return out

    def plot(self, kind: str = "law", **kwargs: Any) -> Any:
        """``"law"``: optima with intervals and the law's band; ``"sweeps"``: loss vs
        hyperparameter per budget with the fitted bowls. See :mod:`bayes_scaling.hyperparams`."""
        if kind == "law":
            return implementation("plot_hyperparameter_law")(self, **kwargs)
        if kind == "sweeps":
            return implementation("plot_hyperparameter_sweeps")(self, **kwargs)
        raise ValueError(f"kind must be 'law' or 'sweeps', got {kind!r}")

    def __repr__(self) -> str:
        return (f"HyperparameterFit(hyper={self.hyper!r}, by={self.by!r}, "
                f"budgets={len(self.budgets)}, runs={len(self.sweeps)}, draws={self.num_draws})")


def fit_hyperparameter_law(
    sweeps: pd.DataFrame,
    hyper: str = "lr",
    by: str = "C",
    *,
    loss: str = "loss",
    priors: Mapping[str, dist.Distribution] | None = None,
    chains: int = 4,
    draws: int = 1000,
    warmup: int = 1000,
    seed: int = 0,
    level: float = 0.9,
    target_accept: float = 0.95,
    warn: bool = True,
    sampler: SamplerConfig | None = None,
) -> HyperparameterFit:
    """Fit ``h*(x) = a x^b`` for the optimal hyperparameter from sweep results, with NUTS.

    Parameters
    ----------
    sweeps : DataFrame
        One row per run: the budget column ``by`` (runs with equal values form a
        sweep; at least 3 budgets), the hyperparameter column ``hyper`` (at
        least 3 distinct values per budget, ideally bracketing the optimum) and
        the final ``loss``. Never modified.
    hyper : str, default "lr"
        Column of the hyperparameter (e.g. ``"lr"``, ``"batch_size"``).
    by : str, default "C"
        Column of the budget (``"C"`` FLOPs, or ``"N"``, ``"D"``, or a loss).
    loss : str, default "loss"
    priors : mapping, optional
        Overrides of ``b`` (``Normal(0, 1)``), ``log_h_c`` (``ln h*`` at the
        geometric-mean budget; ``Normal(mean ln h, max(2 sd, 1))``), ``tau``
        (``HalfNormal(0.2)``, scatter of optima around the law in ``ln h``) and
        ``sigma`` (``HalfNormal(0.05)``, noise of ``ln loss``).
    chains, draws, warmup, seed, target_accept
        NUTS settings (see :func:`bayes_scaling.fit`); ``target_accept`` is 0.95
        by default: the scatter ``tau`` of few budgets makes a mild funnel.
    level : float
        Default interval mass.
    warn : bool
        Sampling-diagnostic warnings.

    sampler : SamplerConfig, optional
        All NUTS settings at once (the same argument on every ``fit_*``); the
        separate sampler keywords then keep their defaults.

    Returns
    -------
    HyperparameterFit
        ``summary()``, ``predict(C=...)``, ``optima()``, ``plot()``.
    """
    if not isinstance(sweeps, pd.DataFrame):
        raise TypeError(f"sweeps must be a DataFrame, got {type(sweeps).__name__}")
    x = column(sweeps, by, "budget")
    h = column(sweeps, hyper, "hyperparameter")
    y = column(sweeps, loss, "final loss")
    budgets, index = np.unique(x, return_inverse=True)
    if len(budgets) < 3:
        raise ValueError(f"need sweeps at 3 or more distinct {by!r} values, got {len(budgets)}")
    for k, b in enumerate(budgets):
        if len(np.unique(h[index == k])) < 3:
            raise ValueError(f"the sweep at {by} = {b:g} has fewer than 3 distinct {hyper!r} "
                             "values: a bowl needs at least 3")
    priors = check_extra_priors(priors, ("b", "log_h_c", "tau", "sigma"))
    log_h, log_y = np.log(h), np.log(y)
    spans = []
    for k in range(len(budgets)):
        sel = index == k
        half = max(np.ptp(log_h[sel]) / 2.0, 1e-3)
        spans.append(max(np.ptp(log_y[sel]), 1e-4) / half ** 2)
    scales = {
        "hyper_mean": float(np.mean(log_h)),
        "hyper_scale": float(max(2.0 * np.std(log_h), 1.0)),
        "loss_mean": float(np.mean(log_y)),
        "loss_scale": 1.0,
        "log_curvature": float(np.log(np.median(spans))),
    }
    with jax.enable_x64(True):
        kwargs = {
            "log_hyper": jnp.asarray(log_h),
            "log_loss": jnp.asarray(log_y), "budget_index": jnp.asarray(index),
            "log_by_budget": jnp.log(jnp.asarray(budgets)),
            "centre": jnp.asarray(float(np.mean(np.log(budgets)))),
            "scales": {k: jnp.asarray(v) for k, v in scales.items()}, "priors": priors,
        }
    config = resolve_sampler(sampler, fit_hyperparameter_law, chains=chains, draws=draws,
                             warmup=warmup, target_accept=target_accept)
    tree, config = sample_posterior(bowl_model, kwargs, config=config, seed=seed, warn=warn,
                                    checked=["b", "log_h_c", "tau", "sigma"])
    return HyperparameterFit(posterior=tree, sampler=config, seed=seed, level=level, priors=priors,
                             sweeps=sweeps[[by, hyper, loss]].copy(), hyper=hyper, by=by,
                             loss=loss, budgets=budgets)


def simulate_sweeps(
    budgets: Any,
    grid: Any,
    *,
    law: Mapping[str, float] = DEEPSEEK_LR,
    curvature: float = 0.02,
    min_loss: Any = None,
    noise: float = 0.003,
    scatter: float = 0.0,
    hyper: str = "lr",
    by: str = "C",
    seed: int = 0,
) -> pd.DataFrame:
    """Sweeps from a known optimum law: ``ln L = m_k + curvature (ln h - ln h*_k)^2 + noise``.

    ``h*_k = a C_k^b exp(scatter eps_k)``; every budget is swept over ``grid``.
    ``min_loss`` (per budget) defaults to ``2 + 3 (C / C_min)^-0.1``.
    """
    rng = np.random.default_rng(seed)
    budgets = np.asarray(budgets, dtype=np.float64)
    grid = np.asarray(grid, dtype=np.float64)
    if min_loss is None:
        min_loss = 2.0 + 3.0 * (budgets / budgets.min()) ** -0.1
    min_loss = np.broadcast_to(np.asarray(min_loss, dtype=np.float64), budgets.shape)
    log_opt = np.log(law["a"]) + law["b"] * np.log(budgets) + scatter * rng.standard_normal(
        budgets.shape)
    rows = []
    for c, m, u in zip(budgets, min_loss, log_opt, strict=True):
        log_loss = np.log(m) + curvature * (np.log(grid) - u) ** 2
        loss = np.exp(log_loss + noise * rng.standard_normal(grid.shape))
        rows.append(pd.DataFrame({by: c, hyper: grid, "loss": loss}))
    return pd.concat(rows, ignore_index=True)




def load(path: str | os.PathLike) -> HyperparameterFit | CriticalBatchFit:
    """Load a fit written by ``HyperparameterFit.to_netcdf`` or ``CriticalBatchFit.to_netcdf``
    (:func:`bayes_scaling.load` reads every results type)."""
    tree = read_tree(path)
    text = tree.attrs.get(META_KEY)
    if text is None:
        raise ValueError(f"{path!s} was not written by a hyperparameter fit (no metadata)")
    return from_tree(tree, json.loads(text))


def from_tree(tree: xr.DataTree, meta: dict[str, Any]) -> HyperparameterFit | CriticalBatchFit:
    """The fit from a file's tree and settings (see :func:`load`)."""
    const = tree["constant_data"]
    table = pd.DataFrame({c: const[c].values for c in meta["columns"]})
    common = {"posterior": tree, "sampler": sampler_from_meta(meta["sampler"]),
              "seed": meta["seed"], "level": meta["level"],
              "priors": decode_priors(meta.get("priors"))}
    if meta["kind"] == "HyperparameterFit":
        return HyperparameterFit(**common, sweeps=table, hyper=meta["hyper"], by=meta["by"],
                                 loss=meta["loss"], budgets=np.asarray(meta["budgets"]))
    return CriticalBatchFit(**common, table=table, mode=meta["mode"],
                            targets=np.asarray(meta["targets"]), centre=meta["centre"])
