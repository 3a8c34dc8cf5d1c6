"""The data-constrained law on the datablations runs (Muennighoff et al. 2023).

Fits ``law="data_constrained"`` with NUTS to

* the 182 runs of the published R_D*/R_N* fit (``which="parametric_fit"``),
  with all coefficients free (alpha = beta tied, as the paper fits them) and with
  E, A, B, alpha pinned to the paper's C4 values through tight priors (the
  paper's own set-up), under a normal and a Student-t likelihood;
* the 229 contour-plot runs (``which="contour"``);

and compares the posterior of R_D*, R_N* with the published 15.39 / 5.31. It
also minimises the paper's objective (Huber, delta 1e-3, on log loss) with this
library's law at the paper's coefficients, from the paper's 4 x 4 start grid,
to check the law against the published optimum, and answers the epochs
question for 25B unique tokens at 1e22 FLOPs.

Usage::

    python benchmarks/datablations.py            # prints and writes benchmarks/DATABLATIONS.md

Needs ``../shared/data`` (or ``$BAYES_SCALING_DATA``). About 3-5 minutes on 2 CPU
cores, most of it compilation.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import sys
import time
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import pandas as pd
from scipy.optimize import minimize

import bayes_scaling as bs
from bayes_scaling.data.datasets import load_datablations, shared_data_available
from bayes_scaling.design.repetition import epochs_worth, optimal_allocation_constrained
from bayes_scaling.laws.data_constrained import PUBLISHED_C4

PUBLISHED = {"R_D_star": 15.387756, "R_N_star": 5.309743}
PUBLISHED_HUBER = 0.0158259  # the notebook's objective at its optimum (float32)
#: SD (log scale) of the priors that pin E, A, B, alpha to the paper's values.
PIN_SD = 1e-3
#: The epochs question: unique tokens and compute budget (FLOPs).
UNIQUE_TOKENS, BUDGET = 25e9, 1e22


def pinned_priors(frame: pd.DataFrame) -> dict[str, dist.Distribution]:
    """Tight priors: E, A, B, alpha (= beta) at the paper's C4 coefficients.

    A and B are pinned through their sampled sites ``log_A_c = log A - alpha log N0``
    and ``log_B_c = log B - beta log D0`` (``N0``, ``D0``: geometric means of the
    runs, the fit's design centre). A prior on ``A`` itself would sample ``log_A_c``
    from an improper flat prior with a tight factor, whose random initialisation
    far from the pin leaves NUTS with a badly scaled warm-up (R-hat > 2 in a trial).
    """
    p = PUBLISHED_C4
    log_n0 = float(np.mean(np.log(frame["N"])))
    log_d0 = float(np.mean(np.log(frame["D"])))
    return {
        "E": dist.LogNormal(np.log(p["E"]), PIN_SD),
        "alpha": dist.LogNormal(np.log(p["alpha"]), PIN_SD),
        "log_A_c": dist.Normal(np.log(p["A"]) - p["alpha"] * log_n0, PIN_SD),
        "log_B_c": dist.Normal(np.log(p["B"]) - p["beta"] * log_d0, PIN_SD),
    }


def huber_objective(law: bs.Law, frame: pd.DataFrame, params: dict, delta: float = 1e-3):
    """The notebook's objective: sum of Huber losses of log-loss residuals."""
    with jax.enable_x64(True):
        log_inputs = {k: jnp.log(jnp.asarray(frame[k].to_numpy())) for k in ("N", "D", "U")}
        pred = np.asarray(law.log_mean({k: jnp.asarray(v) for k, v in params.items()},
                                       log_inputs))
    r = np.abs(pred - np.log(frame["loss"].to_numpy()))
    return float(np.sum(np.where(r <= delta, 0.5 * r**2, delta * (r - 0.5 * delta))))


def huber_refit(frame: pd.DataFrame) -> pd.DataFrame:
    """Minimise the Huber objective over (R_D*, R_N*) at the paper's coefficients."""
    law = bs.DataConstrained(tied_exponents=True)

    def objective(x):
        if np.any(x <= 0):
            return np.inf
        return huber_objective(law, frame, {**PUBLISHED_C4, "R_D_star": x[0], "R_N_star": x[1]})

    rows = []
    for rd in np.linspace(0.5, 20, 4):  # the notebook's grid, 0 replaced by 0.5 (R* > 0)
        for rn in np.linspace(0.5, 20, 4):
            res = minimize(objective, [rd, rn], method="Nelder-Mead",
                           options={"xatol": 1e-7, "fatol": 1e-12, "maxiter": 4000})
            rows.append({"start": f"({rd:g}, {rn:g})", "R_D_star": res.x[0],
                         "R_N_star": res.x[1], "huber": res.fun})
    table = pd.DataFrame(rows)
    table["optimum"] = table[["R_D_star", "R_N_star"]].round(1).astype(str).agg(", ".join, axis=1)
    best = table.groupby("optimum").agg(R_D_star=("R_D_star", "median"),
                                        R_N_star=("R_N_star", "median"),
                                        huber=("huber", "min"), starts=("start", "count"))
    return best.sort_values("huber").reset_index(drop=True)


def least_squares_optimum(frame: pd.DataFrame) -> tuple[float, float]:
    """Minimise the sum of squared log-loss residuals over (R_D*, R_N*) at the paper's
    coefficients (best of the notebook's start grid)."""
    law = bs.DataConstrained(tied_exponents=True)
    with jax.enable_x64(True):
        log_inputs = {k: jnp.log(jnp.asarray(frame[k].to_numpy())) for k in ("N", "D", "U")}
    log_loss = np.log(frame["loss"].to_numpy())

    def objective(x):
        if np.any(x <= 0):
            return np.inf
        params = {**PUBLISHED_C4, "R_D_star": x[0], "R_N_star": x[1]}
        with jax.enable_x64(True):
            pred = np.asarray(law.log_mean({k: jnp.asarray(v) for k, v in params.items()},
                                           log_inputs))
        return float(np.sum((pred - log_loss) ** 2))

    best = min((minimize(objective, [rd, rn], method="Nelder-Mead",
                         options={"xatol": 1e-7, "fatol": 1e-12, "maxiter": 4000})
                for rd in np.linspace(0.5, 20, 4) for rn in np.linspace(0.5, 20, 4)),
               key=lambda res: res.fun)
    return float(best.x[0]), float(best.x[1])


def _span(values: list[float], fmt: str = "{:.2g}") -> str:
    """``a`` when the values round alike, else ``a to b`` (smallest to largest)."""
    lo, hi = fmt.format(min(values)), fmt.format(max(values))
    return lo if lo == hi else f"{lo} to {hi}"


def _band(summary: pd.DataFrame, name: str, fmt: str = "{:.3g}") -> str:
    r = summary.loc[name]
    return f"{fmt.format(r['median'])} ({fmt.format(r['lower'])}-{fmt.format(r['upper'])})"


def notes(optima: pd.DataFrame, at_published: float, lsq: tuple[float, float],
          rows: list[dict], fits: dict, answers: dict) -> str:
    """Section 4: every number below is formatted from this run's results."""
    near = ((optima["R_D_star"] - PUBLISHED["R_D_star"]).abs() < 0.5) & (
        (optima["R_N_star"] - PUBLISHED["R_N_star"]).abs() < 0.5)
    published_starts = int(optima.loc[near, "starts"].sum())
    total_starts = int(optima["starts"].sum())
    others = optima.loc[~near]
    lower = others[others["huber"] < at_published]
    rel_digits = -np.log10(abs(at_published / PUBLISHED_HUBER - 1) + 1e-16)
    out = ["## 4. Reading the results", "",
           "Every number in this section is computed by this run of the script.", ""]
    law = (f"* **The law against the paper's.** At the published (R_D*, R_N*) this library's "
           f"`log_mean` gives {at_published:.7f} for the paper's Huber objective (notebook, "
           f"float32: {PUBLISHED_HUBER}; relative difference "
           f"{abs(at_published / PUBLISHED_HUBER - 1):.1e}, about {rel_digits:.0f} digits). "
           f"{published_starts} of the {total_starts} notebook starts converge to the published "
           "optimum")
    if near.any():
        r = optima.loc[near].iloc[0]
        law += f" (here {r['R_D_star']:.2f}, {r['R_N_star']:.2f})"
    law += "."
    if len(lower):
        spots = ", ".join(f"({r.R_D_star:.3g}, {r.R_N_star:.3g})" for r in lower.itertuples())
        change = (at_published - lower["huber"].min()) / at_published
        law += (f" {int(lower['starts'].sum())} starts find lower values of the same objective "
                f"at {spots}: the published point is a local optimum of its own objective, and "
                f"the objective differs by at most {change:.2%} between these optima.")
    out.append(law)

    pinned = [fits[k] for k in fits if "pinned" in k]
    pinned_rows = [r for r in rows if "pinned" in r["fit"]]
    summaries = [f.summary() for f in pinned]
    corr = [float(r["corr(log R_D*, log R_N*)"]) for r in pinned_rows]
    inside = all(r["R_D_star in interval"] == "no" and r["R_N_star in interval"] == "no"
                 for r in pinned_rows)
    out.append(
        "* **With the paper's coefficients pinned** (its own set-up): R_D* "
        + " and ".join(_band(s, "R_D_star") for s in summaries)
        + ", R_N* " + " and ".join(_band(s, "R_N_star") for s in summaries)
        + " (normal and Student-t likelihood; medians and 90% intervals), "
        f"corr(log R_D*, log R_N*) {_span(corr)}, max R-hat "
        f"{max(float(r['max R-hat']) for r in pinned_rows):.3f}. The published "
        f"({PUBLISHED['R_D_star']:.2f}, {PUBLISHED['R_N_star']:.2f}) "
        + ("lies outside both intervals in both fits" if inside
           else "lies inside an interval in at least one fit")
        + f". The least-squares optimum at these coefficients is ({lsq[0]:.3g}, {lsq[1]:.3g}). "
        f"The residual SD is {_span([s.loc['sigma', 'median'] for s in summaries], '{:.3f}')} in log "
        "loss: R_D* and R_N* absorb the misfit of the C4 coefficients on these runs, so a point "
        "estimate of either constant without its interval overstates what the runs tell.")

    free = {k: fits[k] for k in fits if "182 runs, all free" in k}
    fs = {k: f.summary() for k, f in free.items()}
    normal = next(s for k, s in fs.items() if k.endswith("normal"))
    student = next(s for k, s in fs.items() if k.endswith("student_t"))
    contour = fits["contour 229 runs, all free, student_t"].summary()
    out.append(
        "* **With all coefficients free** (alpha = beta): E "
        + _span([s.loc["E", "median"] for s in fs.values()], "{:.3g}")
        + ", alpha " + _span([s.loc["alpha", "median"] for s in fs.values()], "{:.2f}")
        + ", R_D* " + _span([s.loc["R_D_star", "median"] for s in fs.values()], "{:.3g}")
        + ", R_N* median " + _span([s.loc["R_N_star", "median"] for s in fs.values()], "{:.3g}")
        + " with 90% upper ends " + _span([s.loc["R_N_star", "upper"] for s in fs.values()],
                                           "{:.3g}")
        + f" (posterior medians of the normal and Student-t fits). The residual SD is "
        f"{normal.loc['sigma', 'median']:.3f} (normal) vs {student.loc['sigma', 'median']:.3f} "
        "(Student-t scale); the Student-t likelihood is the Bayesian counterpart of the "
        f"paper's Huber loss. The 229 contour runs give R_D* {_band(contour, 'R_D_star')} and "
        f"R_N* {_band(contour, 'R_N_star')}.")

    divergences = sum(int(r["divergences"]) for r in rows)
    low_ess = [r for r in rows if int(r["warnings"]) > 0]
    out.append(
        f"* **Sampler.** {divergences} divergences and max R-hat "
        f"{max(float(r['max R-hat']) for r in rows):.3f} over the {len(rows)} fits; min bulk "
        f"ESS {min(float(r['min ESS']) for r in rows):.0f}; "
        + (f"{len(low_ess)} fit(s) with sampling warnings ("
           + ", ".join(f"{r['fit']}: {r['warnings']}" for r in low_ess) + ")."
           if low_ess else "no sampling warnings.")
        + " R_D* and R_N* are sampled on the log scale; the pinned fits pin the sampled "
          "sites `log_A_c`, `log_B_c` (see `pinned_priors`).")
    epochs = "; ".join(f"{label}: ~{a.best_epochs:g} epochs ({a.best_lower:g} to "
                       f"{a.best_upper:g})" for label, a in answers.items())
    out.append(f"* **Epochs** of {UNIQUE_TOKENS:.3g} unique tokens at {BUDGET:.0e} FLOPs, per "
               f"fit: {epochs}. The "
               "intervals are conditional on the law and its coefficients: compare the spread "
               "between fits with the spread within each.")
    seconds = [float(r["seconds"]) for r in rows]
    out.append(f"* `seconds` is wall time of each fit ({_span(seconds, '{:.0f}')} s here), "
               "compilation included; it depends on the machine and on the compilation cache.")
    return "\n".join(out)


def fit_row(label: str, frame: pd.DataFrame, likelihood: str, priors, args) -> tuple[dict, bs.ScalingFit]:
    law = bs.DataConstrained(tied_exponents=True)
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fitted = bs.fit(frame, law=law, likelihood=likelihood, priors=priors, chains=args.chains,
                        draws=args.draws, warmup=args.warmup, seed=args.seed,
                        target_accept=args.target_accept)
    seconds = time.perf_counter() - start
    summary = fitted.summary()
    row = {"fit": label, "runs": fitted.runs.num_runs, "likelihood": likelihood}
    for name in ("R_D_star", "R_N_star", "alpha", "E", "A", "B", "sigma"):
        r = summary.loc[name]
        row[name] = f"{r['median']:.4g} [{r['lower']:.4g}, {r['upper']:.4g}]"
    rd, rn = fitted.draws("R_D_star"), fitted.draws("R_N_star")
    for name, published in PUBLISHED.items():
        r = summary.loc[name]
        row[f"{name} in interval"] = "yes" if r["lower"] <= published <= r["upper"] else "no"
    row["P(R_D* > 50)"] = f"{np.mean(rd > 50):.2f}"
    row["corr(log R_D*, log R_N*)"] = f"{np.corrcoef(np.log(rd), np.log(rn))[0, 1]:.2f}"
    chain_medians = np.median(fitted.posterior["posterior"]["R_D_star"].values, axis=1)
    row["R_D* chain medians"] = ", ".join(f"{m:.3g}" for m in chain_medians)
    row["seconds"] = f"{seconds:.0f}"
    row["divergences"] = int(fitted.posterior["sample_stats"]["diverging"].values.sum())
    names = [n for n in summary.index if n != "beta"]
    row["max R-hat"] = f"{summary.loc[names, 'r_hat'].max():.3f}"
    row["min ESS"] = f"{summary.loc[names, 'ess_bulk'].min():.0f}"
    row["warnings"] = len([w for w in caught if issubclass(w.category, bs.SamplingWarning)])
    return row, fitted


def markdown(frame: pd.DataFrame) -> str:
    head = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(str(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([head, rule, *body])


def transpose(rows: list[dict]) -> pd.DataFrame:
    table = pd.DataFrame(rows).set_index("fit").T
    table.index.name = "quantity"
    return table.reset_index()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--target-accept", type=float, default=0.95)
    parser.add_argument("--out", default=str(Path(__file__).with_name("DATABLATIONS.md")))
    args = parser.parse_args(argv)
    if not shared_data_available():
        print("shared data folder not found: set BAYES_SCALING_DATA", file=sys.stderr)
        return 1

    runs182 = load_datablations(which="parametric_fit")
    contour = load_datablations(which="contour")
    lines = ["# The data-constrained law on the datablations runs", "",
             f"Generated by `benchmarks/datablations.py` on {datetime.date.today()} "
             f"({platform.machine()}, {jax.device_count()} host devices); {args.chains} chains x "
             f"{args.draws} draws after {args.warmup} warm-up, target_accept "
             f"{args.target_accept}, seed {args.seed}. Intervals: 90% equal-tailed. "
             "alpha = beta tied throughout (as the paper fits the C4 coefficients).", ""]

    print("Huber refit at the paper's coefficients ...", file=sys.stderr)
    optima = huber_refit(runs182)
    at_published = huber_objective(bs.DataConstrained(tied_exponents=True), runs182,
                                   {**PUBLISHED_C4, **PUBLISHED})
    lines += ["## 1. The law against the published optimum (no sampling)", "",
              "The paper's objective (Huber loss, delta 1e-3, on log loss; coefficients fixed to "
              f"A = {PUBLISHED_C4['A']:.1f}, B = {PUBLISHED_C4['B']:.1f}, E = {PUBLISHED_C4['E']:.3f}, "
              f"alpha = beta = {PUBLISHED_C4['alpha']:.4f}) evaluated with this "
              "library's `DataConstrained.log_mean`, minimised over (R_D*, R_N*) by Nelder-Mead "
              "from the notebook's 4 x 4 start grid:", "",
              f"* at the published ({PUBLISHED['R_D_star']}, {PUBLISHED['R_N_star']}): objective {at_published:.7f} "
              f"(notebook, float32: {PUBLISHED_HUBER})", "",
              markdown(optima.assign(R_D_star=optima.R_D_star.map("{:.4f}".format),
                                     R_N_star=optima.R_N_star.map("{:.4f}".format),
                                     huber=optima.huber.map("{:.7f}".format))), ""]

    rows, fits = [], {}
    specs = [
        ("182 runs, coefficients pinned, normal", runs182, "normal", pinned_priors(runs182)),
        ("182 runs, coefficients pinned, student_t", runs182, "student_t",
         pinned_priors(runs182)),
        ("182 runs, all free, normal", runs182, "normal", None),
        ("182 runs, all free, student_t", runs182, "student_t", None),
        ("contour 229 runs, all free, student_t", contour, "student_t", None),
    ]
    for label, frame, likelihood, priors in specs:
        print(f"fitting {label} ...", file=sys.stderr)
        row, fitted = fit_row(label, frame, likelihood, priors, args)
        rows.append(row)
        fits[label] = fitted
    lines += [f"## 2. Posterior vs published (R_D* = {PUBLISHED['R_D_star']:.2f}, "
              f"R_N* = {PUBLISHED['R_N_star']:.2f})", "",
              markdown(transpose(rows)), ""]

    lines += [f"## 3. How many epochs of {UNIQUE_TOKENS:.3g} unique tokens at {BUDGET:.0e} FLOPs?",
              ""]
    answers = {}
    for label in ("182 runs, coefficients pinned, student_t", "182 runs, all free, student_t"):
        fitted = fits[label]
        answer = epochs_worth(fitted, unique_tokens=UNIQUE_TOKENS, C=BUDGET)
        answers[label] = answer
        alloc = optimal_allocation_constrained(fitted, C=[BUDGET / 10, BUDGET, BUDGET * 10],
                                               unique_tokens=UNIQUE_TOKENS)
        lines += [f"**{label}.** {answer.answer}", ""]
        show = answer.table[answer.table["epochs"].isin([1, 2, 4, 8, 12, 16, 24, 32, 48, 60])]
        cols = {"epochs": "{:g}", "N": "{:.3g}", "loss": "{:.4f}", "penalty": "{:.2%}",
                "penalty_upper": "{:.2%}", "excess": "{:.2%}", "p_best": "{:.2f}"}
        lines += [markdown(pd.DataFrame({c: show[c].map(f.format) for c, f in cols.items()})),
                  ""]
        acols = {"C": "{:.0e}", "N_opt": "{:.3g}", "D_opt": "{:.3g}", "epochs_opt": "{:.3g}",
                 "epochs_opt_lower": "{:.3g}", "epochs_opt_upper": "{:.3g}",
                 "loss_opt": "{:.4f}", "penalty": "{:.2%}"}
        lines += [f"Compute-optimal allocation with at most {UNIQUE_TOKENS:.3g} unique tokens:", "",
                  markdown(pd.DataFrame({c: alloc[c].map(f.format) for c, f in acols.items()})),
                  ""]
    lines += [notes(optima, at_published, least_squares_optimum(runs182), rows, fits, answers)]
    text = "\n".join(lines)
    print(text)
    Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
