"""Validate and normalise a table of training runs.

A *runs table* has one row per training run with the canonical columns

========  ===============================================================
``N``     parameters of the model (state which count: with or without
          embeddings, MoE active or total; the library does not guess)
``D``     training tokens
``C``     training FLOPs, ``C = k * N * D`` (``k = 6`` by default)
``loss``  final loss in nats per token (or any positive loss)
``group`` optional: architecture / optimiser / data-mixture label
``seed``  optional: training seed (replicate runs of one configuration)
``U``     optional: unique training tokens (data-constrained runs repeat
          them for ``D / U`` epochs)
``run``   optional: run identifier when rows are intermediate checkpoints
          (several rows of one training run)
========  ===============================================================

Common aliases (``params``, ``tokens``, ``flops``, ``compute``, ...) are
recognised and the mapping used is recorded on the returned :class:`RunsTable`
(``column_map``) and logged. Of ``N``, ``D`` and ``C`` any two are enough: the
third is derived from ``C = k N D``.

Everything here is NumPy/pandas and runs before any JAX tracing, so a bad table
fails fast with a :class:`RunsTableError` that names the column, the first bad
row and the problem. The caller's DataFrame is never modified.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._lazy import lazy_import

pd = lazy_import("pandas")



__all__ = ["RunsTable", "RunsTableError", "load_runs", "COLUMN_ALIASES", "DEFAULT_FLOPS_FACTOR"]

logger = logging.getLogger("bayes_scaling")

#: FLOPs per parameter per training token (forward + backward pass).
DEFAULT_FLOPS_FACTOR = 6.0

#: Accepted spellings of each canonical column (compared case-insensitively,
#: ignoring spaces, underscores and hyphens).
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "N": ("N", "params", "n_params", "num_params", "nparams", "parameters", "num_parameters",
          "model_size", "model size", "size", "n_parameters", "param_count"),
    "D": ("D", "tokens", "n_tokens", "num_tokens", "ntokens", "train_tokens", "training_tokens",
          "token_num", "data", "dataset_size", "tokens_seen"),
    "C": ("C", "flops", "compute", "training_flops", "training flop", "train_flops", "flop",
          "c_6nd", "budget", "training_compute"),
    "loss": ("loss", "final_loss", "val_loss", "eval_loss", "validation_loss", "test_loss",
             "train_loss", "L"),
    "group": ("group", "arch", "architecture", "model_family", "family", "experiment"),
    "seed": ("seed", "random_seed", "run_seed"),
    "U": ("U", "unique_tokens", "unique_data", "u_d", "n_unique_tokens", "unique"),
    "run": ("run", "run_id", "run_name"),
}

_POSITIVE_COLUMNS = ("N", "D", "C", "loss", "U")


class RunsTableError(ValueError):
    """A runs table that cannot be used, with where and why.

    Attributes
    ----------
    column : str or None
        The offending column (canonical name or the name in the user's table).
    row : object or None
        Index label of the first offending row (``None`` for table-level problems).
    problem : str
        What is wrong, in words.
    """

    def __init__(self, problem: str, *, column: str | None = None, row: object = None,
                 fix: str | None = None):
        self.column = column
        self.row = row
        self.problem = problem
        where = []
        if column is not None:
            where.append(f"column {column!r}")
        if row is not None:
            where.append(f"row {row!r}")
        message = (", ".join(where) + ": " if where else "") + problem
        if fix:
            message += f". {fix}"
        super().__init__(message)


def _normalise_name(name: object) -> str:
    return re.sub(r"[\s_\-]+", "", str(name)).lower()


@dataclass(frozen=True)
class RunsTable:
    """A validated runs table (immutable; arrays are float64 copies).

    Attributes
    ----------
    frame : pandas.DataFrame
        Canonical columns ``N``, ``D``, ``C``, ``loss`` and, when present,
        ``group``, ``seed``, ``U`` and ``run``. A copy: never the caller's object.
    flops_factor : float
        ``k`` in ``C = k N D`` used to derive a missing column.
    column_map : dict
        Canonical name -> column name in the source table (only the mapped ones).
    derived : str or None
        Which of ``N``, ``D``, ``C`` was computed from the other two.
    """

    frame: pd.DataFrame
    flops_factor: float = DEFAULT_FLOPS_FACTOR
    column_map: Mapping[str, str] = field(default_factory=dict)
    derived: str | None = None

    @property
    def num_runs(self) -> int:
        return len(self.frame)

    def column(self, name: str) -> np.ndarray:
        """Column ``name`` as a float64 NumPy array (``group`` as object labels)."""
        if name not in self.frame.columns:
            raise RunsTableError("column is missing", column=name)
        values = self.frame[name].to_numpy()
        return values if name in ("group", "run") else values.astype(np.float64)

    @property
    def N(self) -> np.ndarray:  # noqa: N802 - the field's notation
        return self.column("N")

    @property
    def D(self) -> np.ndarray:  # noqa: N802
        return self.column("D")

    @property
    def C(self) -> np.ndarray:  # noqa: N802
        return self.column("C")

    @property
    def loss(self) -> np.ndarray:
        return self.column("loss")

    @property
    def has_groups(self) -> bool:
        return "group" in self.frame.columns

    @property
    def group_labels(self) -> tuple[str, ...]:
        """Sorted distinct group labels (``("all",)`` when there is no group column)."""
        if not self.has_groups:
            return ("all",)
        return tuple(str(g) for g in pd.unique(self.frame["group"].astype(str).sort_values()))

    @property
    def group_index(self) -> np.ndarray:
        """Integer group code of each run, indexing :attr:`group_labels`."""
        if not self.has_groups:
            return np.zeros(self.num_runs, dtype=np.int32)
        lookup = {label: i for i, label in enumerate(self.group_labels)}
        return np.array([lookup[str(g)] for g in self.frame["group"]], dtype=np.int32)

    def describe(self) -> str:
        """One line saying which columns were used and what was derived."""
        mapping = ", ".join(
            f"{canon} <- {src!r}" for canon, src in self.column_map.items() if canon != src
        )
        parts = [f"{self.num_runs} runs"]
        if mapping:
            parts.append(f"columns mapped: {mapping}")
        if self.derived:
            parts.append(f"{self.derived} derived from C = {self.flops_factor:g} N D")
        if self.has_groups:
            parts.append(f"groups: {', '.join(self.group_labels)}")
        return "; ".join(parts)

    def require(self, columns: tuple[str, ...], *, min_runs: int = 1, law: str = "") -> None:
        """Raise :class:`RunsTableError` unless ``columns`` exist and there are enough runs."""
        for name in columns:
            if name not in self.frame.columns:
                raise RunsTableError(
                    "column is missing",
                    column=name,
                    fix=f"the {law or 'law'} needs columns {', '.join(columns)}; give two of N, "
                    "D, C (the third is derived from C = k N D)",
                )
        if self.num_runs < min_runs:
            raise RunsTableError(
                f"too few runs: {self.num_runs} given, the {law or 'law'} needs at least "
                f"{min_runs} (one more than its number of parameters)",
            )


def _read_path(path: str | os.PathLike) -> pd.DataFrame:
    path = Path(path)
    if not path.exists():
        raise RunsTableError(f"file not found: {str(path)!r}")
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return pd.read_parquet(path)
    if suffix in (".csv", ".txt", ".tsv"):
        return pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",")
    raise RunsTableError(f"unsupported file type {suffix!r}", fix="use a .csv or .parquet file")


def _map_columns(frame: pd.DataFrame, explicit: Mapping[str, str] | None) -> dict[str, str]:
    """Canonical name -> source column, from explicit mapping first, then aliases."""
    mapping: dict[str, str] = {}
    explicit = dict(explicit or {})
    for canon, source in explicit.items():
        if canon not in COLUMN_ALIASES:
            raise RunsTableError(
                f"unknown canonical column {canon!r}",
                fix=f"map onto one of {', '.join(COLUMN_ALIASES)}",
            )
        if source not in frame.columns:
            raise RunsTableError("column named in `columns=` is not in the table", column=source)
        mapping[canon] = source
    by_normal: dict[str, str] = {}
    for col in frame.columns:
        by_normal.setdefault(_normalise_name(col), col)
    for canon, aliases in COLUMN_ALIASES.items():
        if canon in mapping:
            continue
        # Exact canonical name wins, then aliases in order of preference.
        if canon in frame.columns:
            mapping[canon] = canon
            continue
        for alias in aliases:
            source = by_normal.get(_normalise_name(alias))
            if source is not None and source not in mapping.values():
                mapping[canon] = source
                break
    return mapping


def _numeric_column(frame: pd.DataFrame, source: str, canon: str) -> np.ndarray:
    raw = frame[source]
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
    bad_text = np.isnan(values) & raw.notna().to_numpy()
    if bad_text.any():
        pos = int(np.argmax(bad_text))
        raise RunsTableError(
            f"non-numeric value {raw.iloc[pos]!r} (canonical {canon})",
            column=source,
            row=frame.index[pos],
        )
    if np.isnan(values).any():
        pos = int(np.argmax(np.isnan(values)))
        raise RunsTableError(f"missing value (NaN) in {canon}", column=source, row=frame.index[pos],
                             fix="drop or fill the row before fitting")
    if np.isinf(values).any():
        pos = int(np.argmax(np.isinf(values)))
        raise RunsTableError(f"infinite value in {canon}", column=source, row=frame.index[pos])
    if canon in _POSITIVE_COLUMNS and (values <= 0).any():
        pos = int(np.argmax(values <= 0))
        raise RunsTableError(
            f"{canon} must be positive, got {float(values[pos]):g} (zero or negative)",
            column=source,
            row=frame.index[pos],
        )
    return values


def load_runs(
    data: pd.DataFrame | str | os.PathLike,
    *,
    flops_factor: float = DEFAULT_FLOPS_FACTOR,
    columns: Mapping[str, str] | None = None,
) -> RunsTable:
    """Validate a runs table and return it in canonical form.

    Parameters
    ----------
    data : pandas.DataFrame or path
        The runs, or a ``.csv`` / ``.parquet`` file holding them.
    flops_factor : float, default 6
        ``k`` in ``C = k N D`` (6 = forward + backward, attention ignored).
    columns : mapping, optional
        Explicit ``{canonical: source}`` names, e.g. ``{"N": "non_embedding_params"}``,
        taking precedence over the alias table :data:`COLUMN_ALIASES`.

    Returns
    -------
    RunsTable

    Raises
    ------
    RunsTableError
        Missing columns, non-numeric values, NaN or infinite values, zero or
        negative N/D/C/loss: the message names the column, the first bad row and
        the problem.

    Examples
    --------
    >>> import pandas as pd
    >>> runs = load_runs(pd.DataFrame({"params": [1e8, 4e8], "tokens": [2e9, 8e9],
    ...                                "loss": [3.1, 2.8]}))
    >>> runs.describe()
    "2 runs; columns mapped: N <- 'params', D <- 'tokens'; C derived from C = 6 N D"
    """
    if not (np.isfinite(flops_factor) and flops_factor > 0):
        raise RunsTableError(f"flops_factor must be a positive number, got {flops_factor!r}")
    if isinstance(data, pd.DataFrame):
        frame = data
    elif isinstance(data, (str, os.PathLike)):
        frame = _read_path(data)
    else:
        raise RunsTableError(
            f"expected a pandas DataFrame or a path, got {type(data).__name__}"
        )
    if len(frame) == 0:
        raise RunsTableError("the table has no rows")
    if frame.columns.duplicated().any():
        dup = frame.columns[frame.columns.duplicated()][0]
        raise RunsTableError("duplicated column name", column=str(dup))

    mapping = _map_columns(frame, columns)
    if "loss" not in mapping:
        raise RunsTableError(
            "column is missing",
            column="loss",
            fix=f"name it 'loss' or one of {COLUMN_ALIASES['loss']}, or pass columns={{'loss': ...}}",
        )
    sizes = [c for c in ("N", "D", "C") if c in mapping]
    out: dict[str, np.ndarray] = {}
    for canon in ("N", "D", "C", "loss", "seed", "U"):
        if canon in mapping:
            out[canon] = _numeric_column(frame, mapping[canon], canon)

    derived = None
    if len(sizes) == 2:
        (derived,) = {"N", "D", "C"} - set(sizes)
        if derived == "C":
            out["C"] = flops_factor * out["N"] * out["D"]
        elif derived == "D":
            out["D"] = out["C"] / (flops_factor * out["N"])
        else:
            out["N"] = out["C"] / (flops_factor * out["D"])
        bad = ~(np.isfinite(out[derived]) & (out[derived] > 0))
        if bad.any():
            pos = int(np.argmax(bad))
            raise RunsTableError(
                f"derived {derived} = {float(out[derived][pos]):g} is not a positive finite "
                f"number (from C = {flops_factor:g} N D)",
                column=derived, row=frame.index[pos],
                fix="check the units of N, D, C and flops_factor",
            )
    elif len(sizes) == 3:
        ratio = out["C"] / (flops_factor * out["N"] * out["D"])
        median_ratio = float(np.median(ratio))
        if not 0.5 < median_ratio < 2.0:
            logger.warning(
                "C differs from %g N D by a median factor %.3g: check the FLOPs convention "
                "(flops_factor) and which parameter count N is", flops_factor, median_ratio,
            )

    result = pd.DataFrame(index=frame.index.copy())
    for canon in ("N", "D", "C", "loss"):
        if canon in out:
            result[canon] = out[canon]
    for canon in ("group", "run"):  # labels, kept as strings
        if canon in mapping:
            labels = frame[mapping[canon]]
            if labels.isna().any():
                pos = int(np.argmax(labels.isna().to_numpy()))
                raise RunsTableError(f"missing {canon} label", column=mapping[canon],
                                     row=frame.index[pos])
            result[canon] = labels.astype(str).to_numpy()
    if "seed" in out:
        result["seed"] = out["seed"]
    if "U" in out:
        result["U"] = out["U"]

    used = {canon: src for canon, src in mapping.items() if canon in result.columns}
    table = RunsTable(frame=result, flops_factor=float(flops_factor), column_map=used,
                      derived=derived)
    logger.info("runs table: %s", table.describe())
    return table
