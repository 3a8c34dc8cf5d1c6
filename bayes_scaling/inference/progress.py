"""Progress bars (tqdm) for long work: compilation, chains, batches of fits.

Shown in terminals and notebooks (``tqdm.auto``) and written to stderr.
Whether they show:

* an explicit ``progress=True/False`` argument wins;
* otherwise ``BAYES_SCALING_PROGRESS`` (``0``/``1``);
* otherwise on, except under pytest or CI (``PYTEST_CURRENT_TEST``, ``CI``)
  or when stderr is not a terminal outside a notebook.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Any

__all__ = ["progress_enabled", "progress_bar", "stage"]

_OFF = ("0", "false", "off", "no")


def _interactive() -> bool:
    if "ipykernel" in sys.modules:  # a notebook (or qtconsole): tqdm.auto draws a widget
        return True
    stream = sys.stderr
    return bool(getattr(stream, "isatty", lambda: False)())


def progress_enabled(progress: bool | None = None) -> bool:
    """Resolve a ``progress=`` argument (``None``: environment and context decide)."""
    if progress is not None:
        return bool(progress)
    env = os.environ.get("BAYES_SCALING_PROGRESS")
    if env is not None and env.strip() != "":
        return env.strip().lower() not in _OFF
    if "PYTEST_CURRENT_TEST" in os.environ or os.environ.get("CI"):
        return False
    return _interactive()


class _Silent:
    """What a bar offers, doing nothing."""

    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        pass

    def close(self) -> None:
        pass


def progress_bar(total: int | None, desc: str, enabled: bool, unit: str = "it") -> Any:
    """A ``tqdm.auto`` bar (or a silent stand-in); close it when done."""
    if not enabled:
        return _Silent()
    from tqdm.auto import tqdm  # imported on first use: keeps `import bayes_scaling` fast

    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, leave=False,
                dynamic_ncols=True)


@contextlib.contextmanager
def stage(desc: str, enabled: bool) -> Iterator[None]:
    """A one-step bar for work without intermediate progress (a compilation)."""
    bar = progress_bar(1, desc, enabled, unit="step")
    try:
        yield
        bar.update(1)
    finally:
        bar.close()
