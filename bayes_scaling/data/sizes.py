"""Size completion: the one place that derives the missing one of N, D, C from C = k N D."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["complete_sizes"]


def complete_sizes(
    N: Any, D: Any, C: Any, flops_factor: float
) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """Broadcast the given sizes and derive the missing one from ``C = k N D``."""
    given = {k: np.asarray(v, dtype=np.float64) for k, v in (("N", N), ("D", D), ("C", C))
             if v is not None}
    if not given:
        raise ValueError("give at least one of N, D, C")
    for name, values in given.items():
        if not np.all(np.isfinite(values)) or np.any(values <= 0):
            raise ValueError(f"{name} must be positive and finite")
    arrays = dict(zip(given, np.broadcast_arrays(*given.values()), strict=True))
    if len(arrays) == 2:
        if "C" not in arrays:
            arrays["C"] = flops_factor * arrays["N"] * arrays["D"]
        elif "D" not in arrays:
            arrays["D"] = arrays["C"] / (flops_factor * arrays["N"])
        else:
            arrays["N"] = arrays["C"] / (flops_factor * arrays["D"])
    return arrays.get("N"), arrays.get("D"), arrays.get("C")
