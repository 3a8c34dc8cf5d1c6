"""Equal-tailed intervals of posterior draws: the default mass and the one column schema."""

from __future__ import annotations

import numpy as np

#: Default credible-interval mass (equal-tailed).
DEFAULT_LEVEL = 0.9

__all__ = ["DEFAULT_LEVEL", "quantile_columns"]


def quantile_columns(prefix: str, draws: np.ndarray, level: float) -> dict[str, np.ndarray]:
    tail = (1.0 - level) / 2.0
    lower, median, upper = np.quantile(draws, [tail, 0.5, 1.0 - tail], axis=0)
    return {prefix: median, f"{prefix}_lower": lower, f"{prefix}_upper": upper}
