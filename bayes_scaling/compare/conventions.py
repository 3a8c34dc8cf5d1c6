"""Comparing parameter/FLOP conventions: the same law fitted under each convention."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .._lazy import lazy_import
from ..data.accounting import Convention, apply_convention, exponent_names
from ..laws import get_law
from ..results.scaling_fit import fit as _fit

pd = lazy_import("pandas")

__all__ = ["compare_conventions"]


def compare_conventions(frame: pd.DataFrame, law: Any = "chinchilla", conventions: Mapping[
        str, Convention | str] | None = None, C: Any = 1e24, *, level: float | None = None,  # noqa: N803
        reference: str | None = None, **fit_kwargs: Any) -> pd.DataFrame:
    """Refit ``law`` under each convention; report exponents and ``N_opt(C)`` and their shift.

    Parameters
    ----------
    frame : pandas.DataFrame
        The runs (never modified).
    law : str or Law, default "chinchilla"
    conventions : mapping of name -> Convention or str, optional
        Default ``{"total": "total", "non_embedding": "non_embedding"}`` (the
        table then needs ``N_total``/``N_no_embed`` columns or the architecture
        in each Convention).
    C : float or array, default 1e24
        Budgets for the compute-optimal allocation (laws of N and D only).
        Each fit uses its table's ``attrs["flops_factor"]`` as ``k`` unless
        ``flops_factor=`` is given.
    level : float, optional
        Interval mass (default: the fits', 0.9).
    reference : str, optional
        Convention the shifts are measured from (default: the first).
    **fit_kwargs
        Passed to :func:`bayes_scaling.fit` (``chains``, ``draws``, ``seed``, ...;
        ``groups=False`` for a table with a ``group`` column, which the
        comparison pools).

    Returns
    -------
    pandas.DataFrame
        One row per (convention, quantity): ``convention``, ``quantity``
        (exponents such as ``alpha``, ``beta``; then ``N_opt``, ``D_opt``,
        ``tokens_per_param`` with ``C``), ``C`` (NaN for exponents), ``median``,
        ``lower``, ``upper``, ``shift`` (difference of medians from the
        reference for exponents, ratio of medians for allocations), ``level``.
        ``attrs["fits"]`` holds the fits by convention name.
    """

    law = get_law(law)
    conventions = dict(conventions or {"total": "total", "non_embedding": "non_embedding"})
    if len(conventions) < 2:
        raise ValueError("compare_conventions needs at least two conventions")
    reference = next(iter(conventions)) if reference is None else reference
    if reference not in conventions:
        raise ValueError(f"reference {reference!r} is not one of {list(conventions)}")
    budgets = np.atleast_1d(np.asarray(C, dtype=np.float64)).ravel()
    joint = set(law.inputs) >= {"N", "D"}
    rows, fits = [], {}
    for name, conv in conventions.items():
        table = apply_convention(frame, conv)
        kwargs = {"flops_factor": table.attrs["flops_factor"]} | fit_kwargs
        result = _fit(table.drop(columns=["N_input", "C_input"], errors="ignore"), law, **kwargs)
        fits[name] = result
        lev = result.level if level is None else level
        tail = (1 - lev) / 2
        for p in exponent_names(law):
            lo, med, hi = np.quantile(result.draws(p), [tail, 0.5, 1 - tail])
            rows.append({"convention": name, "quantity": p, "C": np.nan, "median": med,
                         "lower": lo, "upper": hi, "level": lev})
        if joint:
            alloc = result.optimal_allocation(budgets, level=lev)
            for q in ("N_opt", "D_opt", "tokens_per_param"):
                for _, r in alloc.iterrows():
                    rows.append({"convention": name, "quantity": q, "C": r["C"],
                                 "median": r[q], "lower": r[f"{q}_lower"],
                                 "upper": r[f"{q}_upper"], "level": lev})
    table = pd.DataFrame(rows)
    key = list(zip(table["quantity"], table["C"].fillna(0.0), strict=True))
    ref = {k: m for k, m, c in zip(key, table["median"], table["convention"], strict=True)
           if c == reference}
    shift = [m - ref[k] if np.isnan(c) else m / ref[k]
             for k, m, c in zip(key, table["median"], table["C"], strict=True)]
    table.insert(6, "shift", shift)
    table.attrs["fits"] = fits
    table.attrs["reference"] = reference
    return table
