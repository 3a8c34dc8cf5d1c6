"""Import heavy dependencies on first use, keeping ``import bayes_scaling`` fast.

pandas, xarray, ArviZ and SciPy's statistics modules together take about as long
to import as JAX itself; most sessions use some of them only later (a summary,
a LOO) and some never. ``pd = lazy_import("pandas")`` binds a stand-in whose
first attribute access imports the module; after that it forwards every
attribute. Nothing is put in ``sys.modules`` until the real import runs.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["lazy_import"]


class _LazyModule:
    __slots__ = ("_name", "_attr", "_target")

    def __init__(self, name: str, attr: str | None = None) -> None:
        self._name, self._attr, self._target = name, attr, None

    def _load(self) -> Any:
        if self._target is None:
            target = importlib.import_module(self._name)
            self._target = getattr(target, self._attr) if self._attr else target
        return self._target

    def __getattr__(self, item: str) -> Any:
        return getattr(self._load(), item)

    def __repr__(self) -> str:
        name = f"{self._name}.{self._attr}" if self._attr else self._name
        return f"<lazy {name}{'' if self._target is None else ' (imported)'}>"


def lazy_import(name: str, attr: str | None = None) -> Any:
    """A stand-in for module ``name`` (or its attribute ``attr``) imported on first use."""
    return _LazyModule(name, attr)
