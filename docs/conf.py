"""Sphinx configuration of the bayes_scaling documentation (``make docs``).

The notebooks live in ``notebooks/`` at the repository root (the one source); they
are copied into ``docs/gallery/`` (ignored by git) at configuration time so that
myst-nb renders them. Execution: ``nb_execution_mode = "cache"`` (jupyter-cache under
``docs/_build/.jupyter_cache``), so a notebook is only re-run when it changed.
``-D nb_execution_mode=off`` builds the site without running them (the fast test).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MPLBACKEND", "Agg")

import bayes_scaling  # noqa: E402  (before JAX starts: host devices)

project = "bayes_scaling"
author = "bayes_scaling contributors"
copyright = "bayes_scaling contributors"  # noqa: A001
release = version = bayes_scaling.__version__

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    # Formulas render in the browser with MathJax loaded from a CDN: offline they show
    # as TeX source (docs/user_guide/install.md). No copy of MathJax is vendored.
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_copybutton",
]

# --- notebooks -> gallery ---------------------------------------------------
# notebooks/ is the one source; docs/gallery/*.ipynb are ignored copies. The test
# suite sets BAYES_SCALING_EXECUTED_NOTEBOOKS to a folder of notebooks it has just
# executed, and builds with nb_execution_mode=off: the gallery shows their outputs
# without running the notebooks a second time.
GALLERY = DOCS / "gallery"
GALLERY.mkdir(exist_ok=True)
EXECUTED = Path(os.environ.get("BAYES_SCALING_EXECUTED_NOTEBOOKS") or ROOT / "notebooks")
for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
    source = EXECUTED / notebook.name if (EXECUTED / notebook.name).is_file() else notebook
    target = GALLERY / notebook.name
    if not target.exists() or target.read_bytes() != source.read_bytes():
        shutil.copyfile(source, target)
for stale in set(GALLERY.glob("*.ipynb")) - {GALLERY / nb.name
                                             for nb in (ROOT / "notebooks").glob("*.ipynb")}:
    stale.unlink()  # a notebook removed from notebooks/ leaves the gallery too

nb_execution_mode = "cache"
nb_execution_cache_path = str(DOCS / "_build" / ".jupyter_cache")
nb_execution_timeout = 600
nb_execution_raise_on_error = True
nb_execution_show_tb = True
# The notebooks read ../shared/data relative to notebooks/: run them from there.
nb_execution_in_temp = False
nb_kernel_rgx_aliases = {".*": "python3"}
myst_enable_extensions = ["dollarmath", "colon_fence"]

source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
exclude_patterns = ["_build", "**.ipynb_checkpoints", "README.md"]

# --- API reference ----------------------------------------------------------
autosummary_generate = True
autosummary_imported_members = True
autodoc_default_options = {"members": True, "inherited-members": False}
autodoc_typehints = "none"  # numpydoc sections carry the types
numpydoc_show_class_members = False
numpydoc_xref_param_type = False
numpydoc_validation_checks: set[str] = set()

# A broken cross-reference to our own API fails the build (-W -n); references to
# other projects' objects are not resolved (no network for intersphinx here).
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(numpy|np|pandas|pd|jax|jnp|numpyro|dist|xarray|xr|matplotlib|arviz"
               r"|arviz_base|arviz_stats|scipy|optax|os|pathlib|collections|typing|abc)\b.*"),
    (r"py:.*", r"(DataFrame|Series|ndarray|Array|Axes|Figure|DataTree|Distribution|Path"
               r"|Mapping|Sequence|Callable|Any|Literal|PathLike|Warning|UserWarning"
               r"|ValueError|TypeError)"),
]

templates_path = ["_templates"]

# Internals that public docstrings mention by name but that are not part of the
# documented API (module paths, private helpers, module-level constants).
nitpick_ignore_regex += [
    (r"py:mod", r"bayes_scaling\..*"),
    (r"py:(class|meth|func|data|attr)",
     r"(Design\.as_arrays|SiteSampler|IntervalCheck|select_checkpoints|resolve_target"
     r"|default_candidates|inference_aware_allocation_draws|[A-Z_]+|inputs|runs|axis"
     r"|group_labels|bayes_scaling\.compare\.\w+|bayes_scaling\.diagnostics\.\w+Warning"
     r"|bayes_scaling\.inference\.SamplerConfig"
     r"|bayes_scaling\.plotting\w*\.\w+|bayes_scaling\.priors\.prior_data_conflict)"),
    # an internal base class named in rendered "Bases:" lines
    (r"py:class", r"bayes_scaling\.results\.(posterior_result\.PosteriorResult|log_likelihood\.OnDemandLogLikelihood)"),
]


def _resolve_to_public_name(app, env, node, contnode):
    """Point ``bayes_scaling.<module>.name`` references at the top-level ``bayes_scaling.name``.

    The reference documents the public namespace only, so it survives modules being
    moved; a reference whose object is not public stays unresolved (a nitpicky error).
    """
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "")
    parts = target.split(".")
    if parts[0] == "bayes_scaling":
        parts = parts[1:]
    domain = env.get_domain("py")
    for start in range(len(parts)):
        candidate = "bayes_scaling." + ".".join(parts[start:])
        if candidate in domain.objects and candidate != target:
            return domain.resolve_xref(env, node["refdoc"], app.builder, "obj", candidate,
                                       node, contnode)
    return None


def setup(app):
    app.connect("missing-reference", _resolve_to_public_name)


# --- HTML --------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"bayes_scaling {release}"
html_theme_options = {"navigation_with_keys": False, "show_toc_level": 2}
html_static_path: list[str] = []
