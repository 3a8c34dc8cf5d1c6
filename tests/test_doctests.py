"""The docstring examples of every module run as doctests.

Examples marked ``+SKIP`` are long runs whose calls are covered by the module's own
tests; everything else must run and print what the docstring says.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import bayes_scaling

MODULES = sorted(
    info.name for info in pkgutil.walk_packages(bayes_scaling.__path__, "bayes_scaling.")
    if info.name not in ("bayes_scaling.demo",)  # a script: `make demo` runs it
)
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
#: Modules whose examples read a fitted ``fit`` (given a small fit of the example runs).
NEEDS_FIT = {"bayes_scaling.plotting"}


@pytest.fixture(scope="module")
def small_fit():
    return bayes_scaling.fit(bayes_scaling.example_runs(), chains=2, draws=200, warmup=200,
                             seed=0, warn=False)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name, request):
    module = importlib.import_module(name)
    extra = {"fit": request.getfixturevalue("small_fit")} if name in NEEDS_FIT else {}
    result = doctest.testmod(module, optionflags=FLAGS, verbose=False, report=True,
                             extraglobs=extra)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
