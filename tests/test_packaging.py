"""pyproject.toml declares exactly the Pythons the suite runs on, and the wheel target exists."""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]


def _declared_minors() -> list[tuple[int, int]]:
    spec = PROJECT["requires-python"]
    low = re.search(r">=\s*3\.(\d+)", spec)
    high = re.search(r"<\s*3\.(\d+)", spec)
    assert low and high, f"requires-python needs a lower and an upper bound: {spec!r}"
    return [(3, m) for m in range(int(low.group(1)), int(high.group(1)))]


def test_this_interpreter_is_declared():
    assert sys.version_info[:2] in _declared_minors()


def test_classifiers_match_requires_python():
    classified = sorted(tuple(int(p) for p in c.rsplit(":: ", 1)[1].split("."))
                        for c in PROJECT["classifiers"] if re.search(r":: 3\.\d+$", c))
    assert classified == _declared_minors()


def test_find_python_accepts_only_declared_versions():
    script = (ROOT / "tools" / "find_python.sh").read_text("utf-8")
    lo, hi = _declared_minors()[0], _declared_minors()[-1]
    assert f"(3, {lo[1]}) <= sys.version_info[:2] < (3, {hi[1] + 1})" in script


def test_makefile_has_the_wheel_and_docs_targets():
    makefile = (ROOT / "Makefile").read_text("utf-8")
    assert re.search(r"^wheel-check:", makefile, re.M)
    assert re.search(r"^docs:", makefile, re.M)
