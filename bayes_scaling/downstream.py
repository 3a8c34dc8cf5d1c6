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

import functools
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist

from . import diagnostics
from ._lazy import lazy_import
from .data import RunsTableError
from .fit import DEFAULT_LEVEL, ScalingFit, _complete_sizes, _quantile_columns
from .inference import SamplerConfig, arviz_sample_stats, run_nuts

azb = lazy_import("arviz_base")
azs = lazy_import("arviz_stats")
pd = lazy_import("pandas")
xr = lazy_import("xarray")

__all__ = ["DownstreamFit", "fit_downstream", "predict_downstream", "sigmoid_accuracy",
           "NOISE_MODELS", "SigmoidExtrapolationWarning"]

NOISE_MODELS = ("binomial", "beta_binomial", "beta")


class SigmoidExtrapolationWarning(UserWarning):
    """The predicted loss lies outside the losses the sigmoid was fitted to: step two is
    extrapolated, and its band assumes the sigmoid's form holds there."""
_PARAMS = ("k", "L_mid", "ceiling")


def sigmoid_accuracy(loss: Any, k: Any, L_mid: Any, ceiling: Any, chance: Any) -> Any:  # noqa: N803
    """``chance + (ceiling - chance) * sigmoid(k (L_mid - loss))`` (broadcasting, JAX)."""
    return chance + (ceiling - chance) * jax.nn.sigmoid(k * (L_mid - loss))


def _default_priors(design: Mapping[str, Any], free_ceiling: bool) -> dict[str, dist.Distribution]:
    """Weakly informative priors scaled by the observed losses.

    ``L_mid ~ Normal(median loss, loss range)``; ``k ~ LogNormal(log(4.4 / range), 1)``
    (the 10%-90% rise of a sigmoid spans ``2 ln 9 / k = 4.4 / k`` in loss, so the
    median prior rise spans the observed range); ``ceiling ~ c + (1 - c) Beta(5, 2)``;
    ``sigma ~ HalfNormal(0.05)``.
    """
    priors = {
        "k": dist.LogNormal(jnp.log(4.4 / design["loss_range"]), 1.0),
        "L_mid": dist.Normal(design["loss_centre"], design["loss_range"]),
        "sigma": dist.HalfNormal(0.05),
    }
    if free_ceiling:
        chance = design["chance"]
        priors["ceiling"] = dist.TransformedDistribution(
            dist.Beta(5.0, 2.0), dist.transforms.AffineTransform(chance, 1.0 - chance))
    return priors


@functools.cache
def _build_model(noise: str, free_ceiling: bool) -> Callable[..., None]:
    """The NumPyro model (one function object per option pair: compiled samplers are reused)."""

    def model(loss, accuracy, counts, totals, design, priors) -> None:
        defaults = _default_priors(design, free_ceiling)
        k = numpyro.sample("k", priors.get("k", defaults["k"]))
        mid = numpyro.sample("L_mid", priors.get("L_mid", defaults["L_mid"]))
        if free_ceiling:
            ceiling = numpyro.sample("ceiling", priors.get("ceiling", defaults["ceiling"]))
        else:
            ceiling = design["ceiling"]
        mean = sigmoid_accuracy(loss, k, mid, ceiling, design["chance"])
        if noise == "binomial":
            numpyro.sample("accuracy", dist.Binomial(totals, probs=mean), obs=counts)
            return
        sigma = numpyro.sample("sigma", priors.get("sigma", defaults["sigma"]))
        phi = 0.25 / sigma**2
        if noise == "beta":
            numpyro.sample("accuracy", dist.Beta(mean * phi, (1.0 - mean) * phi), obs=accuracy)
        else:
            numpyro.sample("accuracy", dist.BetaBinomial(mean * phi, (1.0 - mean) * phi, totals),
                           obs=counts)

    model.__name__ = f"downstream_{noise}_{'free' if free_ceiling else 'fixed'}_ceiling_model"
    return model


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
class DownstreamFit:
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
    """

    data: pd.DataFrame
    chance: float
    ceiling: float | None
    noise: str
    posterior: xr.DataTree
    seed: int = 0
    level: float = DEFAULT_LEVEL
    sampler: SamplerConfig = field(default_factory=SamplerConfig)

    @property
    def num_draws(self) -> int:
        ds = self.posterior["posterior"]
        return int(ds.sizes["chain"] * ds.sizes["draw"])

    @property
    def param_names(self) -> tuple[str, ...]:
        """Sampled parameters: ``k``, ``L_mid``, ``ceiling`` (if free), ``sigma`` (if any)."""
        names = ("k", "L_mid") + (("ceiling",) if self.ceiling is None else ())
        return names + (("sigma",) if self.noise != "binomial" else ())

    def draws(self, name: str) -> np.ndarray:
        """Posterior draws of ``name`` flattened over chains (a fixed ceiling repeats)."""
        if name == "ceiling" and self.ceiling is not None:
            return np.full(self.num_draws, float(self.ceiling))
        values = self.posterior["posterior"][name].values
        return values.reshape((-1,) + values.shape[2:])

    def param_draws(self) -> dict[str, np.ndarray]:
        """``k``, ``L_mid``, ``ceiling`` (and ``sigma``), each of shape ``(num_draws,)``."""
        names = _PARAMS + (("sigma",) if self.noise != "binomial" else ())
        return {name: self.draws(name) for name in names}

    def summary(self, level: float | None = None) -> pd.DataFrame:
        """One row per parameter: mean, sd, median, interval, r_hat, ess_bulk, ess_tail."""
        level = self.level if level is None else level
        names = list(self.param_names)
        table = azs.summary(self.posterior, var_names=names, ci_prob=level, ci_kind="eti",
                            round_to="none")
        table = table.rename(columns={table.columns[2]: "lower", table.columns[3]: "upper"})
        table.insert(2, "median", [float(np.median(self.draws(n))) for n in table.index])
        table.attrs["level"] = level
        return table

    def accuracy_draws(self, loss: Any, params: Mapping[str, np.ndarray] | None = None
                       ) -> np.ndarray:
        """Draws of the accuracy curve at ``loss``: shape ``(num_draws, num_points)``.

        ``params`` (e.g. a subset or reordering of :meth:`param_draws`) replaces the
        posterior draws; each entry has shape ``(S,)`` or ``(S, num_points)``.
        """
        loss = np.atleast_1d(np.asarray(loss, dtype=np.float64))
        params = self.param_draws() if params is None else params
        p = {k: np.asarray(params[k], dtype=np.float64) for k in _PARAMS}
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
        out = pd.DataFrame({"loss": loss, "mean": curve.mean(axis=0)})
        band = _quantile_columns("a", curve, level)
        out["median"], out["lower"], out["upper"] = band["a"], band["a_lower"], band["a_upper"]
        tail = (1.0 - level) / 2.0
        out["pred_lower"], out["pred_upper"] = np.quantile(observed, [tail, 1 - tail], axis=0)
        out["level"] = level
        return out

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
    >>> acc_fit = fit_downstream(evals, chance=0.25, num_questions=2376,   # doctest: +SKIP
    ...                          accuracy="arc_easy_acc")
    >>> acc_fit.predict(loss=[2.0, 1.5])                                   # doctest: +SKIP
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
    config = SamplerConfig(chains=chains, draws=draws, warmup=warmup,
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
        model = _build_model(noise, ceiling is None)
        result = run_nuts(model, kwargs, config, jax.random.PRNGKey(seed))
    tree = azb.from_dict({
        "posterior": dict(result.samples),
        "sample_stats": arviz_sample_stats(result.stats),
        "observed_data": {"accuracy": data["accuracy"].to_numpy()},
        "constant_data": {name: data[name].to_numpy() for name in data.columns
                          if name != "accuracy"},
    }, dims={"accuracy": ["row"], "loss": ["row"], "num_questions": ["row"]})
    fitted = DownstreamFit(data=data, chance=float(chance),
                           ceiling=None if ceiling is None else float(ceiling), noise=noise,
                           posterior=tree, seed=seed, level=level, sampler=config)
    if warn:
        diagnostics.check_sampling(tree, list(fitted.param_names),
                                   max_tree_depth=config.max_tree_depth)
    return fitted


# --------------------------------------------------------------------------- chaining
def _loss_noise_draws(loss_fit: ScalingFit, shape: tuple[int, int], key: jax.Array
                      ) -> np.ndarray:
    """Log-scale noise of one new run's observed loss (adds the run spread for learning
    curve fits, whose ``_noise_draws`` include it)."""
    return loss_fit._noise_draws(shape, key)


def predict_downstream(
    loss_fit: ScalingFit,
    downstream_fit: DownstreamFit,
    C: Any = None,  # noqa: N803 - the field's notation
    *,
    N: Any = None,  # noqa: N803
    D: Any = None,  # noqa: N803
    level: float | None = None,
    seed: int = 0,
    num_draws: int | None = None,
    group: str | None = None,
    num_questions: Any = None,
) -> pd.DataFrame:
    """Accuracy at a compute budget (or at N, D), chaining loss law and sigmoid per draw.

    Step one gives loss draws, ``loss_fit.allocation_draws(C)["loss_opt"]`` at the
    compute-optimal allocation of each budget ``C``, or ``loss_fit.predict_draws(N=,
    D=)``. Step two's sigmoid draws are paired with them at random (without
    replacement, ``numpy.random.default_rng(seed)``; ``num_draws`` pairs, by default
    as many as the smaller posterior has), so each accuracy draw carries one draw of
    each step and the band carries both steps' uncertainty. Both fits must use the
    same loss (e.g. the same evaluation set).

    Parameters
    ----------
    loss_fit : ScalingFit
        Step one (:func:`bayes_scaling.fit` or
        :func:`bayes_scaling.learning_curves.fit_learning_curves`).
    downstream_fit : DownstreamFit
        Step two (:func:`fit_downstream`).
    C : array-like, optional
        Compute budgets (FLOPs); the loss is taken at the compute-optimal allocation.
    N, D : array-like, optional
        Instead of ``C``: model size and tokens (arrays broadcast).
    level : float, optional
        Interval mass (default: the downstream fit's).
    seed : int
        Seed of the pairing and of the predictive noise.
    num_draws : int, optional
        Number of paired draws.
    group : str, optional
        Group of a loss fit with groups.
    num_questions : int, optional
        Benchmark size for the predictive band of a binomial noise model.

    Returns
    -------
    pandas.DataFrame
        One row per point: ``C`` (and ``N_opt``, ``D_opt`` medians) or ``N``, ``D``,
        ``C``; the loss median and band (``loss``, ``loss_lower``, ``loss_upper``);
        the accuracy median and band from both steps (``accuracy``,
        ``accuracy_lower``, ``accuracy_upper``); the band with the loss fixed at its
        median (step two alone: ``fixed_loss_lower``/``_upper``) and with the sigmoid
        fixed at its posterior-median parameters (step one alone:
        ``fixed_sigmoid_lower``/``_upper``); the predictive band of one new model's
        measured accuracy (``pred_lower``/``pred_upper``: adds the loss noise of a
        new run and the benchmark noise); ``level``.

    Examples
    --------
    >>> predict_downstream(loss_fit, acc_fit, C=[1e22, 1e24])           # doctest: +SKIP
    """
    level = downstream_fit.level if level is None else level
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    if C is not None and (N is not None or D is not None):
        raise ValueError("give C (loss at the compute-optimal allocation) or N and D, not both")
    if C is not None:
        alloc = loss_fit.allocation_draws(C, group=group)
        loss_draws = alloc["loss_opt"]
        head = {"C": np.atleast_1d(np.asarray(C, dtype=np.float64)).ravel(),
                "N_opt": np.median(alloc["N_opt"], axis=0),
                "D_opt": np.median(alloc["D_opt"], axis=0)}
    else:
        if N is None or D is None:
            raise ValueError("give C, or both N and D")
        n, d, c = _complete_sizes(N, D, None, loss_fit.runs.flops_factor)
        loss_draws = loss_fit.predict_draws(N=n, D=d, group=group)
        head = {"N": np.ravel(n), "D": np.ravel(d), "C": np.ravel(c)}
    num_loss, num_acc = loss_draws.shape[0], downstream_fit.num_draws
    size = min(num_loss, num_acc) if num_draws is None else int(num_draws)
    if not 1 <= size <= min(num_loss, num_acc):
        raise ValueError(f"num_draws must be between 1 and {min(num_loss, num_acc)} (the "
                         f"smaller posterior), got {num_draws!r}")
    rng = np.random.default_rng(seed)
    pick_loss = rng.permutation(num_loss)[:size]
    pick_acc = rng.permutation(num_acc)[:size]
    loss = loss_draws[pick_loss]
    params = {k: v[pick_acc] for k, v in downstream_fit.param_draws().items()}
    acc = downstream_fit.accuracy_draws(loss, params)  # params broadcast over points
    loss_median = np.median(loss, axis=0)
    fitted = downstream_fit.data["loss"]
    outside = (loss_median < fitted.min()) | (loss_median > fitted.max())
    if outside.any():
        warnings.warn(
            f"predicted loss {loss_median[outside][0]:.3g} lies outside the losses the sigmoid "
            f"was fitted to ({fitted.min():.3g} to {fitted.max():.3g}): the accuracy band "
            "extrapolates step two and assumes the sigmoid's form (and ceiling) holds there",
            SigmoidExtrapolationWarning, stacklevel=2)
    fixed_loss = downstream_fit.accuracy_draws(loss_median, params)
    medians = {k: np.full(size, np.median(v)) for k, v in downstream_fit.param_draws().items()}
    fixed_sigmoid = downstream_fit.accuracy_draws(loss, medians)

    key_loss, key_acc = jax.random.split(jax.random.PRNGKey(seed))
    log_noise = _loss_noise_draws(loss_fit, loss_draws.shape, key_loss)[pick_loss]
    observed = downstream_fit.observe_draws(
        downstream_fit.accuracy_draws(loss * np.exp(log_noise), params), key_acc,
        sigma=params.get("sigma"), num_questions=num_questions)

    out = pd.DataFrame(head)
    tail = (1.0 - level) / 2.0
    q = [tail, 0.5, 1.0 - tail]
    out["loss_lower"], out["loss"], out["loss_upper"] = np.quantile(loss, q, axis=0)
    out["accuracy_lower"], out["accuracy"], out["accuracy_upper"] = np.quantile(acc, q, axis=0)
    out["fixed_loss_lower"], _, out["fixed_loss_upper"] = np.quantile(fixed_loss, q, axis=0)
    out["fixed_sigmoid_lower"], _, out["fixed_sigmoid_upper"] = np.quantile(fixed_sigmoid, q,
                                                                            axis=0)
    out["pred_lower"], out["pred_upper"] = np.quantile(observed, [tail, 1.0 - tail], axis=0)
    out["level"] = level
    out.attrs["num_draws"] = size
    return out
