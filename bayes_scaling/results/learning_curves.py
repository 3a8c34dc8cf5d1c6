"""Scaling laws fitted to intermediate checkpoints, with a run-level random effect.

Checkpoints of one training run are not independent draws: a run that happens to
sit a little above the law (seed, data order, a slightly worse learning rate) stays
above it at every checkpoint. Fitting all checkpoints as if independent treats 20
checkpoints of one run as 20 runs' worth of evidence, so the bands come out far
too narrow. The model here is

.. math::

    \\log \\mathrm{loss}_{ij} = \\log L(N_i, D_{ij}) + u_i + e_{ij}, \\qquad
    u_i \\sim \\mathrm{Normal}(0, \\tau), \\qquad e_{ij} \\sim \\mathrm{Normal}(0, \\sigma)

for checkpoint ``j`` (``D_ij`` tokens seen so far) of run ``i``. With normal noise NUTS
samples the model with every ``u_i`` integrated out in closed form, and each draw then
gets ``u_i`` from its exact conditional (:mod:`bayes_scaling.models.learning_curves`):
a sampler of a handful of dimensions at any number of runs, no funnel between
``tau`` and the effects. Student-t noise (or ``collapsed=False``) samples ``u_i``
non-centred (``u_i = tau z_i``, ``z_i ~ Normal(0, 1)``). With ``ar1=True`` the
within-run residuals follow a stationary AR(1) over the run's checkpoints in token
order (``e_ij = rho e_i,j-1 + innovation``, marginal SD ``sigma``), for curves whose
wiggles persist from one checkpoint to the next.

Default priors: the law's own (see :mod:`bayes_scaling.laws`), ``sigma ~
HalfNormal(0.05)``, ``tau ~ HalfNormal(0.05)`` (seed-to-seed spreads of final losses
are a few per cent; Choshen et al. 2024), ``rho ~ Uniform(-1, 1)``.

The result is a :class:`LearningCurveFit`, a :class:`~bayes_scaling.fit.ScalingFit`
whose ``predict`` bands are for a *new* run: the curve band is the law (``u = 0``),
the predictive band adds ``tau`` and ``sigma``. ``predict(..., run=label)``
continues a fitted run instead, using its estimated ``u_i``.

References
----------
Choshen, Zhang & Andreas (2024), "A Hitchhiker's Guide to Scaling Law
Estimation" (drop checkpoints before ~10B tokens; seed noise).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist

from .._lazy import lazy_import
from ..data.runs import RunsTable, RunsTableError, load_runs
from ..inference import diagnostics
from ..inference.assembly import blocked_log_likelihood, posterior_tree, with_log_likelihood
from ..inference.buckets import bucket_size
from ..inference.intervals import DEFAULT_LEVEL, quantile_columns
from ..inference.nuts import SamplerConfig, resolve_sampler, run_nuts
from ..inference.pointwise import over_draw_blocks
from ..inference.precision import fitted_config
from ..laws import Law, get_law
from ..laws.inputs import (
    design_for,
    law_inputs,
    log_inputs,
)
from ..models.learning_curves import (
    build_learning_curve_model,
    chunked_layout,
    collapsed_terms,
    run_effect_conditional,
)
from ..models.likelihood import noise_priors
from ..models.setup import check_options, check_priors
from ..models.simulation import simulate_learning_curves
from .base import predictive_table
from .scaling_fit import ScalingFit
from .scaling_io import scaling_fields

azs = lazy_import("arviz_stats")
pd = lazy_import("pandas")
xr = lazy_import("xarray")


__all__ = ["LearningCurveFit", "fit_learning_curves", "select_checkpoints",
           "simulate_learning_curves"]


def select_checkpoints(
    data: pd.DataFrame | RunsTable,
    *,
    min_tokens: float | None = None,
    lr_warmup_tokens: float | Mapping[str, float] | None = None,
    flops_factor: float = 6.0,
    columns: Mapping[str, str] | None = None,
) -> RunsTable:
    """Validate checkpoint rows and drop the early ones.

    Parameters
    ----------
    data : DataFrame or RunsTable
        Checkpoints with ``N``, ``D`` (tokens seen so far), ``loss`` and ``run``
        (aliases ``run_id``, ``run_name``).
    min_tokens : float, optional
        Drop checkpoints with ``D < min_tokens`` (Choshen et al. 2024 drop those
        before ~1e10 tokens: the near-random start bends the curve).
    lr_warmup_tokens : float or mapping, optional
        Drop checkpoints with ``D <= lr_warmup_tokens`` (still in learning-rate
        warm-up); a mapping gives one value per run label.

    Returns
    -------
    RunsTable
        The kept rows (index labels of the original table).

    Raises
    ------
    RunsTableError
        No ``run`` column, or no run left after dropping.
    """
    runs = data if isinstance(data, RunsTable) else load_runs(
        data, flops_factor=flops_factor, columns=columns)
    if "run" not in runs.frame.columns:
        raise RunsTableError("column is missing", column="run",
                             fix="learning curves need a run identifier per checkpoint row "
                                 "(column 'run', 'run_id' or 'run_name', or columns={'run': ...})")
    runs.require(("N", "D"), law="learning-curve fit")
    frame = runs.frame
    keep = np.ones(len(frame), dtype=bool)
    tokens = frame["D"].to_numpy()
    if min_tokens is not None:
        keep &= tokens >= float(min_tokens)
    if lr_warmup_tokens is not None:
        if isinstance(lr_warmup_tokens, Mapping):
            unknown = set(lr_warmup_tokens) - set(frame["run"])
            if unknown:
                raise RunsTableError(f"lr_warmup_tokens names unknown runs {sorted(unknown)}",
                                     column="run")
            limit = frame["run"].map(lambda r: float(lr_warmup_tokens.get(r, 0.0))).to_numpy()
        else:
            limit = float(lr_warmup_tokens)
        keep &= tokens > limit
    if not keep.any():
        raise RunsTableError("no checkpoint left after dropping early / warm-up checkpoints",
                             column="D", fix="lower min_tokens or lr_warmup_tokens")
    sizes = frame.loc[keep].groupby("run")["N"].nunique()
    if (sizes > 1).any():
        bad = sizes.index[np.argmax(sizes.to_numpy() > 1)]
        raise RunsTableError(f"run {bad!r} has checkpoints with different N", column="N",
                             fix="one run is one model size; give each size its own run label")
    return RunsTable(frame=frame.loc[keep].copy(), flops_factor=runs.flops_factor,
                     column_map=runs.column_map, derived=runs.derived)


@dataclass(frozen=True, eq=False)
class LearningCurveFit(ScalingFit):
    """A :class:`~bayes_scaling.fit.ScalingFit` of checkpoints with run effects.

    ``predict`` bands are for a new run (the predictive band includes the run
    spread ``tau``); ``predict(..., run=label)`` follows a fitted run. Extra
    attributes: ``run_labels`` (sorted run labels, the order of ``run_effect``)
    and ``ar1`` (whether residuals are AR(1) within runs).
    ``to_netcdf`` and :func:`bayes_scaling.load` round-trip it (run labels, ``ar1``,
    ``tau``/``rho`` and the run effects included).
    """

    run_labels: tuple[str, ...] = ()
    ar1: bool = False

    @property
    def extra_names(self) -> tuple[str, ...]:
        """Parameters beyond the law and ``sigma``: ``tau`` (and ``rho``)."""
        return ("tau", "rho") if self.ar1 else ("tau",)

    def _meta(self) -> dict[str, Any]:
        return {**super()._meta(), "run_labels": list(self.run_labels), "ar1": self.ar1}

    @classmethod
    def _from_tree(cls, tree: xr.DataTree, meta: dict[str, Any]) -> LearningCurveFit:
        return cls(**scaling_fields(tree, meta), run_labels=tuple(meta["run_labels"]),
                   ar1=bool(meta["ar1"]))

    def _pointwise_log_likelihood(self) -> np.ndarray:
        """The model's own ``log_loss`` density (run effects, AR(1)) in blocks of draws."""
        model = build_learning_curve_model(self.law, self.likelihood, self.ar1)
        tree = self.posterior["posterior"]
        flat = {name: np.asarray(tree[name].values).reshape((-1,) + tree[name].shape[2:])
                for name in tree.data_vars}
        with jax.enable_x64(True):
            values = blocked_log_likelihood(
                model, flat, _model_kwargs(self.law, self.runs, self.design, self.priors)[1])
        return values.reshape(int(tree.sizes["chain"]), int(tree.sizes["draw"]), -1)

    def param_draws(self, group: str | None = None) -> dict[str, np.ndarray]:
        out = super().param_draws(group)
        out.update({name: self.draws(name) for name in self.extra_names})
        return out

    def summary(self, level: float | None = None) -> pd.DataFrame:
        """As :meth:`ScalingFit.summary`, plus rows for ``tau`` (and ``rho``)."""
        level = self.level if level is None else level
        table = pd.concat([super().summary(level), self.summary_table(self.extra_names, level)])
        table.attrs["level"] = level
        return table

    def run_effects(self, level: float | None = None) -> pd.DataFrame:
        """Posterior of each fitted run's offset ``u_i`` (log-loss; ``exp(u) - 1`` is the
        relative loss excess): one row per run with median and equal-tailed band."""
        level = self.level if level is None else level
        table = pd.DataFrame(quantile_columns("effect", self.draws("run_effect"), level))
        table.insert(0, "run", list(self.run_labels))
        table["level"] = level
        return table

    def checkpoint_moments(self) -> tuple[np.ndarray, np.ndarray]:
        """Draws of each checkpoint's log-loss centre and noise scale under the model.

        Given its run's effect ``u_i`` (and, with ``ar1``, the residual of the run's
        previous checkpoint), checkpoint ``j`` is Normal (or Student-t) around the
        returned centre with the returned scale: the distribution the outlier report
        checks each checkpoint against. Shapes ``(num_draws, checkpoints)``.
        """
        _, run_index, prev, has_prev = _run_structure(self.runs.frame)
        log_mean = self._log_mean_draws({k: np.log(self.runs.column(k)) for k in self.law.inputs})
        log_mean = log_mean + self.draws("run_effect")[:, run_index]
        sigma = self.draws("sigma")[:, None]
        if not self.ar1:
            return log_mean, np.broadcast_to(sigma, log_mean.shape)
        rho = self.draws("rho")[:, None]
        resid = np.log(self.runs.loss)[None, :] - log_mean
        centre = log_mean + np.where(has_prev, rho * resid[:, prev], 0.0)
        return centre, sigma * np.where(has_prev, np.sqrt(1.0 - rho**2), 1.0)

    def noise_draws(self, shape: tuple[int, int], key: jax.Array) -> np.ndarray:
        """Noise of one new run's observed log-loss: its run effect plus checkpoint noise."""
        key_obs, key_run = jax.random.split(key)
        obs = super().noise_draws(shape, key_obs)
        with jax.enable_x64(True):
            z = np.asarray(jax.random.normal(key_run, shape))
        return obs + self.draws("tau")[:, None] * z

    def predict(self, N: Any = None, D: Any = None, C: Any = None, *,  # noqa: N803
                level: float | None = None, seed: int | None = None, group: str | None = None,
                run: str | None = None, extrapolation: Any = "auto") -> pd.DataFrame:
        """Loss of a new run (default) or, with ``run=label``, of a fitted run continued.

        Columns as in :meth:`ScalingFit.predict`. For a new run the curve band is the
        law's and the predictive band adds ``tau`` and ``sigma`` (and, beyond the data,
        the ``extrapolation`` discrepancy of :meth:`ScalingFit.predict`); for a fitted
        run both include its posterior effect ``u_i`` and the predictive band adds ``sigma``.
        """
        if run is None:
            return super().predict(N, D, C, level=level, seed=seed, group=group,
                                   extrapolation=extrapolation)
        if str(run) not in self.run_labels:
            raise ValueError(f"unknown run {run!r}; this fit has runs {list(self.run_labels)}")
        level = self.level if level is None else level
        effect = self.draws("run_effect")[:, self.run_labels.index(str(run))][:, None]
        flat = law_inputs(self.law, N, D, C, self.runs.flops_factor)
        log_mean = self._log_mean_draws({k: np.log(flat[k]) for k in self.law.inputs}) + effect
        key = jax.random.PRNGKey(self.seed + 1 if seed is None else seed)
        log_obs = log_mean + ScalingFit.noise_draws(self, log_mean.shape, key)
        out = predictive_table(flat, np.exp(log_mean), log_obs, level, log_observed=True)
        out["run"] = str(run)
        return out

    def __repr__(self) -> str:
        return (f"LearningCurveFit(law={self.law!r}, runs={len(self.run_labels)}, "
                f"checkpoints={self.runs.num_runs}, ar1={self.ar1}, draws={self.num_draws})")


def _model_kwargs(law: Law, runs: RunsTable, design: Any,
                  priors: Mapping[str, Any]) -> tuple[tuple[str, ...], dict[str, Any]]:
    """Run labels and the model's arguments for a checkpoint table (inside ``jax.enable_x64``)."""
    labels, run_index, prev, has_prev = _run_structure(runs.frame)
    return labels, {"log_inputs": log_inputs(law, runs), "log_loss": jnp.log(jnp.asarray(runs.loss)),
                    "design": design.as_arrays(), "priors": dict(priors),
                    "run_index": jnp.asarray(run_index), "run_template": jnp.zeros(len(labels)),
                    "prev_index": jnp.asarray(prev), "has_prev": jnp.asarray(has_prev)}


def _collapsed_kwargs(law: Law, runs: RunsTable, design: Any,
                      priors: Mapping[str, Any]) -> tuple[tuple[str, ...], dict[str, Any]]:
    """Run labels and the collapsed model's arguments: checkpoints in chunked slots, padded to
    shape buckets (new table sizes reuse compiled samplers). Inside ``jax.enable_x64``."""
    labels, run_index, _, _ = _run_structure(runs.frame)
    layout = chunked_layout(run_index, runs.frame["D"].to_numpy(), len(labels), pad=bucket_size)
    rows = layout.pop("rows")
    del layout["chunk"]  # static: the slots' shape carries it
    return labels, {"log_inputs": {k: v[rows] for k, v in log_inputs(law, runs).items()},
                    "log_loss": jnp.log(jnp.asarray(runs.loss))[rows],
                    "design": design.as_arrays(), "priors": dict(priors),
                    "layout": {k: jnp.asarray(v) for k, v in layout.items()}}


@functools.cache
def _conditional_fn(law: Law, ar1: bool):
    """Jitted: per draw of a block, the conditional mean and SD of every run effect."""
    def one(params, kwargs):
        resid = kwargs["log_loss"] - law.log_mean(params, kwargs["log_inputs"])
        _, b, c, _ = collapsed_terms(resid, kwargs["layout"], params["sigma"],
                                     params["rho"] if ar1 else 0.0, ar1)
        return run_effect_conditional(b, c, params["tau"])

    return jax.jit(jax.vmap(one, in_axes=(0, None)))


def _draw_run_effects(law: Law, ar1: bool, samples: Mapping[str, Any], kwargs: Mapping[str, Any],
                      num_runs: int, key: jax.Array) -> dict[str, np.ndarray]:
    """``run_effect`` and ``run_z`` drawn from their exact conditional given each draw.

    The collapsed model's draws of the law, ``sigma``, ``tau`` (``rho``) with one
    ``u ~ p(u | data, draw)`` each are draws of the full posterior. Blocks of
    draws keep memory at a few ``(block, checkpoints)`` arrays. Inside ``jax.enable_x64``.
    """
    names = [*law.param_names, "sigma", "tau", *(["rho"] if ar1 else [])]
    lead = np.shape(samples["tau"])
    flat = {k: np.asarray(samples[k], np.float64).reshape(-1) for k in names}
    fn = _conditional_fn(law, ar1)
    mean, sd = over_draw_blocks(lambda block: fn(block, dict(kwargs)), flat,
                                int(np.size(kwargs["log_loss"])), columns=num_runs)
    effect = mean + sd * np.asarray(jax.random.normal(key, mean.shape))
    return {"run_z": (effect / flat["tau"][:, None]).reshape(*lead, num_runs),
            "run_effect": effect.reshape(*lead, num_runs)}


def _run_structure(frame: pd.DataFrame) -> tuple[tuple[str, ...], np.ndarray, np.ndarray,
                                                 np.ndarray]:
    """Run labels, run index per row, index of the previous checkpoint (token order)."""
    labels = tuple(sorted(pd.unique(frame["run"].astype(str))))
    lookup = {label: i for i, label in enumerate(labels)}
    run_index = np.array([lookup[str(r)] for r in frame["run"]], dtype=np.int32)
    prev = np.zeros(len(frame), dtype=np.int32)
    has_prev = np.zeros(len(frame), dtype=bool)
    order = np.lexsort((frame["D"].to_numpy(), run_index))
    for a, b in zip(order[:-1], order[1:], strict=True):
        if run_index[a] == run_index[b]:
            prev[b], has_prev[b] = a, True
    return labels, run_index, prev, has_prev


def fit_learning_curves(
    data: pd.DataFrame | str | RunsTable,
    law: str | Law = "chinchilla",
    *,
    run: str = "run",
    min_tokens: float | None = None,
    lr_warmup_tokens: float | Mapping[str, float] | None = None,
    ar1: bool = False,
    likelihood: str = "normal",
    priors: Mapping[str, dist.Distribution] | None = None,
    chains: int = 4,
    draws: int = 1000,
    warmup: int = 1000,
    seed: int = 0,
    level: float = DEFAULT_LEVEL,
    flops_factor: float = 6.0,
    columns: Mapping[str, str] | None = None,
    target_accept: float = 0.9,
    max_tree_depth: int = 10,
    chain_method: str | None = None,
    warn: bool = True,
    sampler: SamplerConfig | None = None,
    log_likelihood: bool = False,
    collapsed: bool | None = None,
) -> LearningCurveFit:
    """Fit a scaling law to intermediate checkpoints of several runs, with run effects.

    Parameters
    ----------
    data : DataFrame, path or RunsTable
        One row per checkpoint: ``N`` (the run's model size), ``D`` (tokens seen so
        far), ``loss`` and the run identifier. Never modified.
    law : str or Law, default "chinchilla"
    run : str, default "run"
        Column identifying the run of each checkpoint (``run_id``/``run_name`` are
        recognised as ``run`` automatically).
    min_tokens, lr_warmup_tokens
        Drop early checkpoints: see :func:`select_checkpoints`.
    ar1 : bool, default False
        AR(1) residuals within each run (in token order) on top of the run effect.
    likelihood : {"normal", "student_t"}
        Checkpoint noise (``ar1`` needs ``"normal"``).
    priors : mapping, optional
        Overrides of the law's priors and of ``sigma``, ``nu``, ``tau``, ``rho``.
    chains, draws, warmup, seed, level, flops_factor, columns, target_accept,
    max_tree_depth, chain_method, warn
        As in :func:`bayes_scaling.fit`.

    sampler : SamplerConfig, optional
        All NUTS settings at once (the same argument on every ``fit_*``); the
        separate sampler keywords then keep their defaults.
    log_likelihood : bool, default False
        Store the pointwise log-likelihood now. Otherwise
        ``LearningCurveFit.log_likelihood()`` computes it, in blocks of draws, when
        LOO or an outlier report asks (draws x checkpoints values: 3.2 GB for
        4,000 draws of 100,000 checkpoints).
    collapsed : bool, optional
        Integrate the run effects out in closed form while sampling and draw them
        afterwards from their exact conditional (:mod:`bayes_scaling.models.learning_curves`):
        the same posterior, a sampler of a handful of dimensions at any number of
        runs (timings beside the latent model: ``benchmarks/LEARNING_CURVES.md``).
        Default: ``True`` for normal noise; Student-t noise has no closed
        form (``collapsed=True`` then raises), so its run effects are sampled.

    Returns
    -------
    LearningCurveFit
        A ScalingFit (``summary``, ``predict``, ``optimal_allocation``, ``plot``) with
        ``tau`` (and ``rho``) in the summary and :meth:`LearningCurveFit.run_effects`.

    Raises
    ------
    RunsTableError
        Invalid table, missing run column, fewer than two runs, too few checkpoints.

    Examples
    --------
    >>> import numpy as np, bayes_scaling as bs
    >>> sizes = np.geomspace(5e7, 4e8, 5)            # 5 runs, 8 checkpoints each
    >>> checkpoints = simulate_learning_curves("chinchilla", bs.EXAMPLE_TRUTH, N=sizes,
    ...                                        D_final=20 * sizes, num_checkpoints=8,
    ...                                        tau=0.02, noise=0.005, seed=1)
    >>> # a short run for the example; real fits keep the defaults (4 chains x 1000 draws)
    >>> curves = fit_learning_curves(checkpoints, chains=2, draws=400, warmup=400)
    >>> "tau" in curves.summary().index
    True
    >>> band = curves.predict(N=1.2e9, D=2.4e10)     # a new run: band includes tau
    """
    law = get_law(law)
    check_options(likelihood, level)
    if isinstance(data, RunsTable):
        runs = data
    else:
        mapping = dict(columns or {})
        if run != "run":
            mapping["run"] = run
        if isinstance(data, pd.DataFrame) and run not in data.columns and run != "run":
            raise RunsTableError("column is missing", column=run,
                                 fix="pass run=<the column identifying each checkpoint's run>")
        runs = load_runs(data, flops_factor=flops_factor, columns=mapping or None)
    runs = select_checkpoints(runs, min_tokens=min_tokens, lr_warmup_tokens=lr_warmup_tokens)
    labels = _run_structure(runs.frame)[0]
    if len(labels) < 2:
        raise RunsTableError(f"only one run ({labels[0]!r}): a run effect needs at least two runs",
                             column="run")
    noise = dict(noise_priors(likelihood))
    extras = {"tau"} | ({"rho"} if ar1 else set())
    user = dict(priors or {})
    priors = check_priors(law, likelihood, {k: v for k, v in user.items() if k not in extras})
    for name in extras & set(user):
        if not isinstance(user[name], dist.Distribution):
            raise TypeError(f"prior for {name!r} must be a numpyro distribution")
        priors[name] = user[name]
    runs.require(law.inputs, min_runs=law.num_params + len(noise) + len(extras) + 1,
                 law=f"{law.name} learning-curve fit")
    design = design_for(runs, law)
    config = resolve_sampler(sampler, fit_learning_curves, chains=chains, draws=draws,
                             warmup=warmup, target_accept=target_accept,
                             max_tree_depth=max_tree_depth, chain_method=chain_method)
    # normal noise: NUTS on the collapsed model, run effects drawn afterwards
    collapsed = likelihood == "normal" if collapsed is None else bool(collapsed)
    model = build_learning_curve_model(law, likelihood, ar1, collapsed=collapsed)
    with jax.enable_x64(True):
        kwargs = (_collapsed_kwargs if collapsed else _model_kwargs)(law, runs, design, priors)[1]
        result = run_nuts(model, kwargs, config, jax.random.PRNGKey(seed))
        config = fitted_config(config, result.stats)
        samples = dict(result.samples)
        if collapsed:
            samples.update(_draw_run_effects(law, ar1, samples, kwargs, len(labels),
                                             jax.random.fold_in(jax.random.PRNGKey(seed), 1)))
    tree = posterior_tree(law, runs, samples, dict(result.stats), None)
    fitted = LearningCurveFit(law=law, likelihood=likelihood, runs=runs, design=design,
                              posterior=tree, seed=seed, level=level, sampler=config,
                              run_labels=labels, ar1=ar1, priors=priors)
    if log_likelihood:
        fitted = replace(fitted, posterior=with_log_likelihood(tree, fitted.log_likelihood()))
    if warn:  # the law's and noise parameters plus the run-effect spread (and AR(1) rho)
        names = diagnostics.checked_names(law.param_names, list(tree["posterior"].data_vars))
        diagnostics.check_sampling(tree, names + [n for n in fitted.extra_names if n not in names],
                                   max_tree_depth=config.max_tree_depth)
    return fitted
