"""Every notebook in ``notebooks/`` runs top to bottom (nbclient) and is committed clean.

Notebooks are examples and examples are tests: this module is part of the default
suite (each notebook is written to finish in well under a minute on two CPU cores).
The notebooks are executed once per session by the ``executed_notebooks`` fixture
(``tests/conftest.py``), whose executed copies also feed the gallery check of
``tests/test_docs.py``. The kernel is this interpreter (``sys.executable -m
ipykernel_launcher``), so the notebooks see the same virtual environment and the same
checkout as the tests, with ``MPLBACKEND=Agg``. Notebooks that read ``../shared/data``
are skipped when it is absent.
"""

import os
import sys
from pathlib import Path

import pytest
from conftest import NOTEBOOK_TIMEOUT, notebook_kernel_manager

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))


def test_there_are_notebooks():
    names = {path.name for path in NOTEBOOKS}
    assert {"quickstart.ipynb", "extrapolation_uncertainty.ipynb"} <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, (
                f"{path.name}: strip outputs before committing (cell {cell.get('id')})")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path, executed_notebooks):
    executed, elapsed, error = executed_notebooks[path.name]
    if error and error.startswith("skip:"):
        pytest.skip(error[5:].strip())
    assert error is None, f"{path.name} failed: {error}"
    assert elapsed < NOTEBOOK_TIMEOUT, f"{path.name} took {elapsed:.0f} s"
    nb = nbformat.read(executed, as_version=4)
    images = sum("image/png" in out.get("data", {}) for cell in nb.cells
                 if cell.cell_type == "code" for out in cell.outputs)
    assert images >= 1, f"{path.name} drew no figure"
    print(f"{path.name}: {elapsed:.1f} s, {images} figures")


def test_kernel_is_this_interpreter():
    km = notebook_kernel_manager()
    assert km.kernel_spec.argv[0] == sys.executable
    assert os.path.exists(sys.executable)
