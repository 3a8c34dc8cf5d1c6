"""Checks of a fit's options and priors, and the model's keyword arguments for one runs table."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import numpy as np
import numpyro.distributions as dist

from ..data.runs import RunsTable, load_runs
from ..laws import Design, Law
from ..laws.inputs import design_for, log_inputs
from ..priors.literature import resolve_priors
from .groups import GroupStructure, check_group_priors, group_model_kwargs
from .likelihood import LIKELIHOODS, noise_priors

__all__ = ["check_options", "check_priors", "prepare"]


def check_priors(law: Law, likelihood: str, priors: Mapping[str, Any] | None,
                  groups: GroupStructure | None = None) -> dict:

    priors = resolve_priors(law, priors)
    dummy = Design(log_centre={"N": 0.0, "D": 0.0, "C": 0.0}, log_loss_centre=0.0, min_loss=1.0)
    names: list[str] = []

    def default_names(design: Mapping[str, Any]) -> int:
        names.extend(law.default_priors(design))
        return 0

    # Traced, not run: only the names are needed, and building the distributions
    # eagerly compiles a small XLA program per jnp operation (~0.1 s of a cold fit).
    jax.eval_shape(default_names, dummy.as_arrays())
    allowed = set(names) | set(law.param_names)
    allowed |= set(noise_priors(likelihood))
    if groups is not None:  # spreads of pooled parameters
        allowed |= {n for n in groups.hyper_names(law) if n.endswith("_tau")}
        check_group_priors(law, groups, priors)
    for name, prior in priors.items():
        if name not in allowed:
            raise ValueError(
                f"prior given for unknown parameter {name!r}; the {law.name} law with a "
                f"{likelihood} likelihood has {sorted(allowed)}"
            )
        if not isinstance(prior, dist.Distribution):
            raise TypeError(
                f"prior for {name!r} must be a numpyro distribution, got {type(prior).__name__}"
            )
    return priors


def check_options(likelihood: str, level: float) -> None:
    if likelihood not in LIKELIHOODS:
        raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {likelihood!r}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")


def prepare(
    data: Any, law: Law, likelihood: str, priors: dict, flops_factor: float,
    columns: Mapping[str, str] | None, *, groups: GroupStructure | None = None,
) -> tuple[RunsTable, Design, dict[str, Any]]:
    """Validate one runs table and build the model's (traced) keyword arguments."""
    runs = data if isinstance(data, RunsTable) else load_runs(
        data, flops_factor=flops_factor, columns=columns)
    num_noise = len(noise_priors(likelihood))
    num_law = law.num_params if groups is None else groups.num_free(len(runs.group_labels))
    runs.require(law.inputs, min_runs=num_law + num_noise + 1, law=f"{law.name} law")
    design = design_for(runs, law)
    with jax.enable_x64(True):
        model_kwargs = {
            "log_inputs": log_inputs(law, runs),
            "log_loss": jax.device_put(np.log(runs.loss)),  # jnp ops compile per shape
            "design": design.as_arrays(),
            "priors": priors,
        }
        if groups is not None:
            model_kwargs["groups"] = group_model_kwargs(runs)
    return runs, design, model_kwargs
