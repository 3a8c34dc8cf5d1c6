"""The documentation site builds with warnings as errors and documents the public API.

``-m docs`` selects these tests (they run by default; ``-m "not docs"`` skips them).
The fast build does not execute notebooks: it renders the gallery from the copies
that the ``executed_notebooks`` fixture (``tests/conftest.py``) ran once for
``tests/test_notebooks.py`` (``nb_execution_mode=off``), so the default suite checks
every gallery page's figures without running the notebooks twice. The ``slow``
check runs the full ``make docs`` build, which executes the notebooks itself through
myst-nb's cache (``docs/_build/.jupyter_cache``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("sphinx")
pytest.importorskip("myst_nb")
pytest.importorskip("numpydoc")
pytest.importorskip("pydata_sphinx_theme")

import bayes_scaling  # noqa: E402

pytestmark = pytest.mark.docs

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _build(out: Path, *, execute: bool, executed: Path | None = None
           ) -> subprocess.CompletedProcess:
    # -E: read every page again (executed notebooks come from myst-nb's cache, or
    # from `executed`, a folder of notebooks with their outputs).
    command = [sys.executable, "-m", "sphinx", "-E", "-b", "html", "-W", "--keep-going", "-n",
               "-q", str(DOCS), str(out)]
    if not execute:
        command[4:4] = ["-D", "nb_execution_mode=off"]
    env = {**os.environ, "BAYES_SCALING_EXECUTED_NOTEBOOKS": str(executed or "")}
    return subprocess.run(command, capture_output=True, text=True, timeout=1800, cwd=ROOT,
                          env=env)


def _figures(site: Path, stem: str) -> list[str]:
    """The PNG figures the gallery page of a notebook shows (each must exist)."""
    html = (site / "gallery" / f"{stem}.html").read_text("utf-8")
    sources = re.findall(r'<img[^>]+src="([^"]+\.png)"', html)
    for src in sources:
        assert (site / "gallery" / src).is_file(), f"gallery/{stem}: {src} missing"
    return sources


@pytest.fixture(scope="module")
def fast_site(tmp_path_factory, executed_notebooks) -> Path:
    executed = tmp_path_factory.mktemp("executed")
    for path, _, _ in executed_notebooks.values():
        if path is not None:
            shutil.copyfile(path, executed / path.name)
    out = tmp_path_factory.mktemp("docs") / "html"
    try:
        proc = _build(out, execute=False, executed=executed)
    finally:
        _build_clean_gallery()
    assert proc.returncode == 0, f"sphinx -W failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    return out


def _build_clean_gallery() -> None:
    """Put the committed (output-free) notebooks back into docs/gallery/."""
    for notebook in NOTEBOOKS:
        shutil.copyfile(notebook, DOCS / "gallery" / notebook.name)


def test_every_public_name_has_a_rendered_entry(fast_site):
    missing = []
    for name in bayes_scaling.__all__:
        page = fast_site / "generated" / f"bayes_scaling.{name}.html"
        if not page.is_file() or f'id="bayes_scaling.{name}"' not in page.read_text("utf-8"):
            missing.append(name)
    assert missing == [], f"add these to docs/api.rst: {missing}"
    api = (fast_site / "api.html").read_text("utf-8")
    assert all(f"generated/bayes_scaling.{name}.html" in api for name in bayes_scaling.__all__)


def test_methods_are_documented(fast_site):
    page = (fast_site / "generated" / "bayes_scaling.ScalingFit.html").read_text("utf-8")
    for method in ("summary", "predict", "optimal_allocation", "plot", "to_netcdf"):
        assert f'id="bayes_scaling.ScalingFit.{method}"' in page


def test_every_page_of_the_site_is_built(fast_site):
    pages = ["index", "getting_started", "api", "architecture", "scaling_out",
             "user_guide/index", "user_guide/fit_and_check", "user_guide/extrapolation",
             "user_guide/allocation", "user_guide/architectures",
             "user_guide/beyond_chinchilla", "user_guide/run_design", "user_guide/classical",
             "user_guide/report", "user_guide/install", "gallery/index"]
    pages += [f"gallery/{nb.stem}" for nb in NOTEBOOKS]
    assert [p for p in pages if not (fast_site / f"{p}.html").is_file()] == []


#: The pages issue #17 asks for, each linked from the landing page's navigation.
ISSUE_PAGES = {
    "getting started": "getting_started", "fit and check a law": "user_guide/fit_and_check",
    "extrapolate with honest bands": "user_guide/extrapolation",
    "compute-optimal allocation": "user_guide/allocation",
    "compare architectures": "user_guide/architectures",
    "beyond Chinchilla": "user_guide/beyond_chinchilla",
    "which runs to train next": "user_guide/run_design",
    "many fits and scaling out": "scaling_out", "gallery": "gallery/index", "API": "api",
    "architecture": "architecture",
}


def test_issue_pages_are_linked_from_the_index(fast_site):
    index = (fast_site / "index.html").read_text("utf-8")
    assert [task for task, page in ISSUE_PAGES.items() if f'href="{page}.html' not in index] == []
    beyond = (fast_site / "user_guide" / "beyond_chinchilla.html").read_text("utf-8")
    for section in ("repetition", "regimes", "downstream", "learning-curves", "hyperparameters"):
        assert re.search(rf'<section id="{section}[^"]*"', beyond), section
    getting_started = (fast_site / "getting_started.html").read_text("utf-8")
    text = re.sub(r"<[^>]+>", "", getting_started)  # highlighted code is split into spans
    assert "make demo" in text and "make test" in text and 'id="quickstart"' in getting_started


def test_math_is_marked_up_for_mathjax(fast_site):
    """Formulas render with MathJax from its CDN (offline: TeX source; see install.md)."""
    pages = [p for p in fast_site.rglob("*.html") if 'class="math' in p.read_text("utf-8")]
    assert pages, "no page has math: the mathjax note in docs/user_guide/install.md is stale"
    assert all("mathjax" in p.read_text("utf-8") for p in pages)


def test_every_gallery_page_has_its_figures(fast_site, executed_notebooks):
    """Each executed notebook's figures are on its gallery page (rendered, files present)."""
    import nbformat

    for notebook in NOTEBOOKS:
        executed, _, error = executed_notebooks[notebook.name]
        if executed is None:
            assert error and error.startswith("skip:"), error  # a failure: test_notebooks says
            continue
        nb = nbformat.read(executed, as_version=4)
        drawn = sum("image/png" in out.get("data", {}) for cell in nb.cells
                    if cell.cell_type == "code" for out in cell.outputs)
        shown = _figures(fast_site, notebook.stem)
        assert drawn >= 1 and len(shown) >= drawn, (
            f"gallery/{notebook.stem} shows {len(shown)} of the {drawn} figures its notebook drew")


@pytest.mark.slow
def test_gallery_pages_have_their_figures():
    """The full `make docs` build, which executes the notebooks itself (myst-nb cache)."""
    out = DOCS / "_build" / "html"  # where `make docs` writes; reuses its notebook cache
    proc = _build(out, execute=True)
    assert proc.returncode == 0, f"sphinx -W failed:\n{proc.stderr[-5000:]}"
    for notebook in NOTEBOOKS:
        assert _figures(out, notebook.stem), f"gallery/{notebook.stem} shows no figure"
