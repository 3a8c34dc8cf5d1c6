"""Downstream accuracy as a sigmoid of loss, chained with a loss law.

The two-step model (Gadre et al. 2024; Ruan et al. 2024, observational scaling
laws): step one predicts the loss of a model from its size and data (a
:class:`~bayes_scaling.fit.ScalingFit`); step two maps loss to benchmark accuracy,

.. math::

    \\mathrm{acc}(L) = c + (u - c)\\,\\sigma\\big(k\\,(L_{mid} - L)\\big),
    \\qquad \\sigma(x) = 1 / (1 + e^{-x}),

with ``c`` the chance level (fixed: 0.5 for a two-way choice, 0.25 for four
options, 0 for free generation), ``u`` the ceiling (fixed, or a parameter with
a prior on ``(c, 1)``), ``k > 0`` the steepness (accuracy rises as loss falls)
and ``L_mid`` the loss at which accuracy is half-way between chance and ceiling.

Noise models of the observed accuracy ``a`` around the curve value ``m``:

``"binomial"``       ``round(a n) ~ Binomial(n, m)`` with ``n`` questions (sampling
                     error of a finite benchmark, nothing else);
``"beta_binomial"``  ``round(a n) ~ BetaBinomial(m phi, (1 - m) phi, n)``: binomial
                     plus over-dispersion between checkpoints / models;
``"beta"``           ``a ~ Beta(m phi, (1 - m) phi)`` when the number of questions is
                     unknown (needs ``0 < a < 1``).

The dispersion is reported as ``sigma``, ``phi = 1 / (4 sigma^2)``: for small
``sigma`` it is the SD of a Beta-distributed accuracy at 50%.

:func:`predict_downstream` chains the steps draw by draw, so the accuracy band at
an unseen compute budget carries the uncertainty of both.

References
----------
Gadre et al. (2024), "Language models scale reliably with over-training and on
downstream tasks". Ruan, Maddison & Hashimoto (2024), "Observational Scaling
Laws and the Predictability of Language Model Performance".
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist

from .._lazy import lazy_import
from ..data.runs import RunsTableError
from ..exceptions import SigmoidExtrapolationWarning
from ..inference import diagnostics
from ..inference.intervals import DEFAULT_LEVEL
from ..inference.nuts import SamplerConfig, arviz_sample_stats, resolve_sampler, run_nuts
from ..inference.precision import fitted_config
from ..models.downstream import (
    NOISE_MODELS,
    PARAMS,
    build_downstream_model,
    sigmoid_accuracy,
)
from ..priors.serialize import decode_priors, encode_priors
from .base import PosteriorResults, predictive_table
from .persistence import sampler_from_meta, sampler_meta, write_tree

azb = lazy_import("arviz_base")
pd = lazy_import("pandas")
xr = lazy_import("xarray")

__all__ = ["DownstreamFit", "fit_downstream", "sigmoid_accuracy",
           "NOISE_MODELS", "SigmoidExtrapolationWarning"]


# --------------------------------------------------------------------------- validation
def _column(table: pd.DataFrame, name: str, role: str) -> np.ndarray:
    if name not in table.columns:
        raise RunsTableError("column is missing", column=name,
                             fix=f"name the {role} column {name!r} or pass {role}=<column name>")
    raw = table[name]
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        pos = int(np.argmax(bad))
        raise RunsTableError(f"{role} must be a finite number, got {raw.iloc[pos]!r}",
                             column=name, row=table.index[pos])
    return values


def _validate(table: pd.DataFrame, loss: str, accuracy: str, num_questions: Any,
              noise: str | None) -> tuple[pd.DataFrame, str]:
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"table must be a pandas DataFrame, got {type(table).__name__}")
    if len(table) < 4:
        raise RunsTableError(f"too few rows: {len(table)} given, a sigmoid fit needs at least 4")
    loss_values = _column(table, loss, "loss")
    acc = _column(table, accuracy, "accuracy")
    outside = (acc < 0) | (acc > 1)
    if outside.any():
        pos = int(np.argmax(outside))
        raise RunsTableError(f"accuracy must lie in [0, 1], got {acc[pos]:g}", column=accuracy,
                             row=table.index[pos], fix="give accuracies as fractions, not percent")
    if np.ptp(loss_values) <= 0:
        raise RunsTableError("all losses are equal: the sigmoid's slope is not identified",
                             column=loss)
    out = pd.DataFrame({"loss": loss_values, "accuracy": acc}, index=table.index.copy())
    if num_questions is not None:
        if isinstance(num_questions, str):
            totals = _column(table, num_questions, "num_questions")
            where = num_questions
        else:
            totals = np.broadcast_to(np.asarray(num_questions, dtype=np.float64),
                                     (len(table),)).copy()
            where = "num_questions"
        bad = ~((totals >= 1) & (totals == np.round(totals)))
        if bad.any():
            pos = int(np.argmax(bad))
            raise RunsTableError(f"number of questions must be a positive integer, got "
                                 f"{totals[pos]:g}", column=where, row=table.index[pos])
        out["num_questions"] = totals
    if noise is None:
        noise = "beta" if num_questions is None else "binomial"
    if noise not in NOISE_MODELS:
        raise ValueError(f"noise must be one of {NOISE_MODELS}, got {noise!r}")
    if noise != "beta" and num_questions is None:
        raise ValueError(f"noise={noise!r} needs num_questions= (per row or one number)")
    if noise == "beta":
        edge = (acc <= 0) | (acc >= 1)
        if edge.any():
            pos = int(np.argmax(edge))
            raise RunsTableError(
                f"accuracy {acc[pos]:g} is on the edge of [0, 1], where a Beta likelihood has "
                "no density", column=accuracy, row=table.index[pos],
                fix="give num_questions= for a binomial likelihood, or drop the row")
    return out, noise


# --------------------------------------------------------------------------- results
@dataclass(frozen=True, eq=False)
class DownstreamFit(PosteriorResults):
    """Posterior of the accuracy-vs-loss sigmoid (step two of the two-step model).

    Create with :func:`fit_downstream`. Attributes are read-only.

    Attributes
    ----------
    data : pandas.DataFrame
        ``loss``, ``accuracy`` (and ``num_questions``) as fitted.
    chance : float
        Chance accuracy ``c`` (fixed).
    ceiling : float or None
        Fixed ceiling, or ``None`` when the ceiling is a parameter.
    noise : str
        ``"binomial"``, ``"beta_binomial"`` or ``"beta"``.
    posterior : xarray.DataTree
        ``posterior``, ``sample_stats`` and ``observed_data`` groups.
    seed : int
    level : float
        Default interval mass (equal-tailed).
    sampler : SamplerConfig
    priors : mapping
        The prior overrides the fit used (``{site: numpyro distribution}``; empty:
        the defaults). Saved and loaded with the fit.
    """

    data: pd.DataFrame
    chance: float
    ceiling: float | None
    noise: str
    posterior: xr.DataTree
    seed: int = 0
    level: float = DEFAULT_LEVEL
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    priors: Mapping[str, Any] = field(default_factory=dict)

    @property
    def param_names(self) -> tuple[str, ...]:
        """Sampled parameters: ``k``, ``L_mid``, ``ceiling`` (if free), ``sigma`` (if any)."""
        names = ("k", "L_mid") + (("ceiling",) if self.ceiling is None else ())
        return names + (("sigma",) if self.noise != "binomial" else ())

    def draws(self, name: str) -> np.ndarray:
        """Posterior draws of ``name`` flattened over chains (a fixed ceiling repeats)."""
        if name == "ceiling" and self.ceiling is not None:
            return np.full(self.num_draws, float(self.ceiling))
        return super().draws(name)

    def param_draws(self) -> dict[str, np.ndarray]:
        """``k``, ``L_mid``, ``ceiling`` (and ``sigma``), each of shape ``(num_draws,)``."""
        names = PARAMS + (("sigma",) if self.noise != "binomial" else ())
        return {name: self.draws(name) for name in names}

    def summary(self, level: float | None = None) -> pd.DataFrame:
        """One row per parameter: mean, sd, median, interval, r_hat, ess_bulk, ess_tail."""
        return self.summary_table(self.param_names, level)

    def accuracy_draws(self, loss: Any, params: Mapping[str, np.ndarray] | None = None
                       ) -> np.ndarray:
        """Draws of the accuracy curve at ``loss``: shape ``(num_draws, num_points)``.

        ``params`` (e.g. a subset or reordering of :meth:`param_draws`) replaces the
        posterior draws; each entry has shape ``(S,)`` or ``(S, num_points)``.
        """
        loss = np.atleast_1d(np.asarray(loss, dtype=np.float64))
        params = self.param_draws() if params is None else params
        p = {k: np.asarray(params[k], dtype=np.float64) for k in PARAMS}
        p = {k: v[:, None] if v.ndim == 1 else v for k, v in p.items()}
        with jax.enable_x64(True):
            return np.asarray(sigmoid_accuracy(jnp.asarray(loss), p["k"], p["L_mid"],
                                               p["ceiling"], self.chance))

    def _default_questions(self, num_questions: Any) -> Any:
        if num_questions is not None:
            return num_questions
        if "num_questions" not in self.data:
            return None
        totals = self.data["num_questions"].to_numpy()
        if np.all(totals == totals[0]):
            return float(totals[0])
        raise ValueError("the fitted rows have different numbers of questions: pass "
                         "num_questions= for the predictive band")

    def observe_draws(self, mean: np.ndarray, key: jax.Array, *, sigma: np.ndarray | None = None,
                      num_questions: Any = None) -> np.ndarray:
        """Simulated observed accuracies around curve draws ``mean`` (shape ``(S, M)``).

        ``sigma`` (shape ``(S,)``) defaults to the posterior draws; binomial noise
        uses ``num_questions`` (default: the fitted benchmark's question count).
        """
        totals = self._default_questions(num_questions)
        if sigma is None and self.noise != "binomial":
            sigma = self.draws("sigma")
        with jax.enable_x64(True):
            m = jnp.asarray(mean)
            if self.noise == "beta":
                phi = (0.25 / jnp.asarray(sigma) ** 2)[:, None]
                return np.asarray(jax.random.beta(key, m * phi, (1.0 - m) * phi))
            probs = m
            if self.noise == "beta_binomial":
                phi = (0.25 / jnp.asarray(sigma) ** 2)[:, None]
                key, sub = jax.random.split(key)
                probs = jax.random.beta(sub, m * phi, (1.0 - m) * phi)
            n = jnp.asarray(totals, dtype=jnp.float64)
            return np.asarray(jax.random.binomial(key, n, probs) / n)

    def predict(self, loss: Any, *, level: float | None = None, seed: int | None = None,
                num_questions: Any = None) -> pd.DataFrame:
        """Accuracy at given losses: curve band and predictive band of a measured accuracy.

        Returns
        -------
        pandas.DataFrame
            ``loss``, ``mean``, ``median``, ``lower``/``upper`` (band of the curve:
            parameter uncertainty), ``pred_lower``/``pred_upper`` (a new model's measured
            accuracy: adds benchmark noise) and ``level``.
        """
        level = self.level if level is None else level
        loss = np.atleast_1d(np.asarray(loss, dtype=np.float64)).ravel()
        curve = self.accuracy_draws(loss)
        key = jax.random.PRNGKey(self.seed + 1 if seed is None else seed)
        observed = self.observe_draws(curve, key, num_questions=num_questions)
        return predictive_table({"loss": loss}, curve, observed, level)

    def to_netcdf(self, path: str | os.PathLike) -> str:
        """Write the fit to ``path``; :func:`bayes_scaling.load` gives it back exactly."""
        index = self.data.index
        plain = isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1
        meta = {"chance": self.chance, "ceiling": self.ceiling, "noise": self.noise,
                "seed": self.seed, "level": self.level, "sampler": sampler_meta(self.sampler),
                "priors": encode_priors(self.priors), "columns": list(self.data.columns),
                "index": None if plain else index.tolist()}
        return write_tree(self.posterior.copy(), path, type(self).__name__, meta)

    @classmethod
    def _from_tree(cls, tree: xr.DataTree, meta: dict[str, Any]) -> DownstreamFit:
        frame = {"accuracy": tree["observed_data"]["accuracy"].values}
        frame.update({c: tree["constant_data"][c].values for c in meta["columns"]
                      if c != "accuracy"})
        data = pd.DataFrame({c: frame[c] for c in meta["columns"]},
                            index=None if meta["index"] is None else meta["index"])
        return cls(data=data, chance=meta["chance"], ceiling=meta["ceiling"],
                   noise=meta["noise"], posterior=tree, seed=meta["seed"], level=meta["level"],
                   sampler=sampler_from_meta(meta["sampler"]),
                   priors=decode_priors(meta.get("priors")))

    def __repr__(self) -> str:
        ceiling = "free" if self.ceiling is None else f"{self.ceiling:g}"
        return (f"DownstreamFit(chance={self.chance:g}, ceiling={ceiling}, noise={self.noise!r}, "
                f"rows={len(self.data)}, draws={self.num_draws})")


def fit_downstream(
    table: pd.DataFrame,
    *,
    chance: float,
    ceiling: float | None = None,
    num_questions: int | str | Any = None,
    noise: str | None = None,
    loss: str = "loss",
    accuracy: str = "accuracy",
    priors: Mapping[str, dist.Distribution] | None = None,
    chains: int = 4,
    draws: int = 1000,
    warmup: int = 1000,
    seed: int = 0,
    level: float = DEFAULT_LEVEL,
    target_accept: float = 0.95,
    chain_method: str | None = None,
    warn: bool = True,
    sampler: SamplerConfig | None = None,
) -> DownstreamFit:
    """Fit benchmark accuracy as a sigmoid of loss with NUTS.

    ``acc = chance + (ceiling - chance) * sigmoid(k (L_mid - loss))``; see the module
    docstring for the noise models and default priors.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per evaluated model (or checkpoint): a loss column and an accuracy
        column (fractions in ``[0, 1]``). Never modified.
    chance : float
        Chance accuracy of the benchmark, in ``[0, 1)``.
    ceiling : float, optional
        Fixed ceiling in ``(chance, 1]``; ``None`` (default) makes it a parameter with
        prior ``chance + (1 - chance) Beta(5, 2)`` (mode at 80% of the way to 1).
    num_questions : int, array or str, optional
        Questions per benchmark evaluation (one number, one per row, or a column
        name). Enables the binomial likelihoods.
    noise : {"binomial", "beta_binomial", "beta"}, optional
        Default: ``"binomial"`` with ``num_questions``, else ``"beta"``.
        ``"beta_binomial"`` adds over-dispersion to the binomial.
    loss, accuracy : str
        Column names of the loss and the accuracy.
    priors : mapping, optional
        NumPyro distributions overriding the defaults of ``k``, ``L_mid``,
        ``ceiling`` (support inside ``(chance, 1)``) or ``sigma``.
    chains, draws, warmup, seed, level, target_accept, chain_method
        As in :func:`bayes_scaling.fit` (``target_accept`` defaults to 0.95 here: when
        the data stop short of the ceiling, ceiling, ``k`` and ``L_mid`` trade off
        along a curved ridge).
    warn : bool
        Emit sampling warnings (divergences, R-hat, ESS).

    sampler : SamplerConfig, optional
        All NUTS settings at once (the same argument on every ``fit_*``); the
        separate sampler keywords then keep their defaults.

    Returns
    -------
    DownstreamFit

    Raises
    ------
    RunsTableError
        Missing column, non-finite value, accuracy outside ``[0, 1]`` (or on its edge
        for a Beta likelihood), bad question counts: the message names column and row.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> loss = np.linspace(1.8, 3.5, 40)                     # 40 evaluated checkpoints
    >>> truth = 0.25 + 0.65 / (1 + np.exp(-3.0 * (2.4 - loss)))
    >>> correct = np.random.default_rng(0).binomial(2376, truth)
    >>> evals = pd.DataFrame({"loss": loss, "arc_easy_acc": correct / 2376})
    >>> acc_fit = fit_downstream(evals, chance=0.25, num_questions=2376,
    ...                          accuracy="arc_easy_acc", chains=2, draws=500, warmup=500)
    >>> acc_fit.predict(loss=[2.0, 1.5])[["loss", "median", "lower", "upper"]].shape
    (2, 4)
    """
    if not 0 <= chance < 1:
        raise ValueError(f"chance must lie in [0, 1), got {chance!r}")
    if ceiling is not None and not chance < ceiling <= 1:
        raise ValueError(f"ceiling must lie in (chance, 1] = ({chance:g}, 1], got {ceiling!r}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    data, noise = _validate(table, loss, accuracy, num_questions, noise)
    priors = dict(priors or {})
    allowed = {"k", "L_mid", "sigma"} | ({"ceiling"} if ceiling is None else set())
    for name, prior in priors.items():
        if name not in allowed:
            raise ValueError(f"prior given for unknown parameter {name!r}; this model has "
                             f"{sorted(allowed)}")
        if not isinstance(prior, dist.Distribution):
            raise TypeError(f"prior for {name!r} must be a numpyro distribution, "
                            f"got {type(prior).__name__}")
    config = resolve_sampler(sampler, fit_downstream, chains=chains, draws=draws, warmup=warmup,
                             target_accept=target_accept, chain_method=chain_method)
    loss_values = data["loss"].to_numpy()
    totals = data["num_questions"].to_numpy() if "num_questions" in data else \
        np.ones(len(data))
    with jax.enable_x64(True):
        design = {"chance": jnp.asarray(float(chance)),
                  "ceiling": jnp.asarray(np.nan if ceiling is None else float(ceiling)),
                  "loss_centre": jnp.asarray(float(np.median(loss_values))),
                  "loss_range": jnp.asarray(float(np.ptp(loss_values)))}
        kwargs = {"loss": jnp.asarray(loss_values), "accuracy": jnp.asarray(data["accuracy"]),
                  "counts": jnp.asarray(np.round(data["accuracy"].to_numpy() * totals)),
                  "totals": jnp.asarray(totals), "design": design, "priors": priors}
        model = build_downstream_model(noise, ceiling is None)
        result = run_nuts(model, kwargs, config, jax.random.PRNGKey(seed))
    config = fitted_config(config, result.stats)
    tree = azb.from_dict({
        "posterior": dict(result.samples),
        "sample_stats": arviz_sample_stats(result.stats),
        "observed_data": {"accuracy": data["accuracy"].to_numpy()},
        "constant_data": {name: data[name].to_numpy() for name in data.columns
                          if name != "accuracy"},
    }, dims={"accuracy": ["row"], "loss": ["row"], "num_questions": ["row"]})
    fitted = DownstreamFit(data=data, chance=float(chance),
                           ceiling=None if ceiling is None else float(ceiling), noise=noise,
                           posterior=tree, seed=seed, level=level, sampler=config,
                           priors=priors)
    if warn:
        diagnostics.check_sampling(tree, list(fitted.param_names),
                                   max_tree_depth=config.max_tree_depth)
    return fitted


