"""Shared fixtures. Importing bayes_scaling first configures host devices for parallel chains.

Sampler seeds
-------------
Every test whose outcome depends on a sampler trajectory takes its seed from the
``seed`` fixture, so the suite can be re-run under other trajectories::

    BAYES_SCALING_TEST_SEED=1,2,3,4,5 make test     # each sampler test once per seed
    make test-seeds                                 # the same, seeds 1-5

Default: one seed, 0. A test that fails under some seed is a defect of the test (or
of the library), never a reason to pin the seed.
"""

import os
import time

os.environ.setdefault("MPLBACKEND", "Agg")

import pytest  # noqa: E402

import bayes_scaling  # noqa: E402,F401  (before jax initialises: host devices)


def _test_seeds() -> list[int]:
    text = os.environ.get("BAYES_SCALING_TEST_SEED", "0")
    try:
        seeds = [int(part) for part in text.replace(" ", "").split(",") if part]
    except ValueError:
        raise pytest.UsageError(
            f"BAYES_SCALING_TEST_SEED must be comma-separated integers, got {text!r}") from None
    return seeds or [0]


SEEDS = _test_seeds()


@pytest.fixture(scope="module", autouse=True)
def _release_compiled_programs_between_modules():
    """Between test modules, free compiled programs once the process holds half of its
    memory-map limit: one pytest process compiles hundreds of programs (each keeps LLVM
    mappings), and past the limit XLA's next compilation fails or crashes. At module
    boundaries no compile-count check is in flight; the library's own guard
    (``inference.compiled.guard_memory_maps``, at 80%) then never fires in the suite."""
    yield
    from bayes_scaling.inference import compiled

    count, limit = compiled.memory_map_count(), compiled.memory_map_limit()
    if count is not None and limit is not None and count > 0.5 * limit:
        compiled.release_compiled()


@pytest.fixture(scope="session", params=SEEDS, ids=[f"seed{s}" for s in SEEDS])
def seed(request) -> int:
    """The sampler seed of this run of the suite (``BAYES_SCALING_TEST_SEED``)."""
    return request.param


@pytest.fixture(scope="session")
def example_fit(seed):
    """One full-size fit of the bundled example, shared by tests that only read it."""
    return bayes_scaling.fit(bayes_scaling.example_runs(seed=0), law="chinchilla", seed=seed)


# ------------------------------------------------------------------ notebooks
#: Seconds for one notebook, start-up and every cell included (each runs in < 60 s).
NOTEBOOK_TIMEOUT = 240


#: The two longest notebooks (real-data replication, every extension law): executed with
#: ``-m slow`` (``make test-slow``) or ``BAYES_SCALING_ALL_NOTEBOOKS=1``; the default suite
#: keeps its time budget and still runs the calls they make in the modules' own tests.
SLOW_NOTEBOOKS = ("beyond_chinchilla.ipynb", "chinchilla_replication.ipynb")


def _execute_notebooks(out, kernel_cache, every: bool) -> dict:
    """Execute every notebook of ``notebooks/`` into ``out``: ``{name: (path, seconds, error)}``."""
    from pathlib import Path

    import nbclient
    import nbformat

    root = Path(__file__).resolve().parent.parent
    results = {}
    for path in sorted((root / "notebooks").glob("*.ipynb")):
        if _NOTEBOOKS.get("stop"):
            break
        if path.name in SLOW_NOTEBOOKS and not every:
            results[path.name] = (None, 0.0, "skip: a long notebook, executed with -m slow "
                                             "(make test-slow) or BAYES_SCALING_ALL_NOTEBOOKS=1")
            continue
        nb = nbformat.read(path, as_version=4)
        if any("shared/data" in cell.source for cell in nb.cells) and not (
                root.parent / "shared" / "data").is_dir():
            results[path.name] = (None, 0.0, f"skip: {path.name} needs ../shared/data")
            continue
        km = notebook_kernel_manager(kernel_cache)
        client = nbclient.NotebookClient(
            nb, km=km, timeout=NOTEBOOK_TIMEOUT, allow_errors=False,
            resources={"metadata": {"path": str(path.parent)}},
        )
        start = time.perf_counter()
        try:
            client.execute()
        except Exception as error:  # reported by the notebook's own test
            results[path.name] = (None, time.perf_counter() - start, f"{type(error).__name__}: "
                                                                      f"{error}")
            continue
        finally:  # a kernel handed to nbclient is ours to stop (each holds ~1 GB)
            if km.has_kernel:
                km.shutdown_kernel(now=True)
        nbformat.write(nb, out / path.name)
        results[path.name] = (out / path.name, time.perf_counter() - start, None)
    return results


#: The background notebook run of this session: thread, folder, results or error.
_NOTEBOOKS: dict = {}


def _start_notebooks(config) -> None:
    """Start executing the notebooks in a background thread (once per session).

    The kernels are processes of their own, so they run on the core the suite
    leaves idle while it compiles (XLA compiles one program at a time).
    """
    import tempfile
    import threading
    from pathlib import Path

    if "thread" in _NOTEBOOKS:
        return
    folder = Path(tempfile.mkdtemp(prefix="bayes_scaling_notebooks_"))
    (folder / "executed").mkdir()
    (folder / "cache").mkdir()  # compile cache the session's kernels share, empty at start
    every = (os.environ.get("BAYES_SCALING_ALL_NOTEBOOKS") == "1"
             or "slow" in str(config.getoption("markexpr", "")).replace("not slow", ""))

    def run() -> None:
        try:
            _NOTEBOOKS["results"] = _execute_notebooks(folder / "executed", folder / "cache", every)
        except BaseException as error:  # re-raised by the fixture, in the test that needs it
            _NOTEBOOKS["error"] = error

    _NOTEBOOKS["folder"] = folder
    _NOTEBOOKS["thread"] = threading.Thread(target=run, name="notebooks", daemon=True)
    _NOTEBOOKS["thread"].start()


def _notebook_tools_installed() -> bool:
    import importlib.util

    return all(importlib.util.find_spec(name) is not None
               for name in ("nbformat", "nbclient", "ipykernel"))


def pytest_collection_finish(session):
    """Start the notebooks as soon as the suite knows a test needs them."""
    if _notebook_tools_installed() and any(
            "executed_notebooks" in getattr(item, "fixturenames", ()) for item in session.items):
        _start_notebooks(session.config)


def pytest_sessionfinish(session, exitstatus):
    """Let a running notebook stop its kernel, then remove the executed copies."""
    import shutil

    thread = _NOTEBOOKS.get("thread")
    if thread is not None:
        _NOTEBOOKS["stop"] = True  # an interrupted session starts no further notebook
        thread.join(timeout=NOTEBOOK_TIMEOUT)
        shutil.rmtree(_NOTEBOOKS["folder"], ignore_errors=True)


@pytest.fixture(scope="session")
def executed_notebooks(request):
    """Every notebook of ``notebooks/`` executed once per session, written to a temp dir.

    ``tests/test_notebooks.py`` checks each run; ``tests/test_docs.py`` builds the
    gallery from these executed copies (``nb_execution_mode=off``), so the default
    suite checks the gallery's figures without running the notebooks twice. The run
    starts in the background when collection ends (:func:`pytest_collection_finish`)
    and this fixture waits for it. Returns
    ``{name: (path of the executed copy or None, seconds, error or skip reason)}``.
    """
    for name in ("nbformat", "nbclient", "ipykernel"):
        pytest.importorskip(name)
    _start_notebooks(request.config)  # no-op when collection started it
    _NOTEBOOKS["thread"].join()
    if "error" in _NOTEBOOKS:
        raise _NOTEBOOKS["error"]
    return _NOTEBOOKS["results"]


def notebook_kernel_manager(cache_dir=None):
    """A kernel running this very interpreter, headless matplotlib.

    ``cache_dir``: a compile cache the session's kernels share (empty when the session
    starts), so a sampler one notebook compiled is not compiled again by the next.
    """
    import sys

    from jupyter_client.manager import KernelManager

    km = KernelManager(kernel_name="python3")
    km.kernel_spec.argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    env = {**km.kernel_spec.env, "MPLBACKEND": "Agg"}
    if cache_dir is not None:
        env["BAYES_SCALING_CACHE_DIR"] = str(cache_dir)
    km.kernel_spec.env = env
    return km
