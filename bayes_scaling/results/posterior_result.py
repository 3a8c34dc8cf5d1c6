"""Base of the hyperparameter results: draws, summary and netcdf round trip of a small NumPyro posterior."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jax
import numpy as np
import numpyro.distributions as dist

from .._lazy import lazy_import
from ..inference import diagnostics
from ..inference.nuts import SamplerConfig, arviz_sample_stats, run_nuts
from ..inference.precision import fitted_config
from ..priors.serialize import encode_priors
from .base import PosteriorResults
from .persistence import sampler_meta, write_tree

azb = lazy_import("arviz_base")
pd = lazy_import("pandas")
xr = lazy_import("xarray")

META_KEY = "bayes_scaling_hyperparams"


# ----------------------------------------------------------------- shared bits
def column(table: pd.DataFrame, name: str, what: str) -> np.ndarray:
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


def check_extra_priors(priors: Mapping[str, Any] | None, allowed: tuple[str, ...]) -> dict:
    priors = dict(priors or {})
    for name, prior in priors.items():
        if name not in allowed:
            raise ValueError(f"prior given for unknown site {name!r}; choose from {list(allowed)}")
        if not isinstance(prior, dist.Distribution):
            raise TypeError(f"prior for {name!r} must be a numpyro distribution, "
                            f"got {type(prior).__name__}")
    return priors


def sample_posterior(model, kwargs: dict, *, config: SamplerConfig, seed: int, warn: bool,
                     checked: list[str]) -> tuple[xr.DataTree, Any]:
    with jax.enable_x64(True):
        result = run_nuts(model, kwargs, config, jax.random.PRNGKey(seed))
    config = fitted_config(config, result.stats)
    tree = azb.from_dict({"posterior": dict(result.samples),
                          "sample_stats": arviz_sample_stats(result.stats)})
    if warn:
        diagnostics.check_sampling(tree, checked, max_tree_depth=config.max_tree_depth,
                                   _stacklevel=5)
    return tree, config


@dataclass(frozen=True, eq=False)
class PosteriorResult(PosteriorResults):
    posterior: xr.DataTree
    sampler: SamplerConfig
    seed: int
    level: float
    #: The prior overrides the fit used (``{site: numpyro distribution}``; empty: defaults).
    priors: Mapping[str, Any] = field(default_factory=dict, kw_only=True)

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
                "sampler": sampler_meta(self.sampler), "priors": encode_priors(self.priors),
                **self._meta()}
        return write_tree(tree, path, type(self).__name__, meta, META_KEY)

    def _summary(self, names: list[str], level: float | None) -> pd.DataFrame:
        return self.summary_table(names, level)
