"""Approach 1 next to Approaches 2 and 3 and the posterior on checkpoint data.

For Gemstones (cooled-down branch ends and constant-LR trunk checkpoints) and
Pythia (Pile and deduplicated Pile, LAMBADA task loss) this script fits:

* Approach 1: power laws of N_opt(C), D_opt(C) on the envelope of the training
  curves, run bootstrap (:func:`bayes_scaling.baselines.approach1.fit_approach1`);
* Approach 2: iso-FLOP parabolas on the curves interpolated at log-spaced budgets
  (each run's loss at C, linear in log C between checkpoints), budget bootstrap
  within budgets;
* Approach 3: the Huber fit of the Chinchilla law to every checkpoint, bootstrap;
* the Bayesian posterior of the Chinchilla law (NUTS) on the same rows,

and prints the exponent ``a`` of ``N_opt ~ C^a`` (``b = 1 - a``) and ``N_opt`` at
1e21 FLOPs with 90% intervals as Markdown. Checkpoints of one run are correlated:
Approaches 3 and the posterior treat them as independent, so their intervals are
too narrow there.

Usage::

    python benchmarks/approach1.py > benchmarks/APPROACH1.md

Needs ``../shared/data``; exits with a message otherwise.
"""

from __future__ import annotations

import datetime
import platform
import sys
import time
import warnings

import numpy as np
import pandas as pd

import bayes_scaling as bs
from bayes_scaling.baselines.approach1 import fit_approach1
from bayes_scaling.baselines.approach2 import fit_approach2
from bayes_scaling.baselines.approach3 import fit_approach3
from bayes_scaling.data.datasets import load_gemstones, load_pythia, shared_data_available

LEVEL = 0.9
C_REF = 1e21
SEED = 0


def iso_flop_slices(curves: pd.DataFrame, num_budgets: int = 8) -> pd.DataFrame:
    """Each run's loss at log-spaced budgets inside its checkpoints (Approach 2's input)."""
    lo, hi = np.log(curves["C"].min()), np.log(curves["C"].max())
    budgets = np.exp(np.linspace(lo, hi, num_budgets + 2)[1:-1])
    rows = []
    for _, run in curves.groupby("run"):
        run = run.sort_values("C")
        log_c = np.log(run["C"].to_numpy())
        for c in budgets:
            if log_c[0] <= np.log(c) <= log_c[-1]:
                loss = np.interp(np.log(c), log_c, run["loss"].to_numpy())
                n = float(run["N"].iloc[0])
                rows.append({"N": n, "D": c / (6.0 * n), "loss": loss, "budget": c})
    return pd.DataFrame(rows)


def interval(estimate: float, draws: np.ndarray | None, digits: int = 3) -> str:
    if draws is None or len(draws) == 0:
        return f"{estimate:.{digits}f}"
    lo, hi = np.nanquantile(draws, [(1 - LEVEL) / 2, (1 + LEVEL) / 2])
    return f"{estimate:.{digits}f} ({lo:.{digits}f}, {hi:.{digits}f})"


def n_opt_cell(table: pd.DataFrame) -> str:
    row = table.iloc[0]
    return f"{row['N_opt']:.3g} ({row['N_opt_lower']:.3g}, {row['N_opt_upper']:.3g})"


def compare(name: str, curves: pd.DataFrame) -> list[dict[str, str]]:
    rows = []
    start = time.perf_counter()
    a1 = fit_approach1(curves, num_bootstrap=1000, seed=SEED, level=LEVEL)
    rows.append({"data": name, "method": "Approach 1 (envelope)",
                 "a": interval(a1.params["a"], a1.bootstrap["a"].to_numpy()),
                 "N_opt at 1e21": n_opt_cell(a1.optimal_allocation(C=C_REF)),
                 "seconds": f"{time.perf_counter() - start:.1f}"})

    start = time.perf_counter()
    try:
        slices = iso_flop_slices(curves)
        a2 = fit_approach2(slices, budget_column="budget", on_bad_budget="skip",
                           num_bootstrap=1000, seed=SEED, level=LEVEL)
        used = int(a2.budgets["used"].sum())
        cells = {"a": interval(a2.params["a"], a2.bootstrap["a"].to_numpy())
                 + f" [{used} of {len(a2.budgets)} budgets]",
                 "N_opt at 1e21": n_opt_cell(a2.optimal_allocation(C=C_REF))}
    except ValueError as error:
        cells = {"a": f"n/a: {error}", "N_opt at 1e21": "n/a"}
    rows.append({"data": name, "method": "Approach 2 (iso-FLOP slices)", **cells,
                 "seconds": f"{time.perf_counter() - start:.1f}"})

    start = time.perf_counter()
    table = curves[["N", "D", "loss"]]
    a3 = fit_approach3(table, num_bootstrap=200, seed=SEED, level=LEVEL)
    p, boot = a3.params, a3.bootstrap
    a3_draws = None if boot is None else (boot["beta"] / (boot["alpha"] + boot["beta"])).to_numpy()
    rows.append({"data": name, "method": "Approach 3 (Huber, all checkpoints)",
                 "a": interval(p["beta"] / (p["alpha"] + p["beta"]), a3_draws),
                 "N_opt at 1e21": n_opt_cell(a3.optimal_allocation(C=C_REF)),
                 "seconds": f"{time.perf_counter() - start:.1f}"})

    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        post = bs.fit(table, law="chinchilla", likelihood="student_t", chains=2, draws=500,
                      warmup=500, seed=SEED, level=LEVEL)
    alpha, beta = post.draws("alpha"), post.draws("beta")
    a_draws = beta / (alpha + beta)
    note = " (sampler warned)" if any(issubclass(w.category, bs.SamplingWarning)
                                      for w in caught) else ""
    rows.append({"data": name, "method": "posterior (Chinchilla law, Student-t)" + note,
                 "a": interval(float(np.median(a_draws)), a_draws),
                 "N_opt at 1e21": n_opt_cell(post.optimal_allocation(C=C_REF)),
                 "seconds": f"{time.perf_counter() - start:.1f}"})
    return rows


def markdown(frame: pd.DataFrame) -> str:
    head = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(str(v) for v in row) + " |" for row in frame.to_numpy()]
    return "\n".join([head, rule, *body])


def main() -> int:
    if not shared_data_available():
        print("../shared/data not found: nothing to compare", file=sys.stderr)
        return 1
    datasets = {
        "Gemstones, cooldown ends": load_gemstones(which="cooldown"),
        "Gemstones, hot checkpoints": load_gemstones(which="hot"),
        "Pythia (Pile), step >= 1000": load_pythia(deduped=False, min_step=1000),
        "Pythia (dedup), step >= 1000": load_pythia(deduped=True, min_step=1000),
    }
    start = time.perf_counter()
    rows = []
    for name, curves in datasets.items():
        print(f"{name}: {curves['run'].nunique()} runs, {len(curves)} rows", file=sys.stderr)
        rows += compare(name, curves)
    frame = pd.DataFrame(rows)
    print("# Approach 1 next to Approaches 2, 3 and the posterior\n")
    print(f"Written by `benchmarks/approach1.py` on {datetime.date.today()} "
          f"(Python {platform.python_version()}, bayes_scaling {bs.__version__}, "
          f"{time.perf_counter() - start:.0f} s). `a` is the exponent of N_opt ~ C^a "
          f"(b = 1 - a); intervals are {LEVEL:.0%} (bootstrap for Approaches 1-3, "
          "posterior for the Bayesian fit). Loss: Gemstones, Dolma validation loss; "
          "Pythia, ln LAMBADA perplexity (a task loss).\n")
    print(markdown(frame))
    pythia = datasets["Pythia (Pile), step >= 1000"]
    horizons = pythia.groupby("run")["D"].max()
    print("\nHow to read it: Approach 1 uses only which run is lowest at each compute. "
          f"Pythia trains every size for {horizons.median():.3g} tokens "
          f"({horizons.nunique()} distinct horizon(s)), so its envelope is set by the "
          "model sizes alone and Approach 1 is barely identified there. Approaches 3 and the "
          "posterior treat correlated checkpoints of one run as independent observations, "
          "so their intervals are too narrow on checkpoint data; the hot Gemstones "
          "checkpoints are not annealed.\n")
    for name, curves in datasets.items():
        env = fit_approach1(curves).envelope
        used = env[env["used"]]
        print(f"- {name}: envelope of {curves['run'].nunique()} runs, {len(used)} of "
              f"{len(env)} points used, won by {used['run'].nunique()} runs, "
              f"C from {used['C'].min():.3g} to {used['C'].max():.3g}.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
