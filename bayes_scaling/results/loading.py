"""One loader for every results type: :func:`load` reads the type tag of a file.

``to_netcdf`` of :class:`ScalingFit`, :class:`LearningCurveFit`,
:class:`DownstreamFit`, :class:`FitBatch`, :class:`HyperparameterFit` and
:class:`CriticalBatchFit` writes ``bayes_scaling_type`` into the file's root
attributes (:mod:`bayes_scaling.results.persistence`); :func:`load` gives back
that type with its law, priors, sampler settings and extra terms.
"""

from __future__ import annotations

import json
import os
from typing import Any

from . import hyperparams
from .batch import FitBatch
from .downstream import DownstreamFit
from .learning_curves import LearningCurveFit
from .persistence import META_KEY, TYPE_KEY, read_tree
from .posterior_result import META_KEY as HYPERPARAMS_KEY
from .scaling_fit import ScalingFit

__all__ = ["load", "RESULTS_TYPES"]

#: Type tag -> results class (each has ``_from_tree(tree, settings)``).
RESULTS_TYPES: dict[str, Any] = {cls.__name__: cls for cls in (
    ScalingFit, LearningCurveFit, DownstreamFit, FitBatch,
    hyperparams.HyperparameterFit, hyperparams.CriticalBatchFit)}


def load(path: str | os.PathLike) -> Any:
    """Load any results object written by its ``to_netcdf``, as the same type.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    ScalingFit, LearningCurveFit, DownstreamFit, FitBatch, HyperparameterFit or CriticalBatchFit

    Raises
    ------
    ValueError
        The file was not written by bayes_scaling, or names an unknown type.
    """
    tree = read_tree(path)
    attrs = tree.attrs
    if HYPERPARAMS_KEY in attrs:  # hyperparameter fits keep their own settings key
        return hyperparams.from_tree(tree, json.loads(attrs[HYPERPARAMS_KEY]))
    if META_KEY not in attrs:
        raise ValueError(f"{path!s} was not written by bayes_scaling (no metadata)")
    kind = attrs.get(TYPE_KEY, "ScalingFit")  # files from before the type tag: ScalingFit
    if kind not in RESULTS_TYPES:
        raise ValueError(f"{path!s} holds an unknown results type {kind!r}; known: "
                         f"{sorted(RESULTS_TYPES)}")
    return RESULTS_TYPES[kind]._from_tree(tree, json.loads(attrs[META_KEY]))
