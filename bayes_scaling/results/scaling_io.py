"""What a :class:`~bayes_scaling.results.ScalingFit` file records besides the posterior:
law, likelihood, runs-table settings, design, groups, priors and sampler settings.

:func:`scaling_meta` writes them (JSON-able), :func:`scaling_fields` turns a file's
tree and settings back into the ScalingFit constructor's keyword arguments; the
subclasses (:class:`~bayes_scaling.results.LearningCurveFit`) add their own terms.
"""

from __future__ import annotations

from typing import Any

from .._lazy import lazy_import
from ..data.runs import RunsTable
from ..laws import Design, get_law
from ..models.groups import GroupStructure
from ..priors.serialize import decode_priors, encode_priors
from .persistence import sampler_from_meta, sampler_meta

pd = lazy_import("pandas")
xr = lazy_import("xarray")

__all__ = ["scaling_meta", "scaling_fields", "runs_meta", "runs_from"]


def runs_meta(runs: RunsTable) -> dict[str, Any]:
    """The runs-table settings (the values live in the tree's ``constant_data``)."""
    return {"flops_factor": runs.flops_factor, "column_map": dict(runs.column_map),
            "derived": runs.derived}


def runs_from(const: Any, meta: dict[str, Any]) -> RunsTable:
    """A RunsTable from ``constant_data``-like columns and :func:`runs_meta` settings."""
    frame = pd.DataFrame({name: const[name].values for name in ("N", "D", "C", "loss", "U")
                          if name in const})
    if "group" in const:
        frame["group"] = const["group"].values.astype(str)
    return RunsTable(frame=frame, flops_factor=meta["flops_factor"],
                     column_map=meta["column_map"], derived=meta["derived"])


def design_meta(design: Design) -> dict[str, Any]:
    return {"log_centre": dict(design.log_centre),
            "log_loss_centre": design.log_loss_centre,
            "min_loss": design.min_loss,
            "log_range": {k: list(v) for k, v in design.log_range.items()}}


def scaling_meta(fit: Any) -> dict[str, Any]:
    """Everything but the posterior that rebuilds ``fit`` (a ScalingFit), JSON-able."""
    return {"law": fit.law.spec(), "likelihood": fit.likelihood, "seed": fit.seed,
            "level": fit.level, **runs_meta(fit.runs), "design": design_meta(fit.design),
            "groups": None if fit.groups is None else fit.groups.as_dict(),
            "priors": encode_priors(fit.priors), "sampler": sampler_meta(fit.sampler)}


def scaling_fields(tree: xr.DataTree, meta: dict[str, Any]) -> dict[str, Any]:
    """ScalingFit keyword arguments from a file's tree and :func:`scaling_meta` settings."""
    law = get_law(meta["law"])
    groups = meta.get("groups")
    groups = None if groups is None else GroupStructure(
        tuple((name, groups[name]) for name in law.param_names))
    return {"law": law, "likelihood": meta["likelihood"],
            "runs": runs_from(tree["constant_data"], meta), "design": Design(**meta["design"]),
            "posterior": tree, "seed": meta["seed"], "level": meta["level"],
            "sampler": sampler_from_meta(meta["sampler"]), "groups": groups,
            "priors": decode_priors(meta.get("priors"))}
