"""The docstring examples of every module run as doctests.

Examples that read a fitted ``fit`` get the suite's shared fit of the bundled
example (``example_fit`` in ``tests/conftest.py``: compiled and sampled once per
session, so the doctests add only the calls they make), plus ``runs`` (the bundled
example) and ``bs``; ``acc_fit`` and the data-constrained ``fit`` are built like
their examples. Examples that fit a model themselves (downstream, data-constrained,
learning curves, law comparison) use the data shape and sampler settings of that
model's own test module, so the suite compiles each sampler once for both (the
hyperparameter law's test fixture is ``slow``-only: its example compiles its own).
Printed output is structural (columns, shapes, counts), never a sampler-dependent
number, so the examples hold for every seed. Examples marked
``+SKIP`` are long runs (a new sampler to compile or many refits); each says so,
and :func:`test_every_skipped_call_is_covered_by_a_test` checks that the call it
skips is made by some test.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bayes_scaling

MODULES = sorted(
    info.name for info in pkgutil.walk_packages(bayes_scaling.__path__, "bayes_scaling.")
    if info.name not in ("bayes_scaling.demo",)  # a script: `make demo` runs it
)
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
#: Modules whose examples read a fitted ``fit`` of the example runs.
NEEDS_FIT = {
    "bayes_scaling.checks.outliers",
    "bayes_scaling.checks.sensitivity",
    "bayes_scaling.design.inference_allocation",
    "bayes_scaling.design.run_design",
    "bayes_scaling.plots.plotting",
    "bayes_scaling.results.scaling_fit",
}
#: Modules whose examples read ``loss_fit`` and ``acc_fit`` (a DownstreamFit).
NEEDS_DOWNSTREAM = {"bayes_scaling.results.chained"}
#: Modules whose examples read a data-constrained ``fit``.
NEEDS_CONSTRAINED = {"bayes_scaling.design.repetition"}
ROOT = Path(__file__).resolve().parent.parent


def _run(name: str, extra: dict) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=FLAGS, verbose=False, report=True,
                             extraglobs=extra)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"


@pytest.fixture(scope="module")
def acc_fit(seed):
    """The DownstreamFit of ``fit_downstream``'s example: 40 rows, 2 x 500 draws, the
    shape and settings of tests/test_downstream.py, so the compiled sampler is shared."""
    loss = np.linspace(1.8, 3.5, 40)
    truth = 0.25 + 0.65 / (1 + np.exp(-3.0 * (2.4 - loss)))
    evals = pd.DataFrame({"loss": loss,
                          "accuracy": np.random.default_rng(0).binomial(1000, truth) / 1000})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bayes_scaling.SamplingWarning)
        return bayes_scaling.fit_downstream(evals, chance=0.25, num_questions=1000, seed=seed,
                                            chains=2, draws=500, warmup=500)


@pytest.fixture(scope="module")
def constrained_fit(seed):
    """The data-constrained fit of ``DataConstrained``'s example: 96 runs, 2 x 300 draws,
    the shape and settings of tests/test_data_constrained.py (compiled sampler shared)."""
    from bayes_scaling.laws.data_constrained import PUBLISHED_C4

    law = bayes_scaling.get_law({"name": "data_constrained", "tied_exponents": True})
    n, u, e = (a.ravel() for a in np.meshgrid(
        np.geomspace(3e7, 3e9, 4), np.geomspace(1e8, 3e10, 4), [1, 2, 5, 12, 25, 50],
        indexing="ij"))
    runs = bayes_scaling.simulate(law, PUBLISHED_C4, N=n, D=u * e, U=u, seed=1)
    return bayes_scaling.fit(runs, law=law, chains=2, draws=300, warmup=300, seed=seed)


@pytest.mark.parametrize(
    "name", sorted(set(MODULES) - NEEDS_FIT - NEEDS_DOWNSTREAM - NEEDS_CONSTRAINED))
def test_docstring_examples_run(name):
    _run(name, {})


@pytest.mark.parametrize("name", sorted(NEEDS_CONSTRAINED))
def test_docstring_examples_with_a_constrained_fit_run(name, constrained_fit):
    _run(name, {"fit": constrained_fit})


@pytest.mark.parametrize("name", sorted(NEEDS_DOWNSTREAM))
def test_docstring_examples_with_a_downstream_fit_run(name, example_fit, acc_fit):
    _run(name, {"bs": bayes_scaling, "loss_fit": example_fit, "acc_fit": acc_fit})


@pytest.mark.parametrize("name", sorted(NEEDS_FIT))
def test_docstring_examples_with_a_fit_run(name, example_fit):
    import matplotlib.pyplot as plt

    try:
        _run(name, {"bs": bayes_scaling, "runs": bayes_scaling.example_runs(), "fit": example_fit})
    finally:
        plt.close("all")


def test_fit_needing_modules_exist():
    needs = NEEDS_FIT | NEEDS_DOWNSTREAM | NEEDS_CONSTRAINED
    assert needs <= set(MODULES), sorted(needs - set(MODULES))


_SKIP = re.compile(r">>> (.*?)#\s*doctest:\s*\+SKIP")
_CALL = re.compile(r"([A-Za-z_][A-Za-z_0-9]*)\(")
_NOT_CALLS = {"print", "list", "len", "dict", "range", "sorted", "float", "int", "str",
              "query"}  # builtins and pandas methods


def _example_block(lines: list[str], index: int) -> list[str]:
    """The contiguous ``>>>``/``...`` lines around ``lines[index]``."""
    def is_example(line):
        return line.lstrip().startswith((">>>", "..."))
    start = end = index
    while start > 0 and is_example(lines[start - 1]):
        start -= 1
    while end + 1 < len(lines) and is_example(lines[end + 1]):
        end += 1
    return lines[start:end + 1]


def test_every_skipped_call_is_covered_by_a_test():
    """Each ``+SKIP`` example says (in its block) why it is skipped, a long run, and
    every call it skips is made by some test."""
    tests = "\n".join(p.read_text("utf-8") for p in (ROOT / "tests").glob("test_*.py"))
    uncovered, unexplained = [], []
    for path in sorted((ROOT / "bayes_scaling").rglob("*.py")):
        lines = path.read_text("utf-8").splitlines()
        for index, line in enumerate(lines):
            match = _SKIP.search(line)
            if not match:
                continue
            where = f"{path.relative_to(ROOT)}:{index + 1}"
            if not any("long run" in text.lower() for text in _example_block(lines, index)):
                unexplained.append(where)
            for call in set(_CALL.findall(match.group(1))) - _NOT_CALLS:
                if not re.search(rf"\b{call}\(", tests):
                    uncovered.append(f"{where} {call}")
    assert unexplained == [], f"say why these examples are skipped (a long run): {unexplained}"
    assert uncovered == [], f"no test makes these skipped calls: {uncovered}"
