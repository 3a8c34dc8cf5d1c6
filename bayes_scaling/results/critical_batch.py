"""Critical batch size B_crit(L) = B* L^(-1/alpha_B) (Kaplan et al. 2020), fitted with NUTS."""

from __future__ import annotations

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
from ..models.hyperparams import direct_model, tradeoff_model
from .base import predictive_table
from .extensions import implementation
from .posterior_result import (
    PosteriorResult,
    check_extra_priors,
    column,
    sample_posterior,
)

pd = lazy_import("pandas")

__all__ = ["CriticalBatchFit", "fit_critical_batch_size", "simulate_steps_to_target"]


@dataclass(frozen=True, eq=False)
class CriticalBatchFit(PosteriorResult):
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
        """``B_crit`` at target losses: ``loss``, ``median``, ``lower``, ``upper``, ``level``
        (``predictive_table`` (``bayes_scaling._predictive``); ``pred_lower``/``pred_upper``
        are NaN: the fit has no model of a new measurement of ``B_crit`` at a target loss)."""
        level = self.level if level is None else level
        draws = self.predict_draws(loss)
        return predictive_table({"loss": np.atleast_1d(np.asarray(loss, dtype=np.float64)).ravel()},
                                draws, None, level, mean=False)

    def per_target(self, level: float | None = None) -> pd.DataFrame:
        """Per target loss (tradeoff mode): ``B_crit``, ``S_min``, ``E_min`` with intervals."""
        if self.mode != "tradeoff":
            raise ValueError("per_target() needs a fit from steps-to-target (tradeoff mode)")
        level = self.level if level is None else level
        out = pd.DataFrame({"loss": self.targets})
        for name, site in (("B_crit", "log_B_crit"), ("S_min", "log_S_min"),
                           ("E_min", "log_E_min")):
            out = out.assign(**quantile_columns(name, np.exp(self.draws(site)), level))
        out["level"] = level
        return out

    def plot(self, **kwargs: Any) -> Any:
        """``B_crit`` against loss: the law's bands and the per-target (or measured) values."""
        return implementation("plot_critical_batch")(self, **kwargs)

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
    sampler: SamplerConfig | None = None,
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

    sampler : SamplerConfig, optional
        All NUTS settings at once (the same argument on every ``fit_*``); the
        separate sampler keywords then keep their defaults.

    Returns
    -------
    CriticalBatchFit
        ``summary()`` (``B_star``, ``alpha_B``, ...), ``predict(loss)``,
        ``per_target()``, ``plot()``.
    """
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"table must be a DataFrame, got {type(table).__name__}")
    target = column(table, loss, "target loss")
    log_target = np.log(target)
    if steps in table.columns:
        mode = "tradeoff"
        priors = check_extra_priors(priors, ("alpha_B", "log_B_c", "tau", "sigma"))
        b = column(table, batch, "batch size")
        s = column(table, steps, "steps to reach the target loss")
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
        model, used = tradeoff_model, table[[loss, batch, steps]].copy()
        checked = ["alpha_B", "log_B_c", "tau", "sigma"]
    elif b_crit in table.columns:
        mode, targets = "direct", np.unique(target)
        priors = check_extra_priors(priors, ("alpha_B", "log_B_c", "sigma"))
        measured = column(table, b_crit, "measured critical batch size")
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
        model, used = direct_model, table[[loss, b_crit]].copy()
        checked = ["alpha_B", "log_B_c", "sigma"]
    else:
        raise ValueError(f"the table needs a {steps!r} column (steps to reach each target loss "
                         f"with batch size {batch!r}) or a {b_crit!r} column (measured critical "
                         f"batch sizes); columns: {list(table.columns)}")
    config = resolve_sampler(sampler, fit_critical_batch_size, chains=chains, draws=draws,
                             warmup=warmup, target_accept=target_accept)
    tree, config = sample_posterior(model, kwargs, config=config, seed=seed, warn=warn,
                                    checked=checked)
    return CriticalBatchFit(posterior=tree, sampler=config, seed=seed, level=level, priors=priors,
                            table=used,
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
