"""The three CLI commands run on the example and their outputs parse."""

import json
import subprocess
import sys

import pandas as pd
import pytest

from bayes_scaling.cli import main


@pytest.fixture(scope="module")
def fitted_dir(tmp_path_factory):
    base = tmp_path_factory.mktemp("cli")
    csv = base / "runs.csv"
    assert main(["example", str(csv)]) == 0
    out = base / "fit"
    assert main(["fit", str(csv), "--law", "chinchilla", "--out", str(out), "--chains", "2",
                 "--draws", "300", "--warmup", "300"]) == 0
    return out


def test_fit_writes_summary_posterior_and_plot(fitted_dir):
    summary = pd.read_csv(fitted_dir / "summary.csv", index_col=0)
    assert list(summary.index[:5]) == ["E", "A", "alpha", "B", "beta"]
    assert {"mean", "median", "lower", "upper", "r_hat", "ess_bulk"} <= set(summary.columns)
    assert (fitted_dir / "posterior.nc").stat().st_size > 0
    assert (fitted_dir / "loss_vs_compute.png").stat().st_size > 0


def test_predict_and_allocate_output_parses(fitted_dir, capsys):
    assert main(["predict", str(fitted_dir), "--N", "7e10", "--D", "1.4e12",
                 "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 1 and 1.5 < rows[0]["median"] < 2.5
    assert rows[0]["pred_lower"] < rows[0]["median"] < rows[0]["pred_upper"]
    assert main(["allocate", str(fitted_dir), "--C", "1e22", "1e24", "--format", "csv"]) == 0
    table = pd.read_csv(pd.io.common.StringIO(capsys.readouterr().out))
    assert list(table["C"]) == [1e22, 1e24]
    assert (table["N_opt_lower"] < table["N_opt"]).all()
    assert table["band"].str.contains("discrepancy").all()  # both budgets beyond the runs
    assert main(["allocate", str(fitted_dir), "--C", "1e24", "--plain-band",
                 "--format", "json"]) == 0
    plain = json.loads(capsys.readouterr().out)[0]
    assert plain["band"] == "plain posterior"
    assert plain["N_opt_upper"] / plain["N_opt_lower"] < (table["N_opt_upper"]
                                                          / table["N_opt_lower"]).iloc[1]


def test_errors_are_one_line(tmp_path):
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"N": [1e8, -1.0], "D": [1e9, 1e9], "loss": [3.0, 2.9]}).to_csv(bad, index=False)
    proc = subprocess.run(
        [sys.executable, "-m", "bayes_scaling.cli", "fit", str(bad), "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.startswith("bayes-scaling: error")]
    assert len(lines) == 1 and "row 1" in lines[0] and "'N'" in lines[0]
    assert "Traceback" not in proc.stderr


@pytest.mark.slow  # default-suite budget: grouped fits are covered by tests/test_groups.py
def test_grouped_table_fit_and_predict_per_group(tmp_path, capsys):
    import bayes_scaling as bs

    frames = []
    for label, scale in (("base", 1.0), ("new", 0.9)):
        truth = dict(bs.EXAMPLE_TRUTH, A=bs.EXAMPLE_TRUTH["A"] * scale)
        design = bs.iso_flop_design([1e18, 1e19, 1e20], runs_per_budget=8)
        runs = bs.simulate("chinchilla", truth, N=design["N"], D=design["D"], noise=0.007, seed=3)
        frames.append(runs.assign(group=label))
    csv = tmp_path / "grouped.csv"
    pd.concat(frames).to_csv(csv, index=False)
    out = tmp_path / "fit"
    assert main(["fit", str(csv), "--out", str(out), "--chains", "2", "--draws", "200",
                 "--warmup", "200"]) == 0
    assert (out / "group_effects.png").exists()
    capsys.readouterr()
    assert main(["predict", str(out), "--N", "1e9", "--D", "2e10", "--group", "new",
                 "--format", "json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 1
    assert main(["predict", str(out), "--N", "1e9", "--D", "2e10"]) == 2  # group required


def test_plot_command_writes_figures(fitted_dir, tmp_path):
    assert main(["plot", str(fitted_dir), "--kind", "frontier", "residuals",
                 "--out", str(tmp_path)]) == 0
    for kind in ("frontier", "residuals"):
        assert (tmp_path / f"{kind}.png").stat().st_size > 10_000
