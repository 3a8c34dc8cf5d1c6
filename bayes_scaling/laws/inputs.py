"""A law's inputs from a runs table or from requested sizes (the law's design and log inputs)."""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

from ..data.runs import RunsTable
from ..data.sizes import complete_sizes
from . import Design, Law

__all__ = ["design_for", "log_inputs", "law_inputs"]


def design_for(runs: RunsTable, law: Law) -> Design:
    log_centre, log_range = {}, {}
    for name in ("N", "D", "C", "U"):
        if name in runs.frame.columns:
            log_values = np.log(runs.column(name))
            log_centre[name] = float(np.mean(log_values))
            log_range[name] = (float(np.min(log_values)), float(np.max(log_values)))
    loss = runs.loss
    return Design(log_centre=log_centre, log_loss_centre=float(np.mean(np.log(loss))),
                  min_loss=float(loss.min()), log_range=log_range)


def log_inputs(law: Law, runs: RunsTable) -> dict[str, jax.Array]:
    # NumPy and device_put, not jnp.log/jnp.asarray: those compile for every new table size.
    return {name: jax.device_put(np.log(runs.column(name))) for name in law.inputs}


def law_inputs(law: Law, N: Any, D: Any, C: Any, flops_factor: float,  # noqa: N803
                U: Any = None) -> dict[str, np.ndarray]:  # noqa: N803
    """Flattened sizes (every one known) after deriving the missing one; the law's inputs required.

    ``U`` (unique tokens, for laws with that input) broadcasts with the sizes;
    ``inf`` is allowed (unlimited unique data).
    """
    N, D, C = complete_sizes(N, D, C, flops_factor)
    sizes = {"N": N, "D": D, "C": C}
    if U is not None:
        if "U" not in law.inputs:
            raise ValueError(f"the {law.name} law does not use U (unique tokens); its inputs are "
                             f"{', '.join(law.inputs)}")
        unique = np.asarray(U, dtype=np.float64)
        if np.any(np.isnan(unique)) or np.any(unique <= 0):
            raise ValueError("U must be positive (inf: unlimited unique data)")
        names = [k for k, v in sizes.items() if v is not None]
        *arrays, unique = np.broadcast_arrays(*(sizes[k] for k in names), unique)
        sizes = {**dict(zip(names, arrays, strict=True)), "U": unique}
    missing = [name for name in law.inputs if sizes.get(name) is None]
    if missing:
        raise ValueError(f"the {law.name} law needs {', '.join(law.inputs)}; "
                         f"missing {', '.join(missing)}")
    return {k: np.ravel(v) for k, v in sizes.items() if v is not None}
