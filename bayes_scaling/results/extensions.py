"""Methods of a results type that are implemented in a higher layer.

``ScalingFit.plot``, ``.compare``, ``.crossover``, ``.group_effects`` and
``.suggest_runs`` are conveniences whose code lives in :mod:`bayes_scaling.plots`,
:mod:`bayes_scaling.compare` and :mod:`bayes_scaling.design`. Those packages
register their functions here when they are imported (``import bayes_scaling``
imports them all), so the results layer never imports a layer above it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["register", "implementation"]

#: Method name -> (function, the package that provides it).
_REGISTRY: dict[str, Callable[..., Any]] = {}
#: Where each method's implementation lives, for the error message.
PROVIDERS = {"plot": "bayes_scaling.plots", "compare": "bayes_scaling.compare",
             "crossover": "bayes_scaling.compare", "group_effects": "bayes_scaling.compare",
             "suggest_runs": "bayes_scaling.design",
             "default_discrepancy": "bayes_scaling.extrapolation",
             "plot_hyperparameter_law": "bayes_scaling.plots",
             "plot_hyperparameter_sweeps": "bayes_scaling.plots",
             "plot_critical_batch": "bayes_scaling.plots"}


def register(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """Record ``function`` as the implementation of results method ``name``."""
    if name not in PROVIDERS:
        raise ValueError(f"no results method {name!r}; known: {sorted(PROVIDERS)}")
    _REGISTRY[name] = function
    return function


def implementation(name: str) -> Callable[..., Any]:
    """The registered implementation of results method ``name``."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise RuntimeError(f"{name}() is provided by {PROVIDERS[name]}: import it (or "
                           "bayes_scaling) first") from None
