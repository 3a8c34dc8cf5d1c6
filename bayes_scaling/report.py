"""A shareable, self-contained HTML report of one scaling-law fit.

:func:`write_report` (the ``bayes-scaling report RUNS.csv --out report.html``
command) screens the runs table, fits the law with NUTS and writes one HTML file
with every figure embedded as a base64 PNG, so it can be mailed or attached as is:

1. the data summary and the rows left out (and why);
2. the posterior table with the sampler diagnostics and what to do about them;
3. loss against compute with credible and predictive bands, extrapolated to the
   largest requested budget, and the predicted loss at each budget with the
   extrapolation term learnt by leave-future-out refits;
4. the compute-optimal allocation at the requested budgets and the frontier figure;
5. residual and outlier checks (posterior-predictive p-values, Pareto k, regime tests);
6. the exact command (and the Python call) that reproduces the report.

Examples
--------
>>> from bayes_scaling.report import write_report
>>> # Long run (a full fit and calibration); tests/test_report.py makes this call.
>>> write_report("runs.csv", out="report.html", budgets=[1e22, 1e24])  # doctest: +SKIP
"""

from __future__ import annotations

import base64
import html
import io
import os
import platform
import shlex
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import version as _package_version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import checks
from .data.runs import COLUMN_ALIASES, RunsTableError, _map_columns, _read_path
from .inference.diagnostics import MIN_ESS_PER_CHAIN, RHAT_THRESHOLD, check_fit
from .plots.allocation import plot_frontier
from .plots.diagnostics import plot_residuals
from .plots.plotting import plot_loss_vs_compute
from .results.scaling_fit import fit

__all__ = ["screen_runs", "write_report", "ReportInputs"]

_NUMERIC = ("N", "D", "C", "loss", "U", "seed")
_POSITIVE = ("N", "D", "C", "loss", "U")

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1100px;
margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.7em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
th,td{border:1px solid #ccc;padding:.25em .55em;text-align:right}
th{background:#f3f3f3}td.text,th.text{text-align:left}
img{max-width:100%;height:auto;display:block;margin:.8em 0}
.ok{color:#1a7f37}.warn{color:#b35900}
pre{background:#f6f8fa;padding:.7em;overflow-x:auto;white-space:pre-wrap}
.note{color:#555;font-size:.92em}
div.scroll{overflow-x:auto}
"""


@dataclass(frozen=True)
class ReportInputs:
    """Everything that determines a report, so the call can be written back out."""

    runs: str
    out: str
    budgets: tuple[float, ...] = (1e22, 1e24)
    law: str = "chinchilla"
    likelihood: str = "normal"
    chains: int = 4
    draws: int = 1000
    warmup: int = 1000
    seed: int = 0
    flops_factor: float = 6.0
    calibrate: bool = True

    def command(self) -> str:
        """The ``bayes-scaling report`` command line that reproduces the report."""
        parts = ["bayes-scaling", "report", self.runs, "--out", self.out,
                 "--budgets", ",".join(f"{b:g}" for b in self.budgets),
                 "--law", self.law, "--likelihood", self.likelihood,
                 "--chains", str(self.chains), "--draws", str(self.draws),
                 "--warmup", str(self.warmup), "--seed", str(self.seed),
                 "--flops-factor", f"{self.flops_factor:g}"]
        if not self.calibrate:
            parts.append("--no-calibrate")
        return " ".join(shlex.quote(p) for p in parts)

    def python_call(self) -> str:
        """The equivalent Python call."""
        budgets = ", ".join(f"{b:g}" for b in self.budgets)
        return (f"from bayes_scaling.report import write_report\n"
                f"write_report({self.runs!r}, out={self.out!r}, budgets=[{budgets}],\n"
                f"             law={self.law!r}, likelihood={self.likelihood!r}, "
                f"chains={self.chains}, draws={self.draws},\n"
                f"             warmup={self.warmup}, seed={self.seed}, "
                f"flops_factor={self.flops_factor:g}, calibrate={self.calibrate})")


def screen_runs(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split a raw runs table into rows that can be fitted and rows to leave out.

    A row is left out when a size or loss column it needs is missing, not a
    number, infinite, or (for ``N``, ``D``, ``C``, ``loss``, ``U``) not positive.
    Column names are recognised as in :func:`bayes_scaling.load_runs`.

    Parameters
    ----------
    frame : pandas.DataFrame
        The table as read (not modified).

    Returns
    -------
    kept : pandas.DataFrame
        The usable rows, original columns and index.
    rejected : pandas.DataFrame
        One row per rejected input row: ``row`` (its index label), ``column``,
        ``value`` (as given) and ``reason``.

    Raises
    ------
    RunsTableError
        When the loss column is missing or no row is usable.

    Examples
    --------
    >>> import pandas as pd
    >>> raw = pd.DataFrame({"N": [1e8, -1.0, 4e8], "D": [2e9, 2e9, "?"],
    ...                     "loss": [3.1, 3.0, 2.8]})
    >>> kept, rejected = screen_runs(raw)
    >>> len(kept)
    1
    >>> rejected[["row", "column", "reason"]].to_dict("records")
    [{'row': 1, 'column': 'N', 'reason': 'not positive'}, {'row': 2, 'column': 'D', 'reason': 'not a number'}]
    """
    mapping = _map_columns(frame, None)
    if "loss" not in mapping:
        raise RunsTableError("column is missing", column="loss",
                             fix=f"name it 'loss' or one of {COLUMN_ALIASES['loss']}")
    bad = np.zeros(len(frame), dtype=bool)
    records = []
    for canon in _NUMERIC:
        if canon not in mapping:
            continue
        source = mapping[canon]
        raw = frame[source]
        values = pd.to_numeric(raw, errors="coerce").to_numpy(np.float64)
        reasons = np.full(len(frame), "", dtype=object)
        reasons[~np.isfinite(values)] = "infinite"
        reasons[np.isnan(values)] = "not a number"
        reasons[raw.isna().to_numpy()] = "missing"
        if canon in _POSITIVE:
            reasons[np.isfinite(values) & (values <= 0)] = "not positive"
        for pos in np.flatnonzero(reasons != ""):
            if not bad[pos]:  # report the first problem of each row
                records.append({"_pos": pos, "row": frame.index[pos], "column": source,
                                "value": str(raw.iloc[pos]), "reason": reasons[pos]})
            bad[pos] = True
    if bad.all():
        raise RunsTableError(f"no usable rows: all {len(frame)} rows have missing, "
                             "non-numeric or non-positive sizes or losses")
    records.sort(key=lambda r: r.pop("_pos"))
    rejected = pd.DataFrame(records, columns=["row", "column", "value", "reason"])
    return frame[~bad], rejected


# ---------------------------------------------------------------- rendering
def _figure_html(obj: Any, alt: str) -> str:
    """A matplotlib Axes/Figure/array of Axes as an embedded PNG; closes the figure."""
    import matplotlib.pyplot as plt

    if isinstance(obj, np.ndarray):
        obj = obj.flat[0]
    if isinstance(obj, tuple):
        obj = obj[0]
    figure = getattr(obj, "figure", obj) if not hasattr(obj, "savefig") else obj
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _table_html(frame: pd.DataFrame, *, index: bool = True, caption: str = "") -> str:
    def fmt(value: float) -> str:
        return f"{value:.4g}"

    table = frame.to_html(index=index, float_format=fmt, border=0, na_rep="",
                          escape=True)
    if caption:
        table = table.replace(">\n  <thead>", f">\n  <caption>{html.escape(caption)}</caption>"
                              "\n  <thead>", 1)
    return f'<div class="scroll">{table}</div>'



def _paragraph(text: str, css: str = "") -> str:
    cls = f' class="{css}"' if css else ""
    return f"<p{cls}>{html.escape(text)}</p>"


def _diagnostics_html(numbers: dict[str, Any], messages: list[str], chains: int) -> str:

    rows = pd.DataFrame({
        "check": ["divergent transitions", "max R-hat", "min bulk ESS", "min tail ESS",
                  "share of iterations at max tree depth"],
        "value": [f"{numbers['divergences']:d}", f"{numbers['max_rhat']:.4f}",
                  f"{numbers['min_ess_bulk']:.0f}", f"{numbers['min_ess_tail']:.0f}",
                  f"{numbers['tree_depth_hits']:.1%}"],
        "wanted": ["0", f"<= {RHAT_THRESHOLD}", f">= {MIN_ESS_PER_CHAIN * chains}",
                   f">= {MIN_ESS_PER_CHAIN * chains}", "<= 5%"],
    })
    parts = [_table_html(rows, index=False)]
    if messages:
        parts.append("<p class=\"warn\"><b>Advice:</b></p><ul>")
        parts += [f"<li class=\"warn\">{html.escape(m)}</li>" for m in messages]
        parts.append("</ul>")
    else:
        parts.append(_paragraph("No sampling problems: the intervals below can be trusted "
                                "as far as the sampler is concerned.", "ok"))
    return "\n".join(parts)


def _report_discrepancy(result: Any, inputs: ReportInputs) -> tuple[Any, str]:
    """The extrapolation discrepancy of the report's figure and table, and its note.

    With ``calibrate``, the fit's default (:meth:`ScalingFit.discrepancy`: the field
    prior updated by the sweep's own folds, computed once and kept on the fit); else
    the field prior alone.
    """
    note = ("Beyond the largest fitted run the predictive bands add the field prior's "
            "extrapolation discrepancy (rerun without --no-calibrate to update it with this "
            "sweep's own leave-future-out refits).")
    if not inputs.calibrate:
        return "field", note
    try:
        disc = result.discrepancy()  # predict's default, kept on the fit
    except (ValueError, RunsTableError) as error:
        return "field", f"No own-fold update ({error}). " + note
    if disc.source == "field":
        return disc, f"Beyond the largest fitted run: the field prior's discrepancy ({disc.note})."
    return disc, (f"Beyond the largest fitted run the predictive bands add the field prior's "
                  f"extrapolation discrepancy updated by this sweep's leave-future-out refits "
                  f"(calibrate_discrepancy; importance-sampling ESS {disc.ess:.0f}). "
                  f"{disc.note}").strip()


def _predictions_html(result: Any, budgets: np.ndarray, extrapolation: Any, note: str) -> str:
    """Loss at the budgets (compute-optimal sizes), with the extrapolation discrepancy."""
    if {"N", "D"} <= set(result.law.inputs):
        # The law's own optimum: the point where loss_opt is evaluated (the allocation
        # discrepancy moves N_opt's interval, not the law's loss there).
        alloc = result.optimal_allocation(C=budgets, extrapolation="none")
        sizes = {"N": alloc["N_opt"].to_numpy(), "D": alloc["D_opt"].to_numpy()}
        where = "at the posterior-median compute-optimal N and D of each budget"
    else:
        sizes, where = {"C": budgets}, "at each budget"
    table = result.predict(**sizes, extrapolation=extrapolation)
    table.insert(0, "budget", budgets)
    return "\n".join([_table_html(table, index=False, caption="predicted loss at the budgets"),
                      _paragraph(f"Predictions {where}. {note}", "note")])


def _sections(inputs: ReportInputs, raw: pd.DataFrame, kept: pd.DataFrame,
              rejected: pd.DataFrame) -> list[tuple[str, str]]:
    """Fit, check and render; returns ``(title, html)`` per section."""

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fit(kept, law=inputs.law, likelihood=inputs.likelihood, chains=inputs.chains,
                     draws=inputs.draws, warmup=inputs.warmup, seed=inputs.seed,
                     flops_factor=inputs.flops_factor, warn=False)
        numbers = check_fit(result)
    messages = list(dict.fromkeys(str(w.message) for w in caught))
    runs = result.runs.frame
    sections = []

    # 1. data
    ranges = pd.DataFrame({c: [runs[c].min(), runs[c].max()] for c in ("N", "D", "C", "loss")
                           if c in runs.columns}, index=["min", "max"])
    data_html = [_paragraph(f"{len(raw)} rows read from {inputs.runs}; {len(kept)} fitted "
                            f"({result.runs.describe()})."), _table_html(ranges)]
    if len(rejected):
        data_html.append(_paragraph(f"{len(rejected)} rows left out:", "warn"))
        data_html.append(_table_html(rejected, index=False, caption="rejected rows"))
    else:
        data_html.append(_paragraph("No rows were rejected.", "ok"))
    sections.append(("Data", "\n".join(data_html)))

    # 2. posterior
    summary = result.summary()
    level = summary.attrs.get("level", result.level)
    sections.append(("Posterior", "\n".join([
        _paragraph(f"{inputs.law} law, {inputs.likelihood} likelihood on log loss; "
                   f"{inputs.chains} chains x {inputs.draws} draws after {inputs.warmup} "
                   f"warm-up; intervals are {level:.0%} equal-tailed."),
        _table_html(summary, caption="posterior summary"),
        "<h3>Sampler diagnostics</h3>",
        _diagnostics_html(numbers, messages, inputs.chains)])))

    # 3. loss vs compute, with predictions at the budgets
    budgets = np.asarray(inputs.budgets, dtype=np.float64)
    c_max = max(float(budgets.max()), 10.0 * float(runs["C"].max()))
    extrapolation, note = _report_discrepancy(result, inputs)  # figure and table share it
    loss_fig = _figure_html(plot_loss_vs_compute(result, C_max=c_max, targets=budgets,
                                                 seed=inputs.seed, extrapolation=extrapolation),
                            "loss against compute")
    sections.append(("Loss against compute", "\n".join([
        _paragraph("Posterior median of the compute-optimal frontier with 50% and 90% "
                   "credible bands, and the predicted loss at each budget (thick bar: "
                   "credible interval of the curve; thin bar: predictive interval of one new "
                   "run). The shaded region is extrapolation beyond the largest fitted run."),
        loss_fig, _predictions_html(result, budgets, extrapolation, note)])))

    # 4. allocation
    alloc_parts = []
    if {"N", "D"} <= set(result.law.inputs):
        allocation = result.optimal_allocation(C=budgets)
        alloc_parts.append(_table_html(allocation, index=False,
                                       caption="compute-optimal allocation"))
        alloc_parts.append(_paragraph("Column band: beyond the largest fitted run the N_opt "
                                      "interval includes the allocation discrepancy learnt "
                                      "from the field's iso-FLOP sweeps (D_opt and tokens per "
                                      "parameter follow; loss_opt is the law's)."))
        lo = min(float(runs["C"].min()), float(budgets.min())) / 10.0
        hi = max(float(runs["C"].max()), float(budgets.max())) * 10.0
        alloc_parts.append(_figure_html(plot_frontier(result, C_range=(lo, hi)), "frontier"))
    else:
        alloc_parts.append(_paragraph(f"The {inputs.law} law does not depend on N and D "
                                      "separately, so it has no allocation."))
    sections.append(("Compute-optimal allocation", "\n".join(alloc_parts)))

    # 5. residuals and outliers
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        outliers = checks.outlier_report(result)
        regimes = checks.power_law_regime(result, method="ends", warn=False).tests
    flagged = outliers[outliers["flagged"]]
    check_parts = [_figure_html(plot_residuals(result, seed=inputs.seed), "residuals")]
    if len(flagged):
        check_parts.append(_paragraph(
            f"{len(flagged)} of {len(outliers)} runs flagged (p < "
            f"{outliers.attrs['p_threshold']:g} or Pareto k > {outliers.attrs['k_threshold']:g};"
            f" about {len(outliers) * outliers.attrs['p_threshold']:.1f} expected by chance). "
            "Refit with likelihood='student_t', or drop runs known to have failed.", "warn"))
        check_parts.append(_table_html(flagged, caption="flagged runs"))
    else:
        check_parts.append(_paragraph("No run is flagged as an outlier.", "ok"))
    check_parts.append(_table_html(regimes, index=False, caption="regime tests"))
    sections.append(("Residual and outlier checks", "\n".join(check_parts)))

    # 6. reproduce
    __version__ = _package_version("bayes_scaling")
    sections.append(("Reproduce", "\n".join([
        "<pre>" + html.escape(inputs.command()) + "</pre>",
        _paragraph("or in Python:"),
        "<pre>" + html.escape(inputs.python_call()) + "</pre>",
        _paragraph(f"bayes_scaling {__version__}, Python {platform.python_version()}.", "note"),
    ])))
    return sections


def write_report(
    runs: str | os.PathLike,
    *,
    out: str | os.PathLike = "report.html",
    budgets: Sequence[float] = (1e22, 1e24),
    law: str = "chinchilla",
    likelihood: str = "normal",
    chains: int = 4,
    draws: int = 1000,
    warmup: int = 1000,
    seed: int = 0,
    flops_factor: float = 6.0,
    calibrate: bool = True,
) -> Path:
    """Fit ``runs`` and write a self-contained HTML report to ``out``.

    Parameters
    ----------
    runs : path
        CSV or parquet runs table (columns ``N``, ``D``, ``C`` (any two), ``loss``;
        the aliases of :func:`bayes_scaling.load_runs` are recognised). Rows with
        missing, non-numeric or non-positive values are left out and listed.
    out : path, default "report.html"
    budgets : sequence of float
        Compute budgets (FLOPs) of the allocation table and the figures' range.
    law, likelihood, chains, draws, warmup, seed, flops_factor
        As in :func:`bayes_scaling.fit`.
    calibrate : bool, default True
        Update the field prior's extrapolation discrepancy of the predictions at the
        budgets with the sweep's own leave-future-out refits
        (:func:`bayes_scaling.calibrate_discrepancy`: three refits that reuse the
        fit's compiled sampler); ``False``: the field prior alone.

    Returns
    -------
    pathlib.Path
        The file written.
    """
    budgets = tuple(float(b) for b in np.atleast_1d(np.asarray(budgets, dtype=np.float64)))
    if not budgets or not all(np.isfinite(b) and b > 0 for b in budgets):
        raise ValueError(f"budgets must be positive FLOPs, got {budgets!r}")
    import matplotlib

    matplotlib.use("Agg")
    inputs = ReportInputs(runs=str(runs), out=str(out), budgets=budgets, law=str(law),
                          likelihood=likelihood, chains=chains, draws=draws, warmup=warmup,
                          seed=seed, flops_factor=flops_factor, calibrate=calibrate)
    raw = _read_path(runs)
    kept, rejected = screen_runs(raw)
    sections = _sections(inputs, raw, kept, rejected)
    title = f"Scaling-law report: {Path(str(runs)).name}"
    body = "\n".join(f'<section id="s{i}"><h2>{html.escape(name)}</h2>\n{content}\n</section>'
                     for i, (name, content) in enumerate(sections, start=1))
    toc = "".join(f'<li><a href="#s{i}">{html.escape(name)}</a></li>'
                  for i, (name, _) in enumerate(sections, start=1))
    document = (f"<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                f"<title>{html.escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
                f"<h1>{html.escape(title)}</h1>\n<ol>{toc}</ol>\n{body}\n</body>\n</html>\n")
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(document, encoding="utf-8")
    return path
