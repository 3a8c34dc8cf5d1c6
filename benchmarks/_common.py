"""Helpers shared by the speed benchmarks: the compared parameters, ESS, R-hat, peak memory."""

from __future__ import annotations

import resource

#: The law's parameters every row's ESS and R-hat are taken over.
NAMES = ("E", "A", "alpha", "B", "beta")


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def min_bulk_ess(draws: dict) -> float:
    """``draws[name]`` shaped (chains, draws)."""
    from arviz_stats.base import array_stats

    return float(min(array_stats.ess(draws[n], chain_axis=0, draw_axis=1, method="bulk")
                     for n in NAMES))


def max_rhat(draws: dict) -> float:
    from arviz_stats.base import array_stats

    return float(max(array_stats.rhat(draws[n], chain_axis=0, draw_axis=1) for n in NAMES))
