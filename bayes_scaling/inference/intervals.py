"""Equal-tailed intervals of posterior draws: the default mass and the one column schema."""

from __future__ import annotations

import warnings

import numpy as np

#: Default credible-interval mass (equal-tailed).
DEFAULT_LEVEL = 0.9

__all__ = ["DEFAULT_LEVEL", "quantile_columns", "renamed_level"]


def quantile_columns(prefix: str, draws: np.ndarray, level: float) -> dict[str, np.ndarray]:
    tail = (1.0 - level) / 2.0
    lower, median, upper = np.quantile(draws, [tail, 0.5, 1.0 - tail], axis=0)
    return {prefix: median, f"{prefix}_lower": lower, f"{prefix}_upper": upper}


def renamed_level(level: float | None, default: float | None, **old: float | None) -> float | None:
    """``level`` given under an old name (``confidence``, ``band``, ``prob``): warn, use it.

    Every interval mass in the library is called ``level``; the old keyword names
    still work with a :class:`DeprecationWarning` for a while.
    """
    for name, value in old.items():
        if value is None:
            continue
        warnings.warn(f"{name}= is deprecated; use level= (the same interval mass)",
                      DeprecationWarning, stacklevel=3)
        if level is not None:
            raise TypeError(f"give level= or {name}=, not both")
        level = value
    return default if level is None else level
