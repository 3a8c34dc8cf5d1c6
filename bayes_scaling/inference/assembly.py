"""DataTree assembly: pointwise log-likelihood and the ArviZ DataTree of one data set's draws."""

from __future__ import annotations

import functools
from typing import Any

import jax
import numpy as np
from numpyro.infer import log_likelihood as numpyro_log_likelihood

from .._lazy import lazy_import
from ..data.runs import RunsTable
from ..laws import Law
from ..models.groups import GroupStructure
from .nuts import arviz_sample_stats
from .pointwise import over_draw_blocks

azb = lazy_import("arviz_base")
xr = lazy_import("xarray")

__all__ = ["blocked_log_likelihood", "posterior_tree", "with_log_likelihood"]


def posterior_tree(
    law: Law, runs: RunsTable, samples: dict[str, np.ndarray], stats: dict[str, np.ndarray],
    log_lik: np.ndarray | None, groups: GroupStructure | None = None,
) -> xr.DataTree:
    """The fit's DataTree; ``log_lik=None`` leaves out ``log_likelihood`` (computed on demand)."""
    posterior = {k: v for k, v in samples.items()}
    sample_stats = arviz_sample_stats(stats)
    constant = {name: runs.column(name) for name in ("N", "D", "C", "loss", "U")
                if name in runs.frame.columns}
    dims = {"log_loss": ["run"], **{k: ["run"] for k in constant}}
    coords: dict[str, Any] = {"run": np.arange(runs.num_runs)}
    if runs.has_groups:
        constant["group"] = runs.frame["group"].to_numpy().astype(str)
        dims["group"] = ["run"]
    if groups is not None:  # per-group posterior variables: dim "group", labels as coords
        dims.update({name: ["group"] for name in groups.group_var_names(law) if name in posterior})
        coords["group"] = list(runs.group_labels)
    groups_data = {
        "posterior": posterior,
        "sample_stats": sample_stats,
        "log_likelihood": {"log_loss": log_lik},
        "observed_data": {"log_loss": np.log(runs.loss)},
        "constant_data": constant,
    }
    if log_lik is None:  # computed on demand: ScalingFit.log_likelihood
        del groups_data["log_likelihood"]
    return azb.from_dict(groups_data, dims=dims, coords=coords)


def with_log_likelihood(tree: xr.DataTree, values: np.ndarray) -> xr.DataTree:
    """A copy of ``tree`` with a ``log_likelihood`` group of ``values`` (chain, draw, run)."""
    out = tree.copy()
    out["log_likelihood"] = azb.from_dict(
        {"log_likelihood": {"log_loss": values}},
        dims={"log_loss": ["run"]}, coords={"run": np.arange(values.shape[-1])},
    )["log_likelihood"]
    return out


@functools.cache
def _log_likelihood_fn(model: Any) -> Any:
    """NumPyro's ``log_likelihood`` jitted once per model (eagerly it re-traces every call)."""
    return jax.jit(lambda flat, kwargs: numpyro_log_likelihood(model, flat, **kwargs)["log_loss"])


def blocked_log_likelihood(model: Any, flat: dict[str, np.ndarray],
                           kwargs: dict[str, Any]) -> np.ndarray:
    """The ``log_loss`` site's pointwise density for draws ``flat`` (leading axis: draws).

    Evaluated in blocks of a power-of-two number of draws (at most
    :data:`.pointwise.BLOCK_ELEMENTS` values each; the last block padded with repeats of
    its last draw, so one program per block size), so memory beyond the
    ``(draws, observations)`` result stays a few blocks (as in
    :mod:`.pointwise`, which evaluates the scaling-law density without the
    model). Call inside
    ``jax.enable_x64(True)``.
    """
    fn = _log_likelihood_fn(model)
    return over_draw_blocks(lambda block: fn(block, kwargs), flat,
                            int(np.size(kwargs["log_loss"])))
