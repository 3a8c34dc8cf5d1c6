"""The registry of compiled samplers, and releasing them before the process runs out of maps.

Every compiled XLA CPU program keeps its machine code in memory mappings made by
LLVM, and JAX keeps every program it compiled for the life of the process. A
long session that compiles many shapes (a notebook over many sweeps, the test
suite) reaches the kernel's limit on mappings per process (Linux
``vm.max_map_count``, 65,530 by default), and the next compilation fails with
"Cannot allocate memory" or crashes. :func:`guard_memory_maps` (called before
every NUTS run) drops the compiled samplers and JAX's compile caches when the
count passes :data:`RELEASE_SHARE` of the limit, with a warning: the next fit of
each shape compiles again.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from pathlib import Path

import jax

from ..exceptions import BayesScalingWarning

__all__ = ["SAMPLERS", "RELEASE_SHARE", "CompiledReleasedWarning", "guard_memory_maps",
           "memory_map_count", "memory_map_limit", "release_compiled"]

#: Compiled samplers by (model, settings, chains, layout, shapes): one program each.
SAMPLERS: dict[tuple, Callable] = {}
#: Share of the process's memory-map limit at which compiled programs are released.
RELEASE_SHARE = 0.8


class CompiledReleasedWarning(BayesScalingWarning):
    """Compiled samplers were released near the memory-map limit; fits compile again."""


def memory_map_count() -> int | None:
    """Memory mappings of this process (Linux), or ``None`` where it cannot be read."""
    try:
        with open(f"/proc/{os.getpid()}/maps", "rb") as maps:
            return sum(1 for _ in maps)
    except OSError:
        return None


def memory_map_limit() -> int | None:
    """The kernel's limit on mappings per process (Linux), or ``None``."""
    try:
        return int(Path("/proc/sys/vm/max_map_count").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def release_compiled() -> int:
    """Drop every compiled sampler and JAX's compile caches; returns how many samplers.

    Their memory (and memory mappings) is freed once no result refers to them;
    the next fit of each shape compiles again.
    """
    count = len(SAMPLERS)
    SAMPLERS.clear()
    jax.clear_caches()
    return count


def guard_memory_maps(share: float = RELEASE_SHARE) -> bool:
    """Release compiled programs when the process nears its memory-map limit.

    Returns whether it released them (warning :class:`CompiledReleasedWarning`).
    """
    count, limit = memory_map_count(), memory_map_limit()
    if count is None or limit is None or count < share * limit:
        return False
    released = release_compiled()
    warnings.warn(f"this process holds {count} of its {limit} memory mappings (compiled "
                  f"programs); released {released} compiled samplers and JAX's compile caches "
                  "so that compilation keeps working: the next fit of each shape compiles "
                  "again", CompiledReleasedWarning, stacklevel=3)
    return True
