"""Size completion: the one place that derives the missing one of N, D, C from C = k N D."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["complete_sizes", "CONSISTENCY_RTOL"]


#: Relative tolerance of ``C = k N D`` when all three sizes are given.
CONSISTENCY_RTOL = 1e-6


def complete_sizes(
    N: Any, D: Any, C: Any, flops_factor: float, *, minimum: int = 1,  # noqa: N803
) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """Broadcast the given sizes and derive the missing one from ``C = k N D``.

    The one size-completion rule of the library (Bayesian predictions, classical
    baselines, plots, simulation).

    Parameters
    ----------
    N, D, C : array-like or None
        Parameters, tokens, FLOPs; positive and finite where given.
    flops_factor : float
        ``k`` in ``C = k N D``.
    minimum : int, default 1
        How many of the three must be given (2: the third must follow).

    Raises
    ------
    ValueError
        Fewer than ``minimum`` given, a non-positive size, or all three given
        and inconsistent with ``C = k N D`` (relative tolerance 1e-6).
    """
    given = {k: np.asarray(v, dtype=np.float64) for k, v in (("N", N), ("D", D), ("C", C))
             if v is not None}
    if len(given) < max(minimum, 1):
        raise ValueError("give at least one of N, D, C" if minimum <= 1 else
                         "give two of N, D, C (the third follows from C = k N D)")
    for name, values in given.items():
        if not np.all(np.isfinite(values)) or np.any(values <= 0):
            raise ValueError(f"{name} must be positive and finite")
    arrays = dict(zip(given, np.broadcast_arrays(*given.values()), strict=True))
    if len(arrays) == 3 and not np.allclose(
            arrays["C"], flops_factor * arrays["N"] * arrays["D"], rtol=CONSISTENCY_RTOL):
        raise ValueError(f"N, D and C are inconsistent with C = {flops_factor:g} N D; "
                         "give only two")
    if len(arrays) == 2:
        if "C" not in arrays:
            arrays["C"] = flops_factor * arrays["N"] * arrays["D"]
        elif "D" not in arrays:
            arrays["D"] = arrays["C"] / (flops_factor * arrays["N"])
        else:
            arrays["N"] = arrays["C"] / (flops_factor * arrays["D"])
    return arrays.get("N"), arrays.get("D"), arrays.get("C")
