"""``fit()`` and the :class:`ScalingFit` results object.

The results object is immutable: methods return new tables, never modify the
fit. The posterior is an ArviZ ``xarray.DataTree`` (groups ``posterior``, ``sample_stats``,
``log_likelihood``, ``observed_data``, ``constant_data``); everything needed to rebuild
the fit is in the root's attributes, so ``to_netcdf`` / :func:`load` round-trip.

Intervals are equal-tailed (quantiles), 90% by default: the field reports
90% bands, and equal-tailed intervals transform correctly under the log/exp
maps between loss and log-loss (HDIs do not).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
from numpyro.infer import Predictive

from .._lazy import lazy_import
from ..data.accounting import for_fit
from ..data.runs import RunsTable, load_runs
from ..inference import diagnostics
from ..inference.assembly import posterior_tree, with_log_likelihood
from ..inference.buckets import pad_model_kwargs
from ..inference.intervals import DEFAULT_LEVEL, quantile_columns
from ..inference.nuts import SamplerConfig, resolve_sampler, run_nuts
from ..inference.pointwise import pointwise_log_likelihood
from ..inference.precision import fitted_config
from ..laws import Design, Law, get_law
from ..laws.allocation import log_optimal_allocation
from ..laws.inputs import law_inputs
from ..models.allocation_discrepancy import with_allocation_discrepancy
from ..models.discrepancy import with_discrepancy
from ..models.groups import GroupStructure, resolve_groups
from ..models.likelihood import noise_priors
from ..models.scaling import build_model
from ..models.setup import check_options, check_priors, prepare
from ..priors.conflict import check_prior_data_conflict
from .base import PosteriorResults, predictive_table
from .extensions import implementation
from .log_likelihood import OnDemandLogLikelihood
from .persistence import META_KEY, read_tree, write_tree
from .scaling_io import scaling_fields, scaling_meta

azb = lazy_import("arviz_base")
pd = lazy_import("pandas")
xr = lazy_import("xarray")

__all__ = ["fit", "ScalingFit", "load", "DEFAULT_LEVEL"]


@dataclass(frozen=True, eq=False)
class ScalingFit(OnDemandLogLikelihood, PosteriorResults):
    """Posterior of a scaling law fitted to a runs table.

    Create with :func:`fit` (or :func:`load`). Attributes are read-only.

    Attributes
    ----------
    law : Law
    likelihood : str
    runs : RunsTable
        The validated runs the law was fitted to.
    design : Design
        Centres of the parameterisation and prior scales.
    posterior : xarray.DataTree
        ArviZ-convention results (posterior, sample_stats, observed_data,
        constant_data; ``log_likelihood`` only when fitted with
        ``log_likelihood=True``: see ``log_likelihood_tree()``).
    seed : int
    level : float
        Default interval mass of summaries and predictions.
    groups : GroupStructure or None
        Which parameters are shared, per group or pooled (``None``: no groups).
        Per-group methods take ``group=`` (a label of :attr:`group_labels`).
    priors : mapping
        The prior overrides the fit used (``{site: numpyro distribution}``,
        catalogue names resolved; empty: the law's defaults). Saved and loaded
        with the fit.
    """

    law: Law
    likelihood: str
    runs: RunsTable
    design: Design
    posterior: xr.DataTree
    seed: int = 0
    level: float = DEFAULT_LEVEL
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    groups: GroupStructure | None = None
    priors: Mapping[str, Any] = field(default_factory=dict)
    # Values computed on demand (the pointwise log-likelihood); not part of the fit's identity.
    _cache: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    # ------------------------------------------------------------------ draws
    def param_draws(self, group: str | None = None) -> dict[str, np.ndarray]:
        """User-facing law parameters plus noise parameters, flattened over chains.

        For a fit with groups, per-group parameters have shape
        ``(num_draws, num_groups)`` (columns in :attr:`group_labels` order);
        ``group=label`` gives that group's parameters, each ``(num_draws,)``.
        """
        names = list(self.law.param_names) + list(noise_priors(self.likelihood))
        out = {name: self.draws(name) for name in names}
        if group is None:
            return out
        g = self._group_position(group)
        return {k: v[:, g] if v.ndim == 2 else v for k, v in out.items()}

    # ----------------------------------------------------------------- groups
    @property
    def group_labels(self) -> tuple[str, ...]:
        """Labels of the groups (``()`` for a fit without groups)."""
        return self.runs.group_labels if self.groups is not None else ()

    def _group_position(self, group: str | None) -> int:
        if self.groups is None:
            raise ValueError(f"group={group!r} given but this fit has no groups")
        labels = self.group_labels
        if group is None:
            raise ValueError(f"this fit has groups {list(labels)}: pass group= to choose one")
        if str(group) not in labels:
            raise ValueError(f"unknown group {group!r}; this fit has groups {list(labels)}")
        return labels.index(str(group))

    def _params_for(self, group: str | None) -> dict[str, np.ndarray]:
        """One set of scalar-per-draw parameters: the fit's, or group ``group``'s."""
        if self.groups is None and group is None:
            return self.param_draws()
        return self.param_draws(group=group if group is not None else self._group_position(None))

    def compare(self, a: str, b: str, C: Any = None, *, level: float | None = None,  # noqa: N803
                N: Any = None, D: Any = None) -> pd.DataFrame:  # noqa: N803
        """Loss difference of groups ``b`` vs ``a``: see :func:`bayes_scaling.compare.compare`."""
        return implementation("compare")(self, a, b, C=C, level=level, N=N, D=D)

    def crossover(self, a: str, b: str, C_range: tuple[float, float] = (1e18, 1e27), *,  # noqa: N803
                  level: float | None = None) -> Any:
        """Where the groups' curves cross: see :func:`bayes_scaling.compare.crossover`."""
        return implementation("crossover")(self, a, b, C_range=C_range, level=level)

    def group_effects(self, level: float | None = None, *, reference: str | None = None
                      ) -> pd.DataFrame:
        """Offsets/exponents relative to a reference group: see :mod:`bayes_scaling.compare`."""
        return implementation("group_effects")(self, level=level, reference=reference)

    # ---------------------------------------------------------------- summary
    def summary(self, level: float | None = None) -> pd.DataFrame:
        """One row per parameter: mean, sd, median, interval, r_hat, ess_bulk, ess_tail
        (``arviz_stats``; equal-tailed intervals at ``level``; the PosteriorResults schema)."""
        names = list(self.law.param_names) + list(noise_priors(self.likelihood))
        if self.groups is not None:  # population location and spread of pooled parameters
            names += list(self.groups.hyper_names(self.law))
        return self.summary_table(names, level)

    # -------------------------------------------------------------- predicting
    def _log_mean_draws(self, log_inputs: Mapping[str, np.ndarray],
                        group: str | None = None) -> np.ndarray:
        with jax.enable_x64(True):  # converting outside the context would give float32
            params = {k: jnp.asarray(v)[:, None] for k, v in self._params_for(group).items()}
            inputs = {k: jnp.asarray(v)[None, :] for k, v in log_inputs.items()}
            return np.asarray(self.law.log_mean(params, inputs))

    def noise_draws(self, shape: tuple[int, int], key: jax.Array) -> np.ndarray:
        """Observation noise of log-loss, one row per posterior draw: the one noise sampler
        (predictions, plots, stacking and extrapolation draw from it)."""
        sigma = self.draws("sigma")[:, None]
        with jax.enable_x64(True):
            if self.likelihood == "student_t":
                eps = jax.random.t(key, jnp.asarray(self.draws("nu"))[:, None], shape)
            else:
                eps = jax.random.normal(key, shape)
            return np.asarray(eps) * sigma

    def predict(
        self,
        N: Any = None,  # noqa: N803 - the field's notation
        D: Any = None,  # noqa: N803
        C: Any = None,  # noqa: N803
        *,
        level: float | None = None,
        seed: int | None = None,
        group: str | None = None,
        U: Any = None,  # noqa: N803
        extrapolation: Any = "auto",
    ) -> pd.DataFrame:
        """Posterior predictive loss at new (N, D) or C, far outside the data if need be.

        Give the law's inputs (two of N, D, C for a joint law: the third follows
        from ``C = k N D``); arrays broadcast. A fit with groups needs ``group=``.
        Laws with unique tokens as an input (``"data_constrained"``) also need
        ``U=`` (``inf`` for unlimited unique data).

        Returns
        -------
        pandas.DataFrame
            One row per input point: ``N``, ``D``, ``C`` (where known), ``mean``
            and ``median`` of the loss curve, ``lower``/``upper`` (credible band
            of the curve: parameter uncertainty), ``pred_lower``/``pred_upper``
            (predictive band of a new run's observed loss: adds the observation
            noise), ``level``, ``band`` (which predictive band) and ``decades_beyond``.

        Other Parameters
        ----------------
        extrapolation : {"auto", "field", "none"} or Discrepancy, default "auto"
            Beyond the largest fitted run the predictive band adds a
            :class:`~bayes_scaling.Discrepancy` (zero inside the data). ``"auto"``:
            :meth:`discrepancy`, the field prior updated by this sweep's own
            leave-future-out folds where it has the runs (computed on the first
            prediction beyond the data); ``"field"``: the field prior alone;
            ``"none"``: the plain band; a ``Discrepancy`` uses its draws.

        Examples
        --------
        >>> fit.predict(N=7e10, D=1.4e12)[["median", "lower", "upper"]].shape  # 70B, 1.4T tokens
        (1, 3)
        """
        level = self.level if level is None else level
        flat = law_inputs(self.law, N, D, C, self.runs.flops_factor, U)
        log_mean = self._log_mean_draws({k: np.log(flat[k]) for k in self.law.inputs}, group)
        key = jax.random.PRNGKey(self.seed + 1 if seed is None else seed)
        log_obs = log_mean + self.noise_draws(log_mean.shape, key)
        log_obs, band_label, beyond = with_discrepancy(
            self, flat, log_obs, extrapolation, self.seed + 5 if seed is None else seed + 5)
        out = predictive_table(flat, np.exp(log_mean), log_obs, level, log_observed=True)
        out["band"], out["decades_beyond"] = band_label, beyond
        return out

    def discrepancy(self) -> Any:
        """The extrapolation discrepancy :meth:`predict` adds by default (kept on the fit).

        The field prior updated by the sweep's own folds
        (:func:`~bayes_scaling.calibrate_discrepancy`'s defaults), or the field prior
        alone with ``.note`` saying why. Computed on the first call.
        """
        return implementation("default_discrepancy")(self)

    def predict_draws(self, N: Any = None, D: Any = None, C: Any = None,  # noqa: N803
                      *, group: str | None = None, U: Any = None) -> np.ndarray:  # noqa: N803
        """Draws of the loss curve, shape ``(num_draws, num_points)`` (no observation noise)."""
        flat = law_inputs(self.law, N, D, C, self.runs.flops_factor, U)
        return np.exp(self._log_mean_draws({k: np.log(flat[k]) for k in self.law.inputs}, group))

    # -------------------------------------------------------------- allocation
    def allocation_draws(self, C: Any, *, group: str | None = None,  # noqa: N803
                         extrapolation: Any = "none", seed: int | None = None
                         ) -> dict[str, np.ndarray]:
        """Per-draw compute-optimal ``N_opt``, ``D_opt``, ``tokens_per_param``, ``loss_opt``.

        Each array has shape ``(num_draws, num_budgets)``. A fit with groups
        needs ``group=``. ``extrapolation`` (default ``"none"``: the law's own
        optimum) as in :meth:`optimal_allocation`.
        """
        compute = np.atleast_1d(np.asarray(C, dtype=np.float64)).ravel()
        if not np.all(np.isfinite(compute)) or np.any(compute <= 0):
            raise ValueError("compute budgets C must be positive and finite")
        with jax.enable_x64(True):
            params = {k: jnp.asarray(v) for k, v in self._params_for(group).items()}
            log_n, log_d, at_edge = log_optimal_allocation(
                self.law, params, jnp.log(compute), float(np.log(self.runs.flops_factor))
            )
            pe = {k: v[:, None] for k, v in params.items()}
            log_loss = self.law.log_mean(pe, {"N": log_n, "D": log_d})
        edge_share = float(np.mean(np.asarray(at_edge)))
        if edge_share > 0:
            diagnostics.warn_allocation_edge(edge_share)
        out = {"N_opt": np.exp(np.asarray(log_n)), "D_opt": np.exp(np.asarray(log_d)),
               "tokens_per_param": np.exp(np.asarray(log_d - log_n)),
               "loss_opt": np.exp(np.asarray(log_loss))}
        if isinstance(extrapolation, str) and extrapolation == "none":
            return out
        return with_allocation_discrepancy(self, compute, out, extrapolation,
                                           self.seed + 9 if seed is None else seed)[0]

    def optimal_allocation(self, C: Any, *, level: float | None = None,  # noqa: N803
                           group: str | None = None, extrapolation: Any = "field",
                           seed: int | None = None) -> pd.DataFrame:
        """Posterior of the compute-optimal allocation at each budget ``C`` (FLOPs).

        Returns
        -------
        pandas.DataFrame
            One row per budget: ``C``; for each of ``N_opt``, ``D_opt``,
            ``tokens_per_param`` and ``loss_opt`` the posterior median and
            ``_lower``/``_upper`` equal-tailed bounds at ``level``; ``level``,
            ``band`` (which interval) and ``decades_beyond`` (of compute, beyond
            the largest fitted run). Chinchilla-form laws use the closed form per
            draw; others a numerical minimisation along ``C = k N D``.

        Other Parameters
        ----------------
        extrapolation : {"field", "field prior", "field + own", "none"} or AllocationDiscrepancy
            ``"field"`` (default): beyond the largest fitted run, ``ln N_opt`` gets the
            allocation discrepancy of :mod:`bayes_scaling.models.allocation_discrepancy`
            (the law's optimum vs measured iso-FLOP minima, learnt from the field's
            sweeps); ``D_opt`` and ``tokens_per_param`` follow through ``C = k N D``,
            ``loss_opt`` is the law's. ``"none"``: the plain posterior interval.
        seed : int, optional
            Seed of the discrepancy draws (default: from the fit's seed).
        """
        level = self.level if level is None else level
        compute = np.atleast_1d(np.asarray(C, dtype=np.float64)).ravel()
        draws = self.allocation_draws(compute, group=group)
        draws, label, beyond = with_allocation_discrepancy(
            self, compute, draws, extrapolation, self.seed + 9 if seed is None else seed)
        out = {"C": compute}
        for name, values in draws.items():
            out.update(quantile_columns(name, values, level))
        table = pd.DataFrame(out)
        table["level"], table["band"], table["decades_beyond"] = level, label, beyond
        return table

    # ------------------------------------------------------------- run design
    def suggest_runs(self, budget: float, target: Mapping[str, Any], candidates: Any = None,
                     n: int | None = None, **kwargs: Any) -> Any:
        """Runs that most shrink the target's interval: see :func:`bayes_scaling.run_design.suggest_runs`."""
        return implementation("suggest_runs")(self, budget, target, candidates, n, **kwargs)

    # ------------------------------------------------------------ persistence
    def _meta(self) -> dict[str, Any]:
        """Settings that rebuild the fit (subclasses add their extra terms)."""
        return scaling_meta(self)

    @classmethod
    def _from_tree(cls, tree: xr.DataTree, meta: dict[str, Any]) -> ScalingFit:
        return cls(**scaling_fields(tree, meta))

    def to_netcdf(self, path: str | os.PathLike) -> str:
        """Write the fit (posterior and everything needed to rebuild it) to ``path``;
        :func:`bayes_scaling.load` gives back the same type."""
        return write_tree(self.posterior.copy(), path, type(self).__name__, self._meta())

    def plot(self, kind: str = "loss", **kwargs: Any) -> Any:
        """Draw a figure of this fit; see :func:`bayes_scaling.plotting.plot` for the kinds."""
        return implementation("plot")(self, kind, **kwargs)

    def __repr__(self) -> str:
        return (f"ScalingFit(law={self.law!r}, likelihood={self.likelihood!r}, "
                f"runs={self.runs.num_runs}, draws={self.num_draws})")


def load(path: str | os.PathLike) -> ScalingFit:
    """Load a fit written by :meth:`ScalingFit.to_netcdf` (the ScalingFit part of a
    subclass's file); :func:`bayes_scaling.load` rebuilds any results type."""
    tree = read_tree(path)
    meta_text = tree.attrs.get(META_KEY)
    if meta_text is None:
        raise ValueError(f"{path!s} was not written by bayes_scaling (no metadata)")
    return ScalingFit._from_tree(tree, json.loads(meta_text))


def fit(
    data: pd.DataFrame | str | os.PathLike | RunsTable,
    law: str | Law = "chinchilla",
    *,
    likelihood: str = "normal",
    priors: Mapping[str, dist.Distribution] | str | tuple | None = None,
    chains: int = 4,
    draws: int = 1000,
    warmup: int = 1000,
    seed: int = 0,
    level: float = DEFAULT_LEVEL,
    flops_factor: float = 6.0,
    columns: Mapping[str, str] | None = None,
    accounting: Any = None,
    dense_mass: bool = True,
    target_accept: float = 0.9,
    max_tree_depth: int = 10,
    chain_method: str | None = None,
    progress: bool | None = None,
    warn: bool = True,
    groups: Any = None,
    posterior_predictive: bool = False,
    sampler: SamplerConfig | None = None,
    log_likelihood: bool = False,
    bucket: int | None = None,
) -> ScalingFit:
    """Fit a scaling law to a table of training runs with NUTS.

    Parameters
    ----------
    data : DataFrame, path or RunsTable
        Runs with columns ``N``, ``D``, ``C`` (any two), ``loss`` (aliases accepted,
        see :func:`bayes_scaling.data.load_runs`). Never modified.
    law : str or Law, default "chinchilla"
        ``"chinchilla"``, ``"kaplan"``, ``"power_law_N"``/``_D``/``_C`` or a
        :class:`~bayes_scaling.laws.Law` instance.
    likelihood : {"normal", "student_t"}
        Noise model of log-loss; ``"student_t"`` is robust to outlying runs.
    priors : mapping, str or tuple, optional
        ``{parameter: numpyro distribution}`` overriding defaults, e.g.
        ``{"alpha": dist.LogNormal(jnp.log(0.34), 0.1), "A": dist.LogNormal(6, 1)}``.
        See each law's docstring for the defaults. A catalogue name such as
        ``"literature:chinchilla"`` uses priors from a published fit, and a tuple
        merges (``("literature:chinchilla", {"E": ...})``); see
        :mod:`bayes_scaling.priors`. When priors are given, a
        :class:`~bayes_scaling.diagnostics.PriorDataConflictWarning` says if the
        runs contradict them.
    chains, draws, warmup : int
        NUTS chains and draws/warm-up steps per chain.
    seed : int
        Every random draw (initialisation, sampling, predictive noise) flows from it.
    level : float, default 0.9
        Default mass of equal-tailed intervals in summaries and predictions.
    flops_factor : float, default 6
        ``k`` in ``C = k N D``.
    columns : mapping, optional
        Explicit ``{canonical: source}`` column names.
    accounting : Convention or str, optional
        Count ``N`` and ``C`` under a parameter/FLOPs convention first (a
        DataFrame is needed): see :mod:`bayes_scaling.accounting`.
    dense_mass, target_accept, max_tree_depth, chain_method, progress
        Sampler settings (see :class:`bayes_scaling.inference.SamplerConfig`);
        ``progress=None`` shows a bar when interactive, not under pytest/CI, and
        follows ``BAYES_SCALING_PROGRESS=0/1`` (see :mod:`bayes_scaling.inference.progress`).
    warn : bool
        Emit diagnostic warnings (divergences, R-hat, ESS).
    posterior_predictive : bool, default False
        Also store replicated log-losses of the observed runs (one per draw) in
        the ``posterior_predictive`` group, for posterior predictive checks.
    log_likelihood : bool, default False
        Store the pointwise log-likelihood in the ``log_likelihood`` group now.
        By default it is computed on demand (LOO, model comparison, outlier
        reports) by ``ScalingFit.log_likelihood()``: it has draws x runs values.
    groups : None, False, str, mapping or GroupStructure
        For a table with a ``group`` column: which law parameters are
        ``"shared"``, ``"separate"`` per group or ``"pooled"`` (hierarchical),
        e.g. ``{"alpha": "shared", "beta": "shared", "A": "pooled", "B": "pooled"}``
        (parameters not named keep the default). Default: exponents and ``E``
        shared, offsets separate per group. ``False`` ignores the group column.
        See :mod:`bayes_scaling.groups`.

    sampler : SamplerConfig, optional
        All NUTS settings at once (the same argument on every ``fit_*``); the
        separate sampler keywords then keep their defaults.
    bucket : int, optional
        Pad the table to this many rows (masked in the likelihood; the posterior
        is unchanged) instead of its shape bucket
        (:mod:`bayes_scaling.inference.buckets`): refits of a subset padded to
        the full table's size reuse its compiled sampler.

    Returns
    -------
    ScalingFit

    Raises
    ------
    RunsTableError
        Invalid table, missing inputs of the law, or fewer runs than the law
        has parameters plus one.

    Examples
    --------
    >>> import bayes_scaling as bs
    >>> runs = bs.example_runs()
    >>> result = bs.fit(runs, law="chinchilla", seed=0)
    >>> result.summary().index.tolist()
    ['E', 'A', 'alpha', 'B', 'beta', 'sigma']
    >>> allocation = result.optimal_allocation(C=1e24)   # N_opt, D_opt, loss: medians, bands
    """
    law = get_law(law)
    check_options(likelihood, level)
    if accounting is not None:
        data, flops_factor = for_fit(data, accounting, flops_factor)
    runs = data if isinstance(data, RunsTable) else load_runs(
        data, flops_factor=flops_factor, columns=columns)
    structure = resolve_groups(law, groups, has_groups=runs.has_groups)
    priors = check_priors(law, likelihood, priors, structure)
    config = resolve_sampler(sampler, fit, chains=chains, draws=draws, warmup=warmup,
                             dense_mass=dense_mass, target_accept=target_accept,
                             max_tree_depth=max_tree_depth, chain_method=chain_method,
                             progress=progress)
    runs, design, model_kwargs = prepare(runs, law, likelihood, priors, flops_factor, columns,
                                          groups=structure)
    model = build_model(law, likelihood, structure)
    with jax.enable_x64(True):
        # Padded to a bucket size: a new table size in a seen bucket compiles nothing.
        padded = pad_model_kwargs(model_kwargs, runs.num_runs, bucket)
        result = run_nuts(model, padded, config, jax.random.PRNGKey(seed))
    fitted = assemble(law, likelihood, runs, design, model_kwargs, result.samples, result.stats,
                       fitted_config(config, result.stats), seed, level, groups=structure,
                       posterior_predictive=posterior_predictive,
                       log_likelihood=log_likelihood)
    if warn:
        diagnostics.check_fit(fitted)
        if priors:  # informative priors given: do the runs contradict them?
            check_prior_data_conflict(fitted, priors)
    return fitted


def assemble(
    law: Law, likelihood: str, runs: RunsTable, design: Design, model_kwargs: Mapping[str, Any],
    samples: Mapping[str, np.ndarray], stats: Mapping[str, np.ndarray], config: SamplerConfig,
    seed: int, level: float, *, groups: GroupStructure | None = None,
    posterior_predictive: bool = False, log_likelihood: bool = False,
) -> ScalingFit:
    """DataTree and ScalingFit from one data set's draws (``model_kwargs`` unpadded).

    The pointwise log-likelihood is stored only with ``log_likelihood=True``;
    otherwise ``ScalingFit.log_likelihood()`` computes it when asked.
    """
    model = build_model(law, likelihood, groups)
    if posterior_predictive:
        with jax.enable_x64(True):
            flat = {k: jnp.reshape(v, (-1,) + v.shape[2:]) for k, v in samples.items()}
            # Replicated log-losses of the observed runs, one per posterior draw.
            replicate = Predictive(model, posterior_samples=flat, return_sites=["log_loss"])(
                jax.random.PRNGKey(seed + 2), **{**model_kwargs, "log_loss": None})["log_loss"]
    tree = posterior_tree(law, runs, dict(samples), dict(stats), None, groups)
    if log_likelihood:
        tree = with_log_likelihood(tree, pointwise_log_likelihood(
            ScalingFit(law=law, likelihood=likelihood, runs=runs, design=design, posterior=tree,
                       seed=seed, level=level, sampler=config, groups=groups)))
    if posterior_predictive:
        tree["posterior_predictive"] = azb.from_dict(
            {"posterior_predictive": {
                "log_loss": np.asarray(replicate).reshape(config.chains, config.draws, -1)}},
            dims={"log_loss": ["run"]}, coords={"run": np.arange(runs.num_runs)},
        )["posterior_predictive"]
    return ScalingFit(law=law, likelihood=likelihood, runs=runs, design=design,
                      posterior=tree, seed=seed, level=level, sampler=config, groups=groups,
                      priors=dict(model_kwargs.get("priors") or {}))
