"""Loaders of the shared public scaling-law tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayes_scaling import datasets
from bayes_scaling.data import load_runs
from bayes_scaling.datasets import (
    DATA_ENV_VAR,
    LOADERS,
    data_root,
    load_chinchilla,
    load_datablations,
    load_gadre2024,
    load_marin_isoflops,
    load_pythia,
    shared_data_available,
)

needs_data = pytest.mark.skipif(
    not shared_data_available(),
    reason=f"shared data folder not found at {data_root(check=False)} "
           f"(set {DATA_ENV_VAR} to run the real-data tests)",
)
realdata = [pytest.mark.realdata, needs_data]

ATTRS = ("source", "path", "parameter_count", "flops_convention", "loss", "license", "notes")


# --- root resolution (no real data needed) ------------------------------------------


def test_missing_root_error_names_path_and_env_var(tmp_path, monkeypatch):
    missing = tmp_path / "no_such_folder"
    with pytest.raises(FileNotFoundError) as info:
        load_chinchilla(root=missing)
    assert str(missing) in str(info.value)
    assert DATA_ENV_VAR in str(info.value)
    assert not shared_data_available(missing)

    monkeypatch.setenv(DATA_ENV_VAR, str(missing))
    with pytest.raises(FileNotFoundError, match=DATA_ENV_VAR) as info:
        data_root()
    assert str(missing) in str(info.value)
    assert data_root(check=False) == missing


def test_root_resolution_order(tmp_path, monkeypatch):
    monkeypatch.delenv(DATA_ENV_VAR, raising=False)
    project = datasets._PROJECT_ROOT
    assert data_root(check=False) == project.parent / "shared" / "data"
    monkeypatch.setenv(DATA_ENV_VAR, str(tmp_path))
    assert data_root() == tmp_path
    other = tmp_path / "explicit"
    other.mkdir()
    assert data_root(other) == other  # the argument beats the environment


def test_missing_file_in_existing_root_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="svg_extracted_data.csv"):
        load_chinchilla(root=tmp_path)


def test_chinchilla_loader_on_a_synthetic_copy(tmp_path, monkeypatch):
    folder = tmp_path / "chinchilla_epoch"
    folder.mkdir()
    n = np.array([1e8, 2e8, 4e8, 8e8, 1.6e9, 3.2e9, 6.4e9])
    c = np.full(7, 1e20)
    loss = np.array([3.0, 2.9, 5.0, 2.8, 4.5, 2.85, 4.0])
    pd.DataFrame({"x": 0.0, "y": 0.0, "color": "#fff", "Model Size": n, "Training FLOP": c,
                  "hex_color": "#fff", "loss": loss}).to_csv(folder / "svg_extracted_data.csv",
                                                             index=False)
    monkeypatch.setenv(DATA_ENV_VAR, str(tmp_path))
    frame = load_chinchilla(drop_high_loss=3)
    assert list(frame.columns) == ["N", "D", "C", "loss"]
    np.testing.assert_array_equal(frame["loss"], [3.0, 2.9, 2.8, 2.85])  # order kept
    np.testing.assert_allclose(frame["C"], 6.0 * frame["N"] * frame["D"], rtol=1e-12)
    assert len(load_chinchilla(drop_high_loss=0)) == 7
    with pytest.raises(ValueError):
        load_chinchilla(drop_high_loss=-1)


def test_loader_registry():
    assert set(LOADERS) == {"chinchilla", "marin_isoflops", "datablations", "gadre2024", "pythia",
                            "gemstones"}
    assert all(callable(f) for f in LOADERS.values())


# --- the real tables -----------------------------------------------------------------


def _check_canonical(frame: pd.DataFrame, *, six_nd: bool = True) -> None:
    for name in ("N", "D", "C", "loss"):
        assert frame[name].dtype == np.float64, name
        values = frame[name].to_numpy()
        assert np.all(np.isfinite(values)) and np.all(values > 0), name
    if six_nd:
        np.testing.assert_allclose(frame["C"], 6.0 * frame["N"] * frame["D"], rtol=1e-9)
    for key in ATTRS:
        assert isinstance(frame.attrs.get(key), str) and frame.attrs[key], key
    assert isinstance(frame.index, pd.RangeIndex)
    # The library's validator accepts the table as it is.
    table = load_runs(frame)
    assert table.num_runs == len(frame)
    assert table.derived is None


@pytest.mark.parametrize(
    ("name", "kwargs", "rows"),
    [
        ("chinchilla", {}, 240),
        ("chinchilla", {"drop_high_loss": 0}, 245),
        ("marin_isoflops", {}, 258),
        ("datablations", {}, 229),
        ("datablations", {"which": "parametric_fit"}, 182),
        ("gadre2024", {}, 104),
        ("pythia", {}, 16 * 26),
        ("pythia", {"deduped": True}, 8 * 26),
        ("gemstones", {}, 199),
        ("gemstones", {"which": "hot"}, 770),
    ],
)
@pytest.mark.realdata
@needs_data
def test_row_counts_and_canonical_columns(name, kwargs, rows):
    frame = LOADERS[name](**kwargs)
    assert len(frame) == rows
    _check_canonical(frame)


@pytest.mark.realdata
@needs_data
def test_chinchilla_drops_the_highest_losses():
    full = load_chinchilla(drop_high_loss=0)
    kept = load_chinchilla()
    assert kept["loss"].max() < full["loss"].nlargest(5).min()
    assert kept.attrs["parameter_count"] == "as plotted in Hoffmann et al. Fig. 4 (total)"
    assert kept.attrs["flops_convention"].startswith("C = 6 N D")


@pytest.mark.realdata
@needs_data
def test_marin_groups_and_budgets():
    frame = load_marin_isoflops()
    assert frame["group"].value_counts().to_dict() == {"nemotron": 88, "comma": 85, "dclm": 85}
    assert frame["budget"].min() == pytest.approx(1.8e18)
    assert frame["budget"].max() == pytest.approx(3e20)
    ratio = frame["C"] / frame["budget"]
    assert 0.9 < ratio.min() and ratio.max() < 1.4


@pytest.mark.realdata
@needs_data
def test_datablations_unique_tokens_and_epochs():
    contour = load_datablations()
    raw = pd.read_csv(contour.attrs["path"])
    np.testing.assert_allclose(contour["epochs"], raw["epochs"], rtol=1e-5)
    np.testing.assert_allclose(contour["epochs"], contour["D"] / contour["U"], rtol=1e-12)
    assert (contour["U"] <= contour["D"]).all()
    # Unique tokens agree with the run names (params | tokens | unique tokens).
    named = contour.set_index("run")["U"]
    assert named["2b84b4b"] == 4e9 and named["2b855b9b"] == 9e9 and named["14m900b100m"] == 1e8
    fit_rows = load_datablations(which="parametric_fit")
    assert fit_rows["epochs"].min() == pytest.approx(1.0)
    assert fit_rows["epochs"].max() == pytest.approx(9000.0)
    assert (fit_rows["U"] <= fit_rows["D"]).all()
    # The two sources agree on the runs they share (181 of the 182).
    both = contour.merge(fit_rows, on="run", suffixes=("_contour", "_fit"))
    assert len(both) == 181
    np.testing.assert_array_equal(both["U_contour"], both["U_fit"])
    np.testing.assert_allclose(both["loss_contour"], both["loss_fit"], rtol=1e-12)
    with pytest.raises(ValueError, match="which"):
        load_datablations(which="other")


@pytest.mark.realdata
@needs_data
def test_gadre_eval_sets_and_parameter_counts():
    frame = load_gadre2024()
    assert frame["group"].value_counts().to_dict() == {"rpj": 35, "rw_original": 35,
                                                       "c4_original": 34}
    assert (frame["N_no_embed"] < frame["N_total"]).all()
    np.testing.assert_allclose(frame["D"] / frame["N"], 20 * frame["chinchilla_multiplier"],
                               rtol=1e-6)
    assert (frame["loss_lower95"] <= frame["loss"]).all()
    assert (frame["loss"] <= frame["loss_upper95"]).all()
    raw = pd.read_csv(frame.attrs["path"])
    np.testing.assert_allclose(frame["C"], raw["C_6ND"], rtol=1e-9)
    non_embed = load_gadre2024(eval_set="openlm", parameters="non_embedding")
    np.testing.assert_array_equal(non_embed["N"], non_embed["N_no_embed"])
    np.testing.assert_array_equal(non_embed["loss"], raw["loss_openlm"])
    _check_canonical(non_embed)
    with pytest.raises(ValueError, match="c4_val"):
        load_gadre2024(eval_set="nope")


@pytest.mark.realdata
@needs_data
def test_pythia_learning_curves():
    frame = load_pythia()
    assert frame["step"].min() == 1
    assert frame["run"].nunique() == 16
    assert set(frame["group"]) == {"pile", "pile_deduped"}
    np.testing.assert_allclose(frame["loss"], np.log(frame["lambada_openai_ppl"]))
    np.testing.assert_allclose(frame["D"], frame["step"] * 2_097_152)
    late = load_pythia(deduped=False, min_step=1000, parameters="non_embedding")
    assert len(late) == 8 * 16 and not late["deduped"].any()
    np.testing.assert_array_equal(late["N"], late["N_no_embed"])
    _check_canonical(late)
    for col in ("lambada_openai_acc", "piqa_acc", "arc_easy_acc", "sciq_acc", "winogrande_acc"):
        assert frame[col].between(0, 1).all(), col
    with pytest.raises(ValueError, match="min_step"):
        load_pythia(min_step=0)
