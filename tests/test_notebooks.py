"""Every notebook in ``notebooks/`` runs top to bottom (nbclient) and is committed clean.

Notebooks are examples and examples are tests: this module is part of the default
suite (each notebook is written to finish in well under a minute on two CPU cores).
The kernel is this interpreter (``sys.executable -m ipykernel_launcher``), so the
notebooks see the same virtual environment and the same checkout as the tests, with
``MPLBACKEND=Agg``. Notebooks that read ``../shared/data`` are skipped when it is
absent.
"""

import os
import sys
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

from jupyter_client.manager import KernelManager  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
SHARED_DATA = ROOT.parent / "shared" / "data"
#: Seconds for one notebook, start-up and every cell included (each runs in < 60 s).
NOTEBOOK_TIMEOUT = 240


def _needs_shared_data(nb) -> bool:
    return any("shared/data" in cell.source for cell in nb.cells)


def _kernel_manager() -> KernelManager:
    """A kernel running this very interpreter, headless matplotlib."""
    km = KernelManager(kernel_name="python3")
    km.kernel_spec.argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    km.kernel_spec.env = {**km.kernel_spec.env, "MPLBACKEND": "Agg"}
    return km


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
def test_notebook_runs(path):
    nb = nbformat.read(path, as_version=4)
    if _needs_shared_data(nb) and not SHARED_DATA.is_dir():
        pytest.skip(f"{path.name} needs {SHARED_DATA}")
    client = nbclient.NotebookClient(
        nb, km=_kernel_manager(), timeout=NOTEBOOK_TIMEOUT, allow_errors=False,
        resources={"metadata": {"path": str(NOTEBOOK_DIR)}},
    )
    start = time.perf_counter()
    client.execute()
    elapsed = time.perf_counter() - start
    assert elapsed < NOTEBOOK_TIMEOUT, f"{path.name} took {elapsed:.0f} s"
    images = sum("image/png" in out.get("data", {}) for cell in nb.cells
                 if cell.cell_type == "code" for out in cell.outputs)
    assert images >= 1, f"{path.name} drew no figure"
    print(f"{path.name}: {elapsed:.1f} s, {images} figures")


def test_kernel_is_this_interpreter():
    km = _kernel_manager()
    assert km.kernel_spec.argv[0] == sys.executable
    assert os.path.exists(sys.executable)
