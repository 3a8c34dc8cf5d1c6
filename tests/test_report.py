"""``bayes-scaling report``: one self-contained HTML file that parses, decodes and renders."""

from __future__ import annotations

import base64
import io
import re
import shutil
import subprocess
from html.parser import HTMLParser

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest

from bayes_scaling.cli import main
from bayes_scaling.report import screen_runs


class _Collector(HTMLParser):
    """Tables (with captions), images, section titles and preformatted text of a page."""

    def __init__(self):
        super().__init__()
        self.tables, self.images, self.headings, self.pre = 0, [], [], []
        self.external = []
        self.cells: dict[str, list[list[str]]] = {}  # caption -> rows of cell texts
        self._tag = None
        self._caption = None
        self._cell = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self._tag = tag
        if tag == "table":
            self.tables += 1
            self._caption = None
        elif tag == "tr" and self._caption is not None:
            self.cells[self._caption].append([])
        elif tag in ("td", "th"):
            self._cell = ""
        elif tag == "img":
            self.images.append(attrs["src"])
        for key in ("src", "href"):
            value = attrs.get(key) or ""
            if value and not value.startswith(("data:", "#")):
                self.external.append(value)

    def handle_data(self, data):
        if self._tag == "caption":
            self._caption = data.strip()
            self.cells[self._caption] = []
        elif self._cell is not None:
            self._cell += data.strip()
        if self._tag == "h2":
            self.headings.append(data.strip())
        elif self._tag == "pre":
            self.pre.append(data)

    def handle_endtag(self, tag):
        self._tag = None
        if tag in ("td", "th") and self._cell is not None:
            if self._caption is not None and self.cells[self._caption]:
                self.cells[self._caption][-1].append(self._cell)
            self._cell = None


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    base = tmp_path_factory.mktemp("report")
    csv = base / "runs.csv"
    assert main(["example", str(csv)]) == 0
    frame = pd.read_csv(csv)
    frame.loc[3, "loss"] = np.nan
    frame.loc[5, "N"] = -1.0
    frame.to_csv(csv, index=False)
    out = base / "report.html"
    assert main(["report", str(csv), "--out", str(out), "--budgets", "1e22,1e24",
                 "--chains", "2", "--draws", "150", "--warmup", "150"]) == 0
    text = out.read_text(encoding="utf-8")
    page = _Collector()
    page.feed(text)
    return out, text, page


def test_report_has_every_section_and_table(report):
    _, text, page = report
    assert page.headings == ["Data", "Posterior", "Loss against compute",
                             "Compute-optimal allocation", "Residual and outlier checks",
                             "Reproduce"]
    # ranges, rejected rows, posterior, diagnostics, allocation, regime tests (+ flagged runs)
    assert page.tables >= 6
    for caption in ("rejected rows", "posterior summary", "predicted loss at the budgets",
                    "compute-optimal allocation", "regime tests"):
        assert f"<caption>{caption}</caption>" in text
    assert "2 rows left out" in text and "not positive" in text and "missing" in text
    assert "r_hat" in text and "ess_bulk" in text and "divergent transitions" in text


def test_report_allocation_lists_the_budgets(report):
    _, _, page = report
    header, *rows = page.cells["compute-optimal allocation"]
    table = pd.DataFrame(rows, columns=header)
    assert table.pop("band").str.contains("discrepancy").all()  # both budgets beyond the runs
    table = table.astype(float)
    assert list(table["C"]) == [1e22, 1e24]
    assert (table["N_opt_lower"] < table["N_opt"]).all()
    assert (table["N_opt"] < table["N_opt_upper"]).all()


def test_report_predictions_carry_the_extrapolation_term(report):
    _, text, page = report
    header, *rows = page.cells["predicted loss at the budgets"]
    table = pd.DataFrame(rows, columns=header)
    assert set(table.pop("band")) == {"predictive + field + own folds discrepancy"}  # which band
    table = table.astype(float)
    assert list(table["budget"]) == [1e22, 1e24]
    # The band calibration may narrow a loose plain band beyond the data (lambda < 1),
    # even inside the curve's credible band: only the median is always inside.
    assert ((table["pred_lower"] < table["median"]) & (table["median"] < table["pred_upper"])).all()
    # Further beyond the data, more extrapolation error.
    assert table["decades_beyond"].is_monotonic_increasing
    width = np.log(table["pred_upper"] / table["pred_lower"])
    assert width.is_monotonic_increasing
    assert "leave-future-out refits" in text and "calibrate_discrepancy" in text


def test_report_images_are_embedded_and_decode(report):
    _, _, page = report
    assert len(page.images) == 3  # loss vs compute, frontier, residuals
    assert page.external == []  # self-contained: nothing fetched from elsewhere
    for src in page.images:
        assert src.startswith("data:image/png;base64,")
        pixels = mpimg.imread(io.BytesIO(base64.b64decode(src.split(",", 1)[1])), format="png")
        assert pixels.ndim == 3 and min(pixels.shape[:2]) > 100
        assert pixels.std() > 0.01  # not a blank canvas


def test_report_states_the_reproducing_call(report):
    out, _, page = report
    command = next(p for p in page.pre if p.startswith("bayes-scaling report"))
    for option in ("--budgets 1e+22,1e+24", "--chains 2", "--draws 150", "--warmup 150",
                   "--seed 0", "--law chinchilla", f"--out {out}"):
        assert option in command
    assert any("write_report(" in p for p in page.pre)


def test_screen_runs_names_row_column_and_reason():
    raw = pd.DataFrame({"params": [1e8, 2e8, 4e8, 8e8], "tokens": [1e9, "x", 1e9, 1e9],
                        "loss": [3.0, 2.9, np.inf, 2.7]})
    kept, rejected = screen_runs(raw)
    assert list(kept.index) == [0, 3]
    assert rejected.to_dict("records") == [
        {"row": 1, "column": "tokens", "value": "x", "reason": "not a number"},
        {"row": 2, "column": "loss", "value": "inf", "reason": "infinite"},
    ]


def test_report_errors_are_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"N": [-1.0, -2.0], "D": [1e9, 1e9], "loss": [3.0, 2.9]}).to_csv(bad, index=False)
    assert main(["report", str(bad), "--out", str(tmp_path / "r.html")]) == 2
    assert "no usable rows" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["report", str(bad), "--budgets", "1e22,lots"])


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(_chromium() is None, reason="no headless chromium (apt-get install chromium)")
def test_report_renders_in_headless_chromium_without_console_errors(report, tmp_path):
    out, text, page = report
    # A copy with a probe that reports every image the browser could not decode.
    probe = ("<script>window.addEventListener('load', () => {let ok = 0;"
             "for (const img of document.images) {if (img.naturalWidth > 0) ok++;"
             " else console.error('broken image ' + img.alt);}"
             "console.log('images decoded: ' + ok);});</script>")
    probed = tmp_path / "probed.html"
    probed.write_text(text.replace("</body>", probe + "</body>"), encoding="utf-8")
    proc = subprocess.run(
        [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr",
         "--v=0", "--virtual-time-budget=5000", f"--user-data-dir={tmp_path / 'profile'}",
         "--dump-dom", probed.as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
    assert any(f"images decoded: {len(page.images)}" in line for line in console), console
    errors = [line for line in console if "images decoded" not in line]
    assert errors == []
    assert re.search(r"<h2>Reproduce</h2>", proc.stdout)
