"""Evidence that regenerates: every ``benchmarks/*.md`` is written by a script in
``benchmarks/``, and no script carries a long literal block of prose with numbers
(prose with numbers must be formatted from values the run computed). No fitting."""

from __future__ import annotations

import ast
import re
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
#: A string literal this long with this many numbers in it is a hand-written report.
LONG_PROSE, MANY_NUMBERS = 400, 5
#: Known literal blocks: (script, start of the string) -> why it may stay for now.
KNOWN = {
    ("extrapolation.py", "Protocol: each sweep is fitted"):
        "method constants, not results (the 65% split of extrapolation.field.split_sweep, the "
        "50%/90% levels, Gneiting & Raftery 2007, the interval score's 20 = 2 / (1 - 0.9)); "
        "better formatted from their constants by the script's owner",
    ("peers.py", "\ndata { int<lower=1> n;"):
        "Stan model code (the plain model's priors), not a report",
}
_NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?:e[+-]?\d+)?%?(?![\w])")


def _scripts() -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(BENCHMARKS.glob("*.py"))}


def _writer(md: Path, scripts: dict[str, str]) -> str | None:
    """The script that names ``md`` as its output, or the one its header names with
    ``--out benchmarks/<md>`` (a script whose default output is another file)."""
    for name, text in scripts.items():
        if md.name in text:
            return name
    head = md.read_text().split("\n\n", 2)[:2]
    match = re.search(r"benchmarks/(\w+\.py)[^`]*--out benchmarks/" + re.escape(md.name),
                      "\n".join(head))
    if match and match.group(1) in scripts and '"--out"' in scripts[match.group(1)]:
        return match.group(1)
    return None


def test_every_benchmark_report_has_a_script_that_writes_it():
    scripts = _scripts()
    orphans = [md.name for md in sorted(BENCHMARKS.glob("*.md")) if _writer(md, scripts) is None]
    assert orphans == [], f"no script in benchmarks/ writes {orphans}"


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def test_no_script_carries_a_literal_block_of_prose_with_numbers():
    offenders = []
    for name, text in _scripts().items():
        tree = ast.parse(text)
        skip = _docstrings(tree)
        for node in ast.walk(tree):
            if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                    and id(node) not in skip and len(node.value) >= LONG_PROSE
                    and len(_NUMBER.findall(node.value)) >= MANY_NUMBERS
                    and not any(name == script and node.value.startswith(start)
                                for script, start in KNOWN)):
                offenders.append(f"{name}:{node.lineno}")
    assert offenders == [], f"literal prose with numbers (format it from computed values): " \
                            f"{offenders}"


def test_the_prose_check_can_fail():
    fixed = 'NOTES = """' + "The fit gives 15.4 and 5.3, R-hat 1.006, ESS 369 and 0.1%. " * 8 \
        + '"""'
    node = next(n for n in ast.walk(ast.parse(fixed)) if isinstance(n, ast.Constant))
    assert len(node.value) >= LONG_PROSE and len(_NUMBER.findall(node.value)) >= MANY_NUMBERS
