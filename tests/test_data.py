"""Runs-table validation: every rejected case raises RunsTableError naming column/row/problem."""

import numpy as np
import pandas as pd
import pytest

import bayes_scaling as bs
from bayes_scaling.data import RunsTableError, load_runs


def _table(**overrides):
    frame = pd.DataFrame({
        "N": [1e8, 2e8, 4e8, 8e8, 1.6e9, 3.2e9, 6.4e9],
        "D": [2e9, 4e9, 8e9, 1.6e10, 3.2e10, 6.4e10, 1.28e11],
        "loss": [3.5, 3.3, 3.1, 2.95, 2.8, 2.7, 2.6],
    })
    for key, value in overrides.items():
        frame[key] = value
    return frame


def test_aliases_are_mapped_and_reported():
    frame = _table().rename(columns={"N": "params", "D": "n_tokens", "loss": "val_loss"})
    runs = load_runs(frame)
    assert runs.column_map == {"N": "params", "D": "n_tokens", "loss": "val_loss"}
    assert "N <- 'params'" in runs.describe()
    np.testing.assert_allclose(runs.C, 6 * frame["params"] * frame["n_tokens"])


@pytest.mark.parametrize("missing", ["N", "D"])
def test_missing_size_is_derived_from_compute(missing):
    frame = _table()
    frame["C"] = 6 * frame["N"] * frame["D"]
    runs = load_runs(frame.drop(columns=missing))
    assert runs.derived == missing
    np.testing.assert_allclose(runs.column(missing), frame[missing], rtol=1e-12)


def test_flops_factor_is_configurable():
    frame = _table()
    frame["C"] = 8 * frame["N"] * frame["D"]
    runs = load_runs(frame.drop(columns="D"), flops_factor=8)
    np.testing.assert_allclose(runs.D, frame["D"], rtol=1e-12)


def test_explicit_column_mapping_wins():
    frame = _table().rename(columns={"N": "non_embedding_params"})
    frame["params"] = frame["non_embedding_params"] * 1.3
    runs = load_runs(frame, columns={"N": "non_embedding_params"})
    np.testing.assert_allclose(runs.N, frame["non_embedding_params"])


@pytest.mark.parametrize(
    ("column", "row", "value", "problem"),
    [
        ("N", 3, np.nan, "NaN"),
        ("D", 2, np.inf, "infinite"),
        ("loss", 4, 0.0, "must be positive"),
        ("N", 1, -5.0, "must be positive"),
        ("loss", 5, "abc", "non-numeric"),
    ],
)
def test_bad_values_name_column_row_and_problem(column, row, value, problem):
    frame = _table()
    frame[column] = frame[column].astype(object)
    frame.loc[row, column] = value
    before = frame.copy()
    with pytest.raises(RunsTableError) as info:
        load_runs(frame)
    error = info.value
    assert error.column == column and error.row == row
    assert problem in str(error) and f"row {row}" in str(error) and repr(column) in str(error)
    pd.testing.assert_frame_equal(frame, before)  # never mutated


def test_missing_loss_column():
    with pytest.raises(RunsTableError, match="column 'loss'"):
        load_runs(_table().drop(columns="loss"))


def test_missing_size_columns_fail_at_fit_time():
    frame = _table().drop(columns="D")
    with pytest.raises(RunsTableError, match="column 'D'.*missing"):
        bs.fit(frame, law="chinchilla", draws=10, warmup=10, chains=1)


def test_too_few_runs_for_the_law():
    with pytest.raises(RunsTableError, match="too few runs: 5 given.*at least 7"):
        bs.fit(_table().iloc[:5], law="chinchilla", draws=10, warmup=10, chains=1)


def test_caller_frame_is_not_mutated_by_fit(example_fit, seed):
    # The example fit's table and settings: its compiled sampler is reused (no compile).
    frame = bs.example_runs(seed=0)[::-1]  # reversed row order, an extra column, attrs
    frame["note"] = "mine"
    frame.attrs["source"] = "sweep"
    before = frame.copy(deep=True)
    fit = bs.fit(frame, law="chinchilla", seed=seed + 1, warn=False)
    pd.testing.assert_frame_equal(frame, before)
    assert frame.attrs == {"source": "sweep"}
    assert fit.runs.num_runs == example_fit.runs.num_runs


def test_csv_and_parquet_paths(tmp_path):
    frame = _table()
    frame.to_csv(tmp_path / "runs.csv", index=False)
    frame.to_parquet(tmp_path / "runs.parquet")
    for name in ("runs.csv", "runs.parquet"):
        runs = load_runs(tmp_path / name)
        np.testing.assert_allclose(runs.loss, frame["loss"])
    with pytest.raises(RunsTableError, match="file not found"):
        load_runs(tmp_path / "nope.csv")


def test_inconsistent_compute_convention_is_logged(caplog):
    frame = _table()
    frame["C"] = 2 * frame["N"] * frame["D"]
    with caplog.at_level("WARNING", logger="bayes_scaling"):
        load_runs(frame)
    assert "FLOPs convention" in caplog.text


def test_unique_tokens_and_run_columns_are_kept():
    frame = pd.DataFrame({"params": [1e8, 2e8], "tokens": [1e9, 2e9],
                          "unique_tokens": [5e8, 1e9], "run_id": [7, 8], "loss": [3.0, 2.9]})
    runs = load_runs(frame)
    assert runs.column_map["U"] == "unique_tokens" and runs.column_map["run"] == "run_id"
    np.testing.assert_allclose(runs.column("U"), [5e8, 1e9])
    assert list(runs.column("run")) == ["7", "8"]
    bad = frame.assign(unique_tokens=[5e8, 0.0])
    with pytest.raises(RunsTableError, match="unique_tokens.*row 1.*positive"):
        load_runs(bad)
