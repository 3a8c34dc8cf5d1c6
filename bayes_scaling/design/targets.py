"""Targets of run design (a loss, N_opt, a group difference) and the candidate runs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .._lazy import lazy_import

if TYPE_CHECKING:
    from ..results.scaling_fit import ScalingFit
from ..compare.architectures import check_pair
from ..data.sizes import complete_sizes
from ..models.simulation import iso_flop_design

pd = lazy_import("pandas")

TARGET_KINDS = ("loss", "N_opt", "difference")


# ----------------------------------------------------------------------------- targets
@dataclass(frozen=True)
class Target:
    """A scalar target evaluated on every posterior draw of a fit.

    Attributes
    ----------
    kind : str
        ``"loss"`` (loss at a fixed ``(N, D)``), ``"loss_opt"`` (loss at the
        compute-optimal allocation of budget ``C``), ``"N_opt"`` or
        ``"difference"`` (``L_b - L_a``, each group compute-optimal at ``C``).
    label : str
        Human-readable description.
    scale : str
        ``"natural"``: widths are in the target's units (loss); ``"log"``: the
        target is ``log N_opt`` and a width ``w`` means ``upper / lower = e^w``.
    groups : tuple of str
        Groups the target depends on (``()`` for a fit without groups).
    values : ndarray
        The target on each posterior draw, shape ``(num_draws,)``.
    """

    kind: str
    label: str
    scale: str
    groups: tuple[str, ...]
    values: np.ndarray = field(repr=False)


def positive(value: Any, what: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a positive number, got {value!r}") from None
    if not np.isfinite(out) or out <= 0:
        raise ValueError(f"{what} must be positive and finite, got {value!r}")
    return out


def _target_group(fit: ScalingFit, spec: Mapping[str, Any]) -> str | None:
    group = spec.get("group")
    if fit.groups is None:
        if group is not None:
            raise ValueError(f"target names group {group!r} but the fit has no groups")
        return None
    if group is None:
        raise ValueError(f"this fit has groups {list(fit.group_labels)}: the target needs "
                         "'group': label (or use the 'difference' target)")
    fit._group_position(group)  # validates the label
    return str(group)


def resolve_target(fit: ScalingFit, target: Mapping[str, Any]) -> Target:
    """Parse a target spec and evaluate it on the fit's posterior draws.

    Parameters
    ----------
    fit : ScalingFit
    target : mapping with one key
        * ``{"loss": {"N": n, "D": d}}``: loss of the law's mean curve at ``(N, D)``
          (any two of ``N``, ``D``, ``C``; no observation noise);
        * ``{"loss": {"C": c}}``: loss at the compute-optimal allocation of
          budget ``c`` (each draw at its own optimum);
        * ``{"N_opt": c}`` or ``{"N_opt": {"C": c}}``: compute-optimal model size
          at budget ``c``, on the log scale (the target is ``log N_opt``; a
          width ``w`` is the ratio ``upper / lower = e^w``);
        * ``{"difference": (a, b, c)}``: ``L_b - L_a`` of groups ``a`` and ``b``,
          each at its compute-optimal allocation of ``c`` (a fit with groups;
          see :func:`bayes_scaling.compare.compare`).

        For a fit with groups, ``"loss"`` and ``"N_opt"`` specs also take
        ``"group": label``.

    Returns
    -------
    Target

    Raises
    ------
    ValueError
        Unknown kind, missing or non-positive sizes, bad group labels.
    """
    if not isinstance(target, Mapping) or len(target) != 1:
        raise ValueError("target must be a mapping with one key, one of "
                         f"{list(TARGET_KINDS)}, e.g. {{'loss': {{'N': 7e10, 'D': 1.4e12}}}}, "
                         f"got {target!r}")
    (kind, spec), = target.items()
    if kind not in TARGET_KINDS:
        raise ValueError(f"unknown target {kind!r}; use one of {list(TARGET_KINDS)}")
    if kind == "difference":
        if fit.groups is None:
            raise ValueError("the 'difference' target needs a fit with groups")
        if not isinstance(spec, Sequence) or isinstance(spec, str) or len(spec) != 3:
            raise ValueError(f"'difference' takes (group_a, group_b, C), got {spec!r}")

        a, b = check_pair(fit, spec[0], spec[1])
        c = positive(spec[2], "the difference target's C")
        values = (fit.allocation_draws(c, group=b)["loss_opt"][:, 0]
                  - fit.allocation_draws(c, group=a)["loss_opt"][:, 0])
        return Target("difference", f"L[{b}] - L[{a}] at compute-optimal C={c:.3g}",
                      "natural", (a, b), values)
    if kind == "N_opt" and not isinstance(spec, Mapping):
        spec = {"C": spec}
    if not isinstance(spec, Mapping):
        raise ValueError(f"the {kind!r} target takes a mapping of sizes, got {spec!r}")
    unknown = set(spec) - {"N", "D", "C", "group"}
    if unknown:
        raise ValueError(f"unknown keys {sorted(unknown)} in the {kind!r} target; "
                         "use N, D, C and (for a fit with groups) group")
    group = _target_group(fit, spec)
    groups = (group,) if group is not None else ()
    suffix = f" [{group}]" if group is not None else ""
    sizes = {k: positive(spec[k], f"target {k}") for k in ("N", "D", "C") if k in spec}
    if kind == "N_opt":
        if set(sizes) != {"C"}:
            raise ValueError("the 'N_opt' target takes the compute budget C only")
        c = sizes["C"]
        values = np.log(fit.allocation_draws(c, group=group)["N_opt"][:, 0])
        return Target("N_opt", f"log N_opt at C={c:.3g}{suffix}", "log", groups, values)
    if set(sizes) == {"C"}:
        c = sizes["C"]
        values = fit.allocation_draws(c, group=group)["loss_opt"][:, 0]
        return Target("loss_opt", f"compute-optimal loss at C={c:.3g}{suffix}", "natural",
                      groups, values)
    if len(sizes) < 2:
        raise ValueError("the 'loss' target takes two of N, D, C (a point) or C alone "
                         f"(the compute-optimal loss), got {sorted(sizes)}")
    values = fit.predict_draws(**sizes, group=group)[:, 0]
    where = ", ".join(f"{k}={v:.3g}" for k, v in sizes.items())
    return Target("loss", f"loss at {where}{suffix}", "natural", groups, values)


# -------------------------------------------------------------------------- candidates
def default_candidates(
    fit: ScalingFit,
    budget: float,
    *,
    num_lines: int = 8,
    runs_per_line: int = 7,
    tokens_per_param: tuple[float, float] = (2.0, 200.0),
    groups: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Candidate runs on iso-FLOP lines at ``budget``, ``budget/2``, ``budget/4``, ...

    ``num_lines`` lines, halving the compute each time (a run of the whole budget
    down to ``budget / 2^(num_lines-1)``), ``runs_per_line`` model sizes per line
    spanning ``tokens_per_param`` geometrically (see
    :func:`bayes_scaling.simulate.iso_flop_design`). For a fit with groups the grid
    is repeated for each of ``groups`` (default: every group).

    Returns
    -------
    pandas.DataFrame
        ``N``, ``D``, ``C`` (cost, ``k N D``) and ``group`` for a fit with groups.
    """

    budget = positive(budget, "budget")
    if num_lines < 1 or runs_per_line < 1:
        raise ValueError("num_lines and runs_per_line must be at least 1")
    lines = budget / 2.0 ** np.arange(num_lines)
    grid = iso_flop_design(lines, runs_per_budget=runs_per_line,
                           tokens_per_param=tokens_per_param,
                           flops_factor=fit.runs.flops_factor)[["N", "D", "C"]]
    if fit.groups is None:
        return grid
    labels = list(fit.group_labels) if groups is None else [str(g) for g in groups]
    return pd.concat([grid.assign(group=g) for g in labels], ignore_index=True)


def validate_candidates(fit: ScalingFit, candidates: Any) -> pd.DataFrame:
    """Check a candidate table; return a fresh frame with ``N``, ``D``, ``C`` (and ``group``)."""

    if not isinstance(candidates, pd.DataFrame):
        raise TypeError(f"candidates must be a pandas DataFrame, got {type(candidates).__name__}")
    if len(candidates) == 0:
        raise ValueError("candidates is empty")
    given = [k for k in ("N", "D", "C") if k in candidates.columns]
    if len(given) < 2:
        raise ValueError(f"candidates need two of the columns N, D, C; got {list(candidates.columns)}")
    values = {}
    for name in given:
        column = pd.to_numeric(candidates[name], errors="coerce").to_numpy(dtype=np.float64)
        bad = ~np.isfinite(column) | (column <= 0)
        if bad.any():
            row = candidates.index[int(np.argmax(bad))]
            raise ValueError(f"candidates column {name!r} must be positive and finite "
                             f"(row {row!r}: {candidates[name].loc[row]!r})")
        values[name] = column
    k = fit.runs.flops_factor
    n, d, c = complete_sizes(values.get("N"), values.get("D"),
                              values.get("C") if len(given) == 2 else None, k)
    if len(given) == 3:
        derived = k * values["N"] * values["D"]
        off = np.abs(derived / values["C"] - 1.0) > 1e-6
        if off.any():
            row = candidates.index[int(np.argmax(off))]
            raise ValueError(f"candidates row {row!r}: C differs from k N D = "
                             f"{derived[int(np.argmax(off))]:.4g} (k = {k:g})")
    out = pd.DataFrame({"N": n, "D": d, "C": c})
    if fit.groups is not None:
        if "group" not in candidates.columns:
            raise ValueError("this fit has groups: candidates need a 'group' column "
                             f"with labels from {list(fit.group_labels)}")
        labels = candidates["group"].astype(str).to_numpy()
        unknown = sorted(set(labels) - set(fit.group_labels))
        if unknown:
            raise ValueError(f"candidates name unknown groups {unknown}; "
                             f"the fit has {list(fit.group_labels)}")
        out["group"] = labels
    elif "group" in candidates.columns:
        raise ValueError("candidates have a 'group' column but the fit has no groups")
    return out
