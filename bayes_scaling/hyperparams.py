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
>>> from bayes_scaling.hyperparams import fit_hyperparameter_law
>>> law = fit_hyperparameter_law(sweeps, hyper="lr", by="C")       # doctest: +SKIP
>>> law.summary()              # a, b, tau, sigma with 90% intervals          # doctest: +SKIP
>>> law.predict(C=1e24)        # h* with credible and predictive bands        # doctest: +SKIP
>>> law.optima()               # per-budget optima with their uncertainty     # doctest: +SKIP
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
import numpyro
import numpyro.distributions as dist

from . import diagnostics
from ._lazy import lazy_import
from .fit import _quantile_columns
from .inference import SamplerConfig, arviz_sample_stats, run_nuts

azb = lazy_import("arviz_base")
azs = lazy_import("arviz_stats")
pd = lazy_import("pandas")
xr = lazy_import("xarray")

__all__ = ["fit_hyperparameter_law", "HyperparameterFit", "fit_critical_batch_size",
           "CriticalBatchFit", "simulate_sweeps", "DEEPSEEK_LR", "DEEPSEEK_BATCH", "load"]

_META_KEY = "bayes_scaling_hyperparams"

#: DeepSeek LLM (2024): ``lr_opt = 0.3118 C^-0.125`` (C in FLOPs).
DEEPSEEK_LR = {"a": 0.3118, "b": -0.125}
#: DeepSeek LLM (2024): ``B_opt = 0.2920 C^0.3271`` (tokens; C in FLOPs).
DEEPSEEK_BATCH = {"a": 0.2920, "b": 0.3271}


# ----------------------------------------------------------------- shared bits
def _column(table: pd.DataFrame, name: str, what: str) -> np.ndarray:
    if name not in table.columns:
        raise ValueError(f"the table has no column {name!r} ({what}); columns: "
                         f"{list(table.columns)}")
    values = pd.to_numeric(table[name], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values) | (values <= 0)
    if bad.any():
        row = table.index[int(np.argmax(bad))]
        raise ValueError(f"column {name!r} ({what}) must be positive and finite; row {row!r} "
                         f"has {table[name].loc[row]!r}")
    return values


def _check_priors(priors: Mapping[str, Any] | None, allowed: tuple[str, ...]) -> dict:
    priors = dict(priors or {})
    for name, prior in priors.items():
        if name not in allowed:
            raise ValueError(f"prior given for unknown site {name!r}; choose from {list(allowed)}")
        if not isinstance(prior, dist.Distribution):
            raise TypeError(f"prior for {name!r} must be a numpyro distribution, "
                            f"got {type(prior).__name__}")
    return priors


def _sample(model, kwargs: dict, *, chains: int, draws: int, warmup: int, seed: int,
            target_accept: float, warn: bool, checked: list[str]) -> tuple[xr.DataTree, Any]:
    config = SamplerConfig(chains=chains, draws=draws, warmup=warmup,
                           target_accept=target_accept)
    with jax.enable_x64(True):
        result = run_nuts(model, kwargs, config, jax.random.PRNGKey(seed))
    tree = azb.from_dict({"posterior": dict(result.samples),
                          "sample_stats": arviz_sample_stats(result.stats)})
    if warn:
        diagnostics.check_sampling(tree, checked, max_tree_depth=config.max_tree_depth,
                                   _stacklevel=5)
    return tree, config


@dataclass(frozen=True, eq=False)
class _PosteriorResult:
    posterior: xr.DataTree
    sampler: SamplerConfig
    seed: int
    level: float

    def draws(self, name: str) -> np.ndarray:
        """Posterior draws of ``name`` flattened over chains: ``(num_draws, ...)``."""
        values = self.posterior["posterior"][name].values
        return values.reshape((-1,) + values.shape[2:])

    @property
    def num_draws(self) -> int:
        ds = self.posterior["posterior"]
        return int(ds.sizes["chain"] * ds.sizes["draw"])

    def _meta(self) -> dict[str, Any]:
        """Attributes besides the posterior and the table (JSON-able), for :meth:`to_netcdf`."""
        raise NotImplementedError

    def _table(self) -> pd.DataFrame:
        raise NotImplementedError

    def to_netcdf(self, path: str | os.PathLike) -> str:
        """Write the posterior, the input table and the settings to ``path`` (see :func:`load`)."""
        tree = self.posterior.copy()
        table = self._table()
        tree["constant_data"] = xr.DataTree(dataset=xr.Dataset(
            {str(c): ("row", table[c].to_numpy()) for c in table.columns}))
        meta = {"kind": type(self).__name__, "seed": self.seed, "level": self.level,
                "columns": [str(c) for c in table.columns],
                "sampler": {k: getattr(self.sampler, k) for k in
                            ("chains", "draws", "warmup", "dense_mass", "target_accept",
                             "max_tree_depth")},
                **self._meta()}
        tree.attrs = {**tree.attrs, _META_KEY: json.dumps(meta)}
        tree.to_netcdf(path, engine="h5netcdf")
        return str(path)

    def _summary(self, names: list[str], level: float | None) -> pd.DataFrame:
        level = self.level if level is None else level
        table = azs.summary(self.posterior, var_names=names, ci_prob=level, ci_kind="eti",
                            round_to="none")
        lower, upper = table.columns[2], table.columns[3]
        table = table.rename(columns={lower: "lower", upper: "upper"})
        table.insert(2, "median", [float(np.median(self.draws(n))) for n in table.index])
        table.attrs["level"] = level
        return table


# ------------------------------------------------------ optimum vs budget law
def _bowl_model(log_hyper, log_loss, budget_index, log_by_budget, centre, scales,
                priors):
    """Joint model of sweeps: per-budget quadratic bowls, optima on a power law."""
    num_budgets = log_by_budget.shape[0]
    b = numpyro.sample("b", priors.get("b", dist.Normal(0.0, 1.0)))
    log_h_c = numpyro.sample("log_h_c", priors.get(
        "log_h_c", dist.Normal(scales["hyper_mean"], scales["hyper_scale"])))
    tau = numpyro.sample("tau", priors.get("tau", dist.HalfNormal(0.2)))
    sigma = numpyro.sample("sigma", priors.get("sigma", dist.HalfNormal(0.05)))
    with numpyro.plate("budget", num_budgets):
        z = numpyro.sample("opt_z", dist.Normal(0.0, 1.0))
        log_min = numpyro.sample("log_min_loss",
                                 dist.Normal(scales["loss_mean"], scales["loss_scale"]))
        log_curv = numpyro.sample("log_curvature",
                                  dist.Normal(scales["log_curvature"], 2.0))
    law_opt = log_h_c + b * (log_by_budget - centre)
    log_opt = numpyro.deterministic("log_opt", law_opt + tau * z)
    numpyro.deterministic("log_a", log_h_c - b * centre)
    numpyro.deterministic("a", jnp.exp(log_h_c - b * centre))
    mean = log_min[budget_index] + jnp.exp(log_curv)[budget_index] * (
        log_hyper - log_opt[budget_index]) ** 2
    numpyro.sample("log_loss", dist.Normal(mean, sigma), obs=log_loss)


@dataclass(frozen=True, eq=False)
class HyperparameterFit(_PosteriorResult):
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
        out = pd.DataFrame({self.by: x})
        band = _quantile_columns("median", law, level)
        out["median"], out["lower"], out["upper"] = (band["median"], band["median_lower"],
                                                     band["median_upper"])
        tail = (1.0 - level) / 2.0
        out["pred_lower"], out["pred_upper"] = np.quantile(law * scatter, [tail, 1 - tail], axis=0)
        out["level"] = level
        return out

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
        out = out.assign(**_quantile_columns("opt", np.exp(self.draws("log_opt")), level))
        out = out.assign(**_quantile_columns("loss_opt", np.exp(self.draws("log_min_loss")),
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
            return _plot_law(self, **kwargs)
        if kind == "sweeps":
            return _plot_sweeps(self, **kwargs)
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

    Returns
    -------
    HyperparameterFit
        ``summary()``, ``predict(C=...)``, ``optima()``, ``plot()``.
    """
    if not isinstance(sweeps, pd.DataFrame):
        raise TypeError(f"sweeps must be a DataFrame, got {type(sweeps).__name__}")
    x = _column(sweeps, by, "budget")
    h = _column(sweeps, hyper, "hyperparameter")
    y = _column(sweeps, loss, "final loss")
    budgets, index = np.unique(x, return_inverse=True)
    if len(budgets) < 3:
        raise ValueError(f"need sweeps at 3 or more distinct {by!r} values, got {len(budgets)}")
    for k, b in enumerate(budgets):
        if len(np.unique(h[index == k])) < 3:
            raise ValueError(f"the sweep at {by} = {b:g} has fewer than 3 distinct {hyper!r} "
                             "values: a bowl needs at least 3")
    priors = _check_priors(priors, ("b", "log_h_c", "tau", "sigma"))
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
    tree, config = _sample(_bowl_model, kwargs, chains=chains, draws=draws, warmup=warmup,
                           seed=seed, target_accept=target_accept, warn=warn,
                           checked=["b", "log_h_c", "tau", "sigma"])
    return HyperparameterFit(posterior=tree, sampler=config, seed=seed, level=level,
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


# ----------------------------------------------------- critical batch size
def _tradeoff_model(log_batch, log_steps, target_index, log_targets, centre,
                    scales, priors):
    """``ln S = ln S_min,k + softplus(ln B_crit,k - ln B)``, ``B_crit`` on a power law in L."""
    num_targets = log_targets.shape[0]
    alpha_b = numpyro.sample("alpha_B", priors.get("alpha_B", dist.LogNormal(np.log(0.25), 1.0)))
    log_b_c = numpyro.sample("log_B_c", priors.get(
        "log_B_c", dist.Normal(scales["batch_mean"], scales["batch_scale"])))
    tau = numpyro.sample("tau", priors.get("tau", dist.HalfNormal(0.2)))
    sigma = numpyro.sample("sigma", priors.get("sigma", dist.HalfNormal(0.1)))
    with numpyro.plate("target", num_targets):
        z = numpyro.sample("crit_z", dist.Normal(0.0, 1.0))
        log_s_min = numpyro.sample("log_S_min",
                                   dist.Normal(scales["steps_mean"], scales["steps_scale"]))
    law = log_b_c - (log_targets - centre) / alpha_b
    log_b_crit = numpyro.deterministic("log_B_crit", law + tau * z)
    numpyro.deterministic("log_E_min", log_s_min + log_b_crit)
    numpyro.deterministic("B_star", jnp.exp(log_b_c + centre / alpha_b))
    mean = log_s_min[target_index] + jax.nn.softplus(log_b_crit[target_index] - log_batch)
    numpyro.sample("log_steps", dist.Normal(mean, sigma), obs=log_steps)


def _direct_model(log_loss_target, log_b_crit_obs, centre, scales, priors):
    """``ln B_crit ~ Normal(ln B_c - (ln L - ln L_c) / alpha_B, sigma)``."""
    alpha_b = numpyro.sample("alpha_B", priors.get("alpha_B", dist.LogNormal(np.log(0.25), 1.0)))
    log_b_c = numpyro.sample("log_B_c", priors.get(
        "log_B_c", dist.Normal(scales["batch_mean"], scales["batch_scale"])))
    sigma = numpyro.sample("sigma", priors.get("sigma", dist.HalfNormal(0.3)))
    numpyro.deterministic("B_star", jnp.exp(log_b_c + centre / alpha_b))
    mean = log_b_c - (log_loss_target - centre) / alpha_b
    numpyro.sample("log_B_crit_obs", dist.Normal(mean, sigma), obs=log_b_crit_obs)


@dataclass(frozen=True, eq=False)
class CriticalBatchFit(_PosteriorResult):
    """Posterior of ``B_crit(L) = B* L^(-1/alpha_B)`` (see :func:`fit_critical_batch_size`).

    Attributes
    ----------
    table : DataFrame
        The columns used, a copy.
    mode : {"tradeoff", "direct"}
        Fitted from steps-to-target (the ``S``-``E`` trade-off) or from measured
        ``B_crit``.
    targets : ndarray
        Distinct target losses, ascending (tradeoff mode).
    """

    table: pd.DataFrame = None  # type: ignore[assignment]
    mode: str = "tradeoff"
    targets: np.ndarray = None  # type: ignore[assignment]
    centre: float = 0.0

    def _meta(self) -> dict[str, Any]:
        return {"mode": self.mode, "targets": [float(t) for t in self.targets],
                "centre": self.centre}

    def _table(self) -> pd.DataFrame:
        return self.table

    def summary(self, level: float | None = None) -> pd.DataFrame:
        """``B_star``, ``alpha_B``, ``sigma`` (and ``tau`` in tradeoff mode)."""
        names = ["B_star", "alpha_B", "sigma"] + (["tau"] if self.mode == "tradeoff" else [])
        return self._summary(names, level)

    def predict_draws(self, loss: Any) -> np.ndarray:
        """Draws of ``B_crit`` at target losses ``loss``: ``(num_draws, num_points)``."""
        values = np.atleast_1d(np.asarray(loss, dtype=np.float64)).ravel()
        if not np.all(np.isfinite(values)) or np.any(values <= 0):
            raise ValueError("target losses must be positive and finite")
        alpha = self.draws("alpha_B")[:, None]
        return np.exp(self.draws("log_B_c")[:, None]
                      - (np.log(values)[None] - self.centre) / alpha)

    def predict(self, loss: Any, *, level: float | None = None) -> pd.DataFrame:
        """``B_crit`` at target losses: ``loss``, ``median``, ``lower``, ``upper``, ``level``."""
        level = self.level if level is None else level
        draws = self.predict_draws(loss)
        band = _quantile_columns("median", draws, level)
        return pd.DataFrame({"loss": np.atleast_1d(np.asarray(loss, dtype=np.float64)).ravel(),
                             "median": band["median"], "lower": band["median_lower"],
                             "upper": band["median_upper"], "level": level})

    def per_target(self, level: float | None = None) -> pd.DataFrame:
        """Per target loss (tradeoff mode): ``B_crit``, ``S_min``, ``E_min`` with intervals."""
        if self.mode != "tradeoff":
            raise ValueError("per_target() needs a fit from steps-to-target (tradeoff mode)")
        level = self.level if level is None else level
        out = pd.DataFrame({"loss": self.targets})
        for name, site in (("B_crit", "log_B_crit"), ("S_min", "log_S_min"),
                           ("E_min", "log_E_min")):
            out = out.assign(**_quantile_columns(name, np.exp(self.draws(site)), level))
        out["level"] = level
        return out

    def plot(self, **kwargs: Any) -> Any:
        """``B_crit`` against loss: the law's bands and the per-target (or measured) values."""
        return _plot_critical(self, **kwargs)

    def __repr__(self) -> str:
        return f"CriticalBatchFit(mode={self.mode!r}, rows={len(self.table)}, draws={self.num_draws})"


def fit_critical_batch_size(
    table: pd.DataFrame,
    *,
    loss: str = "loss",
    batch: str = "batch_size",
    steps: str = "steps",
    b_crit: str = "B_crit",
    priors: Mapping[str, dist.Distribution] | None = None,
    chains: int = 4,
    draws: int = 1000,
    warmup: int = 1000,
    seed: int = 0,
    level: float = 0.9,
    target_accept: float = 0.95,
    warn: bool = True,
) -> CriticalBatchFit:
    """Fit the critical batch size ``B_crit(L) = B* L^(-1/alpha_B)`` with NUTS.

    Two input layouts (units of ``B*`` follow the batch column: tokens in Kaplan et al.):

    * **steps to target** (a ``steps`` column): one row per (target loss,
      batch size): ``loss`` = the target, ``batch_size`` = the run's batch
      size, ``steps`` = optimiser steps it needed to first reach the target.
      Several batch sizes per target (at least 3 targets; batch sizes either
      side of ``B_crit``). Model: ``ln S ~ Normal(ln S_min,L + ln(1 + B_crit,L / B), sigma)``
      (the trade-off ``(S/S_min - 1)(E/E_min - 1) = 1``), ``ln B_crit,L`` on the
      law with scatter ``tau``; ``E_min = S_min B_crit`` per target.
    * **measured** (a ``B_crit`` column, no ``steps``): one row per target loss,
      ``ln B_crit ~ Normal(law, sigma)``.

    Priors (override by name): ``alpha_B ~ LogNormal(log 0.25, 1)``, ``log_B_c``
    (``ln B_crit`` at the geometric-mean target loss) ``~ Normal(mean ln B, 3)``,
    ``tau ~ HalfNormal(0.2)``, ``sigma ~ HalfNormal(0.1)`` (tradeoff, on ``ln S``)
    or ``HalfNormal(0.3)`` (measured, on ``ln B_crit``).

    Returns
    -------
    CriticalBatchFit
        ``summary()`` (``B_star``, ``alpha_B``, ...), ``predict(loss)``,
        ``per_target()``, ``plot()``.
    """
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"table must be a DataFrame, got {type(table).__name__}")
    target = _column(table, loss, "target loss")
    log_target = np.log(target)
    if steps in table.columns:
        mode = "tradeoff"
        priors = _check_priors(priors, ("alpha_B", "log_B_c", "tau", "sigma"))
        b = _column(table, batch, "batch size")
        s = _column(table, steps, "steps to reach the target loss")
        targets, index = np.unique(target, return_inverse=True)
        if len(targets) < 3:
            raise ValueError(f"need 3 or more distinct target losses, got {len(targets)}")
        for k, t in enumerate(targets):
            if len(np.unique(b[index == k])) < 2:
                raise ValueError(f"target loss {t:g} has fewer than 2 distinct batch sizes")
        centre = float(np.mean(np.log(targets)))
        scales = {"batch_mean": float(np.mean(np.log(b))), "batch_scale": 3.0,
                  "steps_mean": float(np.mean(np.log(s))), "steps_scale": 3.0}
        with jax.enable_x64(True):
            kwargs = {"log_batch": jnp.log(jnp.asarray(b)), "log_steps": jnp.log(jnp.asarray(s)),
                      "target_index": jnp.asarray(index),
                      "log_targets": jnp.log(jnp.asarray(targets)),
                      "centre": jnp.asarray(centre),
                      "scales": {k: jnp.asarray(v) for k, v in scales.items()},
                      "priors": priors}
        model, used = _tradeoff_model, table[[loss, batch, steps]].copy()
        checked = ["alpha_B", "log_B_c", "tau", "sigma"]
    elif b_crit in table.columns:
        mode, targets = "direct", np.unique(target)
        priors = _check_priors(priors, ("alpha_B", "log_B_c", "sigma"))
        measured = _column(table, b_crit, "measured critical batch size")
        if len(targets) < 3:
            raise ValueError(f"need 3 or more distinct target losses, got {len(targets)}")
        centre = float(np.mean(log_target))
        scales = {"batch_mean": float(np.mean(np.log(measured))), "batch_scale": 3.0}
        with jax.enable_x64(True):
            kwargs = {"log_loss_target": jnp.asarray(log_target),
                      "log_b_crit_obs": jnp.log(jnp.asarray(measured)),
                      "centre": jnp.asarray(centre),
                      "scales": {k: jnp.asarray(v) for k, v in scales.items()},
                      "priors": priors}
        model, used = _direct_model, table[[loss, b_crit]].copy()
        checked = ["alpha_B", "log_B_c", "sigma"]
    else:
        raise ValueError(f"the table needs a {steps!r} column (steps to reach each target loss "
                         f"with batch size {batch!r}) or a {b_crit!r} column (measured critical "
                         f"batch sizes); columns: {list(table.columns)}")
    tree, config = _sample(model, kwargs, chains=chains, draws=draws, warmup=warmup, seed=seed,
                           target_accept=target_accept, warn=warn, checked=checked)
    return CriticalBatchFit(posterior=tree, sampler=config, seed=seed, level=level, table=used,
                            mode=mode, targets=targets, centre=centre)


def simulate_steps_to_target(
    targets: Any,
    batch_sizes: Any,
    *,
    b_star: float = 2e8,
    alpha_b: float = 0.21,
    s_min: Any = None,
    noise: float = 0.05,
    seed: int = 0,
) -> pd.DataFrame:
    """Steps to reach each target loss: ``S = S_min (1 + B_crit(L) / B)``, log-normal noise.

    ``S_min`` per target defaults to ``1e3 (L / L_max)^-8`` (lower targets take longer).
    """
    rng = np.random.default_rng(seed)
    targets = np.asarray(targets, dtype=np.float64)
    batch_sizes = np.asarray(batch_sizes, dtype=np.float64)
    if s_min is None:
        s_min = 1e3 * (targets / targets.max()) ** -8.0
    s_min = np.broadcast_to(np.asarray(s_min, dtype=np.float64), targets.shape)
    rows = []
    for t, s0 in zip(targets, s_min, strict=True):
        crit = b_star * t ** (-1.0 / alpha_b)
        s = s0 * (1.0 + crit / batch_sizes) * np.exp(noise * rng.standard_normal(
            batch_sizes.shape))
        rows.append(pd.DataFrame({"loss": t, "batch_size": batch_sizes, "steps": s}))
    return pd.concat(rows, ignore_index=True)


__all__ += ["simulate_steps_to_target"]


def load(path: str | os.PathLike) -> HyperparameterFit | CriticalBatchFit:
    """Load a fit written by ``HyperparameterFit.to_netcdf`` or ``CriticalBatchFit.to_netcdf``."""
    tree = xr.open_datatree(path, engine="h5netcdf").load()
    text = tree.attrs.get(_META_KEY)
    if text is None:
        raise ValueError(f"{path!s} was not written by a hyperparameter fit (no metadata)")
    meta = json.loads(text)
    const = tree["constant_data"]
    table = pd.DataFrame({c: const[c].values for c in meta["columns"]})
    common = {"posterior": tree, "sampler": SamplerConfig(**meta["sampler"]),
              "seed": meta["seed"], "level": meta["level"]}
    if meta["kind"] == "HyperparameterFit":
        return HyperparameterFit(**common, sweeps=table, hyper=meta["hyper"], by=meta["by"],
                                 loss=meta["loss"], budgets=np.asarray(meta["budgets"]))
    return CriticalBatchFit(**common, table=table, mode=meta["mode"],
                            targets=np.asarray(meta["targets"]), centre=meta["centre"])


# --------------------------------------------------------------------- plots
def _axes(ax: Any) -> Any:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(6.4, 4.4), layout="constrained")[1]


def _band(ax: Any, x: np.ndarray, draws: np.ndarray, colour: str, label: str) -> None:
    lo90, lo50, mid, hi50, hi90 = np.quantile(draws, [0.05, 0.25, 0.5, 0.75, 0.95], axis=0)
    ax.fill_between(x, lo90, hi90, color=colour, alpha=0.18, lw=0, label="90% credible band")
    ax.fill_between(x, lo50, hi50, color=colour, alpha=0.38, lw=0, label="50% credible band")
    ax.plot(x, mid, color=colour, lw=1.8, label=label)


def _plot_law(fit: HyperparameterFit, *, x_max: float | None = None, ax: Any = None) -> Any:
    """Per-budget optima (90% intervals) and the law ``a x^b`` with bands, extrapolation shaded."""
    ax = _axes(ax)
    lo, hi = float(fit.budgets.min()), float(fit.budgets.max())
    right = float(x_max or 100 * hi)
    grid = np.geomspace(lo / 2, right, 120)
    _band(ax, grid, fit.predict_draws(grid), "#0072B2", f"{fit.hyper}* = a {fit.by}^b (median)")
    opt = fit.optima(level=0.9)
    ax.errorbar(opt[fit.by], opt["opt"], yerr=[opt["opt"] - opt["opt_lower"],
                                               opt["opt_upper"] - opt["opt"]],
                fmt="o", color="k", ms=4, capsize=3, label="per-budget optimum (90%)")
    ax.axvspan(hi, right, color="0.93", zorder=0, lw=0)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(grid[0], right)
    ax.set_xlabel(fit.by)
    ax.set_ylabel(f"optimal {fit.hyper}")
    ax.legend(fontsize="small")
    return ax


def _plot_sweeps(fit: HyperparameterFit, *, ax: Any = None) -> Any:
    """Loss against the hyperparameter per budget: runs and the fitted bowls (median)."""
    import matplotlib

    ax = _axes(ax)
    cmap = matplotlib.colormaps["cividis"]
    log_min = np.median(fit.draws("log_min_loss"), axis=0)
    log_curv = np.median(fit.draws("log_curvature"), axis=0)
    log_opt = np.median(fit.draws("log_opt"), axis=0)
    values = fit.sweeps[fit.hyper].to_numpy()
    grid = np.geomspace(values.min(), values.max(), 100)
    for k, b in enumerate(fit.budgets):
        colour = cmap(k / max(len(fit.budgets) - 1, 1))
        rows = fit.sweeps[fit.sweeps[fit.by] == b]
        ax.scatter(rows[fit.hyper], rows[fit.loss], color=colour, s=14, zorder=3)
        curve = np.exp(log_min[k] + np.exp(log_curv[k]) * (np.log(grid) - log_opt[k]) ** 2)
        ax.plot(grid, curve, color=colour, lw=1.2, label=f"{fit.by} = {b:.3g}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(fit.hyper)
    ax.set_ylabel("final loss")
    ax.legend(fontsize="small")
    return ax


def _plot_critical(fit: CriticalBatchFit, *, ax: Any = None) -> Any:
    ax = _axes(ax)
    if fit.mode == "tradeoff":
        losses = fit.targets
    else:
        losses = fit.table.iloc[:, 0].to_numpy()
    grid = np.geomspace(losses.min() * 0.9, losses.max() * 1.1, 100)
    _band(ax, grid, fit.predict_draws(grid), "#009E73", "B_crit(L) = B* L^(-1/alpha_B)")
    if fit.mode == "tradeoff":
        per = fit.per_target(level=0.9)
        ax.errorbar(per["loss"], per["B_crit"], yerr=[per["B_crit"] - per["B_crit_lower"],
                                                      per["B_crit_upper"] - per["B_crit"]],
                    fmt="o", color="k", ms=4, capsize=3, label="per target (90%)")
    else:
        ax.scatter(losses, fit.table.iloc[:, 1], color="k", s=14, label="measured")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("target loss")
    ax.set_ylabel("critical batch size")
    ax.legend(fontsize="small")
    return ax
