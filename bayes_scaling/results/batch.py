"""Many independent fits in one compiled program: :func:`fit_many`.

Use it for bootstrap-like replicates, per-group fits of thousands of ablations
and simulation-based calibration. Tables with the same number of runs share one
compiled sampler: NUTS chains are mapped over data sets and chains and, when
JAX has several local devices (CPU host devices or accelerators), the data sets
are sharded over them (a :class:`jax.sharding.Mesh` over the local devices and
:func:`jax.shard_map`; see :func:`bayes_scaling.inference.run_nuts_batched` and
``docs/scaling_out.md``, which also covers several hosts). On CPU each device
runs its fits one after another; on an accelerator they are ``vmap``-ed: with
the centred parameterisation NUTS trees are short and of similar depth across
data sets, so lock-step vectorisation wastes little there.

Per-fit diagnostics (divergences, rank-normalised R-hat, bulk/tail ESS) are
computed vectorised with ``arviz_stats``' array functions; full
:class:`~bayes_scaling.fit.ScalingFit` objects are built only when asked for.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._lazy import lazy_import
from ..inference import nuts
from ..inference.buckets import bucket_size, pad_model_kwargs
from ..inference.diagnostics import checked_names, sampling_numbers
from ..inference.intervals import DEFAULT_LEVEL
from ..inference.nuts import SamplerConfig, resolve_sampler, run_nuts_batched
from ..inference.precision import fitted_config
from ..inference.progress import progress_bar, progress_enabled
from ..laws import Law, get_law
from ..models.likelihood import noise_priors
from ..models.scaling import build_model
from ..models.setup import (
    check_options,
    check_priors,
    prepare,
)
from ..priors.conflict import conflict_table
from ..priors.serialize import decode_priors, encode_priors
from .base import PosteriorResults
from .persistence import sampler_from_meta, sampler_meta, write_tree
from .scaling_fit import ScalingFit, assemble
from .scaling_io import runs_from, runs_meta

azb = lazy_import("arviz_base")
pd = lazy_import("pandas")
xr = lazy_import("xarray")

__all__ = ["fit_many", "FitBatch"]


@dataclass(frozen=True, eq=False)
class FitBatch(PosteriorResults):
    """Results of :func:`fit_many`: index it (``batch[i]``) for a full ScalingFit.

    Attributes
    ----------
    diagnostics : pandas.DataFrame
        One row per fit: ``num_runs``, ``divergences``, ``max_rhat``,
        ``min_ess_bulk``, ``min_ess_tail`` and ``ok`` (no divergence, R-hat <=
        1.01, ESS >= 100 per chain); with ``priors=``, also ``prior_conflict``
        (see :func:`bayes_scaling.priors.prior_data_conflict`).
    seconds : float
        Wall time of the sampling (all fits, compilation included).
    posterior : xarray.DataTree
        Every fit's draws in one tree: each variable has dims ``(chain, draw, fit)``.
    priors : mapping
        The prior overrides every fit used (empty: the law's defaults).

    ``to_netcdf`` / :func:`bayes_scaling.load` round-trip the batch exactly.
    """

    law: Law
    likelihood: str
    diagnostics: pd.DataFrame
    seconds: float
    _items: tuple[tuple[Any, ...], ...]
    config: SamplerConfig
    level: float
    priors: Mapping[str, Any] = field(default_factory=dict)
    _cache: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, index: int) -> ScalingFit:
        runs, design, kwargs, samples, stats, seed = self._items[index]
        return assemble(self.law, self.likelihood, runs, design, kwargs, samples, stats,
                        fitted_config(self.config, stats), seed, self.level)

    def __iter__(self) -> Iterator[ScalingFit]:
        return (self[i] for i in range(len(self)))

    @property
    def seed(self) -> int:
        """The seed of :func:`fit_many` (fit ``i`` used ``fold_in(PRNGKey(seed), i)``)."""
        return int(self._items[0][5])

    @property
    def sampler(self) -> SamplerConfig:
        """The NUTS settings of every fit (the same as ``config``)."""
        return self.config

    @property
    def posterior(self) -> xr.DataTree:
        """All fits' draws: one ``posterior`` group whose variables have dims
        ``(chain, draw, fit, ...)`` (built once, on first use)."""
        if "posterior" not in self._cache:
            samples = {name: np.moveaxis(np.stack([item[3][name] for item in self._items]), 0, 2)
                       for name in self._items[0][3]}
            self._cache["posterior"] = azb.from_dict(
                {"posterior": samples}, dims={name: ["fit"] for name in samples},
                coords={"fit": np.arange(len(self))})
        return self._cache["posterior"]

    def draws(self, name: str) -> np.ndarray:
        """Draws of ``name`` for every fit: shape ``(num_fits, chains * draws, ...)``."""
        out = []
        for item in self._items:
            values = item[3][name]
            out.append(values.reshape((-1,) + values.shape[2:]))
        return np.stack(out)

    def summary(self, level: float | None = None) -> pd.DataFrame:
        """The one summary schema (:class:`~bayes_scaling.results.base.PosteriorResults`)
        with a ``(fit, parameter)`` index: one row per fit and law/noise parameter."""
        names = list(self.law.param_names) + list(noise_priors(self.likelihood))
        table = self.summary_table(names, level)
        keys = [str(label).rstrip("]").split("[") for label in table.index]
        table.index = pd.MultiIndex.from_tuples([(int(fit), name) for name, fit in keys],
                                                names=["fit", "parameter"])
        table = table.sort_index(level="fit", sort_remaining=False, kind="stable")
        return table

    # ------------------------------------------------------------ persistence
    def to_netcdf(self, path: str | os.PathLike) -> str:
        """Write every fit (draws, sampler statistics, runs tables, settings) to ``path``;
        :func:`bayes_scaling.load` gives the batch back exactly."""
        return write_batch(self, path)

    @classmethod
    def _from_tree(cls, tree: xr.DataTree, meta: dict[str, Any]) -> FitBatch:
        law = get_law(meta["law"])
        priors = decode_priors(meta.get("priors"))
        samples = {name: np.moveaxis(tree["posterior"][name].values, 2, 0)
                   for name in tree["posterior"].data_vars}
        stats = {name: tree["batch_stats"][name].values for name in tree["batch_stats"].data_vars}
        const = tree["constant_data"]
        fit_of_row = const["fit"].values
        items = []
        for i, settings in enumerate(meta["runs"]):
            rows = const.to_dataset().isel(row=np.flatnonzero(fit_of_row == i))
            runs, design, kwargs = prepare(runs_from(rows, settings), law, meta["likelihood"],
                                           priors, settings["flops_factor"], None)
            items.append((runs, design, kwargs, {k: v[i] for k, v in samples.items()},
                          {k: v[i] for k, v in stats.items()}, meta["seeds"][i]))
        diag = tree["diagnostics"].to_dataset()
        table = pd.DataFrame({c: diag[c].values for c in meta["diagnostics"]})
        return cls(law=law, likelihood=meta["likelihood"], diagnostics=table,
                   seconds=meta["seconds"], _items=tuple(items),
                   config=sampler_from_meta(meta["sampler"]), level=meta["level"], priors=priors)


def write_batch(batch: FitBatch, path: str | os.PathLike) -> str:
    """See :meth:`FitBatch.to_netcdf`."""
    frames = []
    for i, item in enumerate(batch._items):
        frame = item[0].frame
        frames.append(pd.DataFrame({"fit": i, **{c: frame[c].to_numpy() for c in
                                                 ("N", "D", "C", "loss", "U") if c in frame}}))
    runs = pd.concat(frames, ignore_index=True)
    stats = {name: (("fit", "chain", "draw"), np.stack([item[4][name] for item in batch._items]))
             for name in batch._items[0][4]}
    tree = batch.posterior.copy()
    tree["batch_stats"] = xr.DataTree(dataset=xr.Dataset(stats))
    tree["constant_data"] = xr.DataTree(dataset=xr.Dataset(
        {c: ("row", runs[c].to_numpy()) for c in runs.columns}))
    tree["diagnostics"] = xr.DataTree(dataset=xr.Dataset(
        {str(c): ("fit", batch.diagnostics[c].to_numpy()) for c in batch.diagnostics.columns}))
    meta = {"law": batch.law.spec(), "likelihood": batch.likelihood, "level": batch.level,
            "seconds": batch.seconds, "sampler": sampler_meta(batch.config),
            "priors": encode_priors(batch.priors), "seeds": [item[5] for item in batch._items],
            "runs": [runs_meta(item[0]) for item in batch._items],
            "diagnostics": [str(c) for c in batch.diagnostics.columns]}
    return write_tree(tree, path, type(batch).__name__, meta)


def _stack(trees: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    return jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *trees)


def fit_many(
    tables: Sequence[Any],
    law: str | Law = "chinchilla",
    *,
    likelihood: str = "normal",
    priors: Mapping[str, Any] | str | tuple | None = None,
    chains: int = 4,
    draws: int = 1000,
    warmup: int = 1000,
    seed: int = 0,
    level: float = DEFAULT_LEVEL,
    flops_factor: float = 6.0,
    columns: Mapping[str, str] | None = None,
    dense_mass: bool = True,
    target_accept: float = 0.9,
    max_tree_depth: int = 10,
    batch_size: int | None = None,
    sampler: SamplerConfig | None = None,
    progress: bool | None = None,
) -> FitBatch:
    """Fit one law independently to many runs tables, batched.

    Parameters
    ----------
    tables : sequence of DataFrame, path or RunsTable
        Each is validated as in :func:`bayes_scaling.fit`. Tables padded to
        the same bucket size (:mod:`bayes_scaling.inference.buckets`) share one compiled
        sampler.
    law, likelihood, priors, chains, draws, warmup, level, flops_factor, columns,
    dense_mass, target_accept, max_tree_depth
        As in :func:`bayes_scaling.fit` (the same settings for every table);
        ``priors`` may name a literature prior (``"literature:chinchilla"``).
    seed : int
        Fit ``i`` uses ``jax.random.fold_in(PRNGKey(seed), i)``: reproducible and
        independent of the batching.
    batch_size : int or None
        Data sets per compiled call (bounds memory; rounded to a multiple of
        the local device count). Each call shards its data sets over all local
        devices (see ``docs/scaling_out.md``). ``None``: on CPU, one per device
        (each device runs its chains one after another, so larger calls gain
        nothing, while the last call of a size is padded up to a full call and
        every call size is a compilation); on accelerators, 64 (vectorised).
    progress : bool or None
        Progress bar over the fits (``None``: see :mod:`bayes_scaling.inference.progress`).
    sampler : SamplerConfig, optional
        All NUTS settings at once (the same argument on every ``fit_*``); the
        separate sampler keywords then keep their defaults.

    Returns
    -------
    FitBatch
        Per-fit diagnostics table; ``batch[i]`` is a full ScalingFit.

    Examples
    --------
    >>> # Long run (100 fits); tests/test_batch.py makes these calls on fewer tables.
    >>> tables = [bs.example_runs(seed=s) for s in range(100)]   # doctest: +SKIP
    >>> batch = bs.fit_many(tables, law="chinchilla")             # doctest: +SKIP
    >>> batch.diagnostics["ok"].mean()                            # doctest: +SKIP
    """
    law = get_law(law)
    check_options(likelihood, level)
    priors = check_priors(law, likelihood, priors)
    config = resolve_sampler(sampler, fit_many, chains=chains, draws=draws, warmup=warmup,
                             dense_mass=dense_mass, target_accept=target_accept,
                             max_tree_depth=max_tree_depth)
    prepared = [prepare(t, law, likelihood, priors, flops_factor, columns) for t in tables]
    model = build_model(law, likelihood)
    base_key = jax.random.PRNGKey(seed)
    by_size: dict[int, list[int]] = defaultdict(list)  # by bucket: mixed sizes share programs
    for i, (runs, _, _) in enumerate(prepared):
        by_size[bucket_size(runs.num_runs)].append(i)
    devices = jax.local_device_count()
    if batch_size is None:
        batch_size = 64 if nuts.on_accelerator() else devices
    step = max(devices, batch_size - batch_size % devices)
    results: dict[int, tuple[dict, dict]] = {}
    start = time.perf_counter()
    bar = progress_bar(len(prepared), "fit_many", progress_enabled(progress), unit="fit")
    with jax.enable_x64(True):
        for padded_size, indices in by_size.items():
            # Every call has a full chunk (a multiple of the device count), padding the
            # last with repeats, so each table size compiles once.
            size = step if len(indices) > step else -(-len(indices) // devices) * devices
            for lo in range(0, len(indices), size):
                chunk = indices[lo:lo + size]
                padded = chunk + [chunk[-1]] * (size - len(chunk))
                kwargs = _stack([pad_model_kwargs(prepared[i][2], prepared[i][0].num_runs,
                                                  padded_size) for i in padded])
                keys = jnp.stack([jax.random.fold_in(base_key, i) for i in padded])
                out = run_nuts_batched(model, kwargs, config, keys)
                for j, i in enumerate(chunk):
                    results[i] = ({k: v[j] for k, v in out.samples.items()},
                                  {k: v[j] for k, v in out.stats.items()})
                bar.update(len(chunk))
    bar.close()
    seconds = time.perf_counter() - start
    ordered = [results[i] for i in range(len(prepared))]
    names = checked_names(law.param_names, list(ordered[0][0]))
    diag = sampling_numbers({n: np.stack([o[0][n] for o in ordered]) for n in names},
                            np.stack([o[1]["diverging"] for o in ordered]))
    del diag["worst_rhat"]
    table = pd.DataFrame({"num_runs": [p[0].num_runs for p in prepared], **diag})
    if priors:  # informative priors: flag fits whose runs contradict them

        table["prior_conflict"] = [
            bool(conflict_table({n: o[0][n].reshape(-1) for n in priors
                                  if n in o[0] and o[0][n].ndim == 2}, priors, 0.01)
                 ["conflict"].any()) for o in ordered]
    items = tuple((p[0], p[1], p[2], o[0], o[1], seed) for p, o in zip(prepared, ordered,
                                                                        strict=True))
    return FitBatch(law=law, likelihood=likelihood, diagnostics=table, seconds=seconds,
                    _items=items, config=config, level=level, priors=priors)
