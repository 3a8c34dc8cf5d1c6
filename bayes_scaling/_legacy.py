"""Old flat module paths (``bayes_scaling.classical``, ...) kept importable.

The package was split into layers (see ``docs/architecture.md``). Importing an
old path gives the module at its new home with a :class:`DeprecationWarning`
naming it; ``bayes_scaling.fit`` and ``bayes_scaling.simulate`` are functions
now, so those two old module paths raise an ImportError that names the new home.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings
from types import ModuleType

#: Old module -> new module(s) (relative to ``bayes_scaling``; several: it was split).
MOVED: dict[str, str | tuple[str, ...] | None] = {
    "data": None,  # still a package: bayes_scaling.data re-exports the runs table
    "accounting": ("data.accounting", "compare.conventions"),
    "datasets": "data.datasets",
    "allocation": "laws.allocation",
    "model": "models.scaling",
    "groups": "models.groups",
    "inference": None,
    "diagnostics": "inference.diagnostics",
    "batch": "results.batch",
    "learning_curves": "results.learning_curves",
    "downstream": "results.downstream",
    "hyperparams": "results.hyperparams",
    "model_averaging": "compare.model_averaging",
    "regimes": "checks.regimes",
    "run_design": "design.run_design",
    "repetition": "design.repetition",
    "inference_allocation": "design.inference_allocation",
    "classical": "baselines",
    "plotting": "plots.plotting",
    "plotting_groups": "plots.groups",
    "plotting_priors": "plots.priors",
    "replication": "studies.replication",
}
#: Old modules whose name is now a function of the package.
SHADOWED = {"fit": "results.scaling_fit", "simulate": "models.simulation"}


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, target: str | tuple[str, ...]) -> None:
        self.target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        if isinstance(self.target, str):
            return importlib.import_module(self.target)
        # One old module split in several: a module that looks names up in each.
        parts = [importlib.import_module(name) for name in self.target]
        module = ModuleType(spec.name, parts[0].__doc__)
        module.__all__ = [n for part in parts for n in getattr(part, "__all__", ())]

        def __getattr__(name: str):  # noqa: N807
            for part in parts:
                if hasattr(part, name):
                    return getattr(part, name)
            raise AttributeError(f"module {spec.name!r} has no attribute {name!r}")

        module.__getattr__ = __getattr__
        return module

    def exec_module(self, module: ModuleType) -> None:  # already executed at its new home
        pass


class _LegacyFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: object = None, target: object = None):
        package, _, name = fullname.partition(".")
        if package != "bayes_scaling" or "." in name:
            return None
        if name in SHADOWED:
            raise ModuleNotFoundError(
                f"the module bayes_scaling.{name} moved to bayes_scaling.{SHADOWED[name]} "
                f"(bayes_scaling.{name} is the function)", name=fullname)
        new = MOVED.get(name)
        if new is None:
            return None
        homes = (new,) if isinstance(new, str) else new
        where = " and ".join(f"bayes_scaling.{home}" for home in homes)
        warnings.warn(f"bayes_scaling.{name} moved to {where}; import it from there",
                      DeprecationWarning, stacklevel=2)
        target = f"bayes_scaling.{new}" if isinstance(new, str) else tuple(
            f"bayes_scaling.{home}" for home in new)
        return importlib.machinery.ModuleSpec(fullname, _AliasLoader(target))


def install() -> None:
    """Put the finder on ``sys.meta_path`` once."""
    if not any(isinstance(f, _LegacyFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _LegacyFinder())  # before editable-install finders
