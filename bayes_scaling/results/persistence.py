"""The netcdf file format shared by every results type: a type tag and JSON settings.

Every ``to_netcdf`` writes an ArviZ ``DataTree`` whose root attributes hold
``bayes_scaling_type`` (the results class name, e.g. ``"LearningCurveFit"``) and
the JSON settings under the type's metadata key; :func:`bayes_scaling.load`
reads the tag and rebuilds that type (:mod:`bayes_scaling.results.loading`).
"""

from __future__ import annotations

import json
import os
from typing import Any

from .._lazy import lazy_import
from ..inference.nuts import SamplerConfig

xr = lazy_import("xarray")

#: Root attribute naming the results type of a file.
TYPE_KEY = "bayes_scaling_type"
#: Settings of a ScalingFit / LearningCurveFit / DownstreamFit / FitBatch file.
META_KEY = "bayes_scaling_meta"
FORMAT_KEY = "bayes_scaling_format"
FORMAT_VERSION = 1
_SAMPLER_FIELDS = ("chains", "draws", "warmup", "dense_mass", "target_accept", "max_tree_depth",
                   "precision")

__all__ = ["TYPE_KEY", "META_KEY", "sampler_meta", "sampler_from_meta", "write_tree",
           "read_tree"]


def sampler_meta(config: SamplerConfig) -> dict[str, Any]:
    """The sampler settings that define the draws, JSON-able."""
    return {k: getattr(config, k) for k in _SAMPLER_FIELDS}


def sampler_from_meta(meta: dict[str, Any]) -> SamplerConfig:
    # Files written before mixed precision existed hold float64 draws.
    return SamplerConfig(**{"precision": "float64", **meta})


def write_tree(tree: xr.DataTree, path: str | os.PathLike, kind: str, meta: dict[str, Any],
               meta_key: str = META_KEY) -> str:
    """Write ``tree`` with the type tag ``kind`` and ``meta`` (JSON) in its root attributes."""
    tree.attrs = {**tree.attrs, TYPE_KEY: kind, FORMAT_KEY: FORMAT_VERSION,
                  meta_key: json.dumps(meta)}
    tree.to_netcdf(path, engine="h5netcdf")
    return str(path)


def read_tree(path: str | os.PathLike) -> xr.DataTree:
    """The whole file, loaded into memory."""
    return xr.open_datatree(path, engine="h5netcdf").load()
