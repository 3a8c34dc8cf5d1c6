"""The package's layers hold: import-linter's contracts in pyproject.toml pass.

A module that imports from a layer above its own (docs/architecture.md) fails this
test, and so does any import of the study code from the library.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "bayes_scaling"


def _lint_imports() -> list[str]:
    exe = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    if not Path(exe).exists():
        pytest.skip("import-linter is not installed (pip install -e '.[dev]')")
    return [exe, "--config", str(ROOT / "pyproject.toml")]


def test_import_layers_contract_holds():
    env = {"PYTHONPATH": str(ROOT), "PATH": str(Path(sys.executable).parent)}
    proc = subprocess.run(_lint_imports(), cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "0 broken" in proc.stdout


def test_no_package_import_inside_functions():
    """Imports of bayes_scaling modules sit at module level (none hidden in a function
    to dodge a cycle); the command-line entry points may import lazily."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for func in ast.walk(tree):
            if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(func):
                if isinstance(node, ast.ImportFrom) and (
                        node.level > 0 or (node.module or "").startswith("bayes_scaling")):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    allowed = {"bayes_scaling/demo.py"}  # runs as a script: imports the public package
    assert [o for o in offenders if o.split(":")[0] not in allowed] == []


def test_every_module_is_short():
    """No module over ~500 lines: split it along its seams instead."""
    long = {str(p.relative_to(ROOT)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 530}
    assert long == {}


def test_old_module_paths_import_with_a_deprecation_naming_the_new_home():
    """Public names of the flat layout (README before the layers) keep working."""
    import importlib

    import bayes_scaling  # noqa: F401  (installs the finder)

    old = {"classical": ("fit_approach3", "fit_approach2"), "datasets": ("load_chinchilla",),
           "hyperparams": ("fit_hyperparameter_law", "fit_critical_batch_size"),
           "plotting_priors": ("plot_prior_predictive",),
           "accounting": ("Convention", "apply_convention", "compare_conventions")}
    for name, attributes in old.items():
        sys.modules.pop(f"bayes_scaling.{name}", None)
        with pytest.warns(DeprecationWarning, match=f"bayes_scaling.{name} moved to"):
            module = importlib.import_module(f"bayes_scaling.{name}")
        for attribute in attributes:
            assert callable(getattr(module, attribute))
    for shadowed in ("fit", "simulate"):
        with pytest.raises(ImportError, match="is the function"):
            importlib.import_module(f"bayes_scaling.{shadowed}")
    assert callable(bayes_scaling.fit) and callable(bayes_scaling.simulate)
