"""The documentation site builds with warnings as errors and documents the public API.

``-m docs`` selects these tests (they run by default; ``-m "not docs"`` skips them).
The fast build renders every page with the notebooks *not* executed; the gallery
check (also ``slow``) runs the full ``make docs`` build, which executes the
notebooks through myst-nb's cache (``docs/_build/.jupyter_cache``), so only
changed notebooks run again.
"""

from __future__ import annotations

import re
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


def _build(out: Path, *, execute: bool) -> subprocess.CompletedProcess:
    # -E: read every page again (executed notebooks come from myst-nb's cache).
    command = [sys.executable, "-m", "sphinx", "-E", "-b", "html", "-W", "--keep-going", "-n",
               "-q", str(DOCS), str(out)]
    if not execute:
        command[4:4] = ["-D", "nb_execution_mode=off"]
    return subprocess.run(command, capture_output=True, text=True, timeout=1800, cwd=ROOT)


@pytest.fixture(scope="module")
def fast_site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("docs") / "html"
    proc = _build(out, execute=False)
    assert proc.returncode == 0, f"sphinx -W failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    return out


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


@pytest.mark.slow
def test_gallery_pages_have_their_figures():
    out = DOCS / "_build" / "html"  # where `make docs` writes; reuses its notebook cache
    proc = _build(out, execute=True)
    assert proc.returncode == 0, f"sphinx -W failed:\n{proc.stderr[-5000:]}"
    for notebook in NOTEBOOKS:
        html = (out / "gallery" / f"{notebook.stem}.html").read_text("utf-8")
        figures = re.findall(r'<img[^>]+src="[^"]*\.png"', html)
        assert figures, f"gallery/{notebook.stem} shows no figure"
        for src in re.findall(r'<img[^>]+src="([^"]+\.png)"', html):
            assert (out / "gallery" / src).is_file(), src
