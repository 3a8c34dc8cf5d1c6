"""Shape buckets: pad a runs table to one of a few sizes so new tables reuse compiled samplers.

A compiled NUTS program is specialised to the number of runs. Notebook fits
are mostly *new* sizes (a compute cut, one group, another sweep), each of which
would compile for 10-20 s. Padding every table to a bucket size, with a mask
that removes the padded rows from the likelihood, lets every table inside a
seen bucket reuse its program.

Bucket sizes: 64, then steps alternating x1.5 and x4/3 (64, 96, 128, 192, ...,
3072, 4096); above 4096, multiples of ``2**(bit_length(n) - 4)`` (at most
12.5% padding, a handful of buckets per doubling). Padded rows copy the first
real row (finite inputs and log-loss, so no NaN enters the gradient through the
mask) and carry ``mask=False``; they never reach the stored results, which are
built from the real rows only.

``BAYES_SCALING_BUCKETS=0`` turns padding off (each size compiles its own
program, as before).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import jax
import numpy as np

__all__ = ["bucket_size", "buckets_enabled", "pad_model_kwargs", "MIN_BUCKET"]

#: Smallest bucket: tables of fewer runs are padded up to it.
MIN_BUCKET = 64
_GEOMETRIC_LIMIT = 4096


def buckets_enabled() -> bool:
    """False when ``BAYES_SCALING_BUCKETS`` is ``0``/``false``/``off``."""
    return os.environ.get("BAYES_SCALING_BUCKETS", "1").strip().lower() not in ("0", "false",
                                                                                 "off", "no")


def bucket_size(num_runs: int) -> int:
    """The padded size of a table of ``num_runs`` rows (``num_runs`` when padding is off)."""
    n = int(num_runs)
    if n < 1:
        raise ValueError(f"num_runs must be positive, got {num_runs!r}")
    if not buckets_enabled():
        return n
    if n <= _GEOMETRIC_LIMIT:
        size = MIN_BUCKET
        while size < n:  # 64, 96, 128, 192, ...: powers of two and 1.5x them
            size = size * 3 // 2 if size & (size - 1) == 0 else size * 4 // 3
        return size
    step = 1 << (n.bit_length() - 4)
    return -(-n // step) * step


def pad_model_kwargs(model_kwargs: Mapping[str, Any], num_runs: int,
                     size: int | None = None) -> dict[str, Any]:
    """The model's arguments padded to ``size`` rows (default :func:`bucket_size`) plus ``mask``.

    Per-run arrays (``log_inputs``, ``log_loss``, ``groups["index"]``) are padded
    with copies of row 0; everything else (design, priors, per-group counts) is
    unchanged. Works on NumPy copies (``jax.device_put``), so padding a new
    size compiles nothing.
    Call inside ``jax.enable_x64(True)`` to keep float64.
    """
    size = bucket_size(num_runs) if size is None else int(size)
    if size < num_runs:
        raise ValueError(f"cannot pad {num_runs} runs to {size}")
    extra = size - num_runs

    def pad(x: Any) -> Any:
        values = np.asarray(x)
        if values.shape[:1] != (num_runs,):
            raise ValueError(f"per-run array of shape {values.shape}, expected ({num_runs},)")
        if extra:
            values = np.concatenate([values, np.repeat(values[:1], extra, axis=0)])
        return jax.device_put(values)  # jnp.asarray would compile per new shape

    out = dict(model_kwargs)
    out["log_inputs"] = {k: pad(v) for k, v in model_kwargs["log_inputs"].items()}
    if model_kwargs.get("log_loss") is not None:
        out["log_loss"] = pad(model_kwargs["log_loss"])
    if "groups" in model_kwargs:
        out["groups"] = {**model_kwargs["groups"], "index": pad(model_kwargs["groups"]["index"])}
    out["mask"] = jax.device_put(np.arange(size) < num_runs)
    return out
