"""Calibration benchmark: simulation-based calibration (SBC) and interval coverage.

For each law, ``--num`` parameter sets are drawn from the prior (the law's
default priors evaluated for a fixed, realistic design; see
:func:`bayes_scaling.calibration.sbc_design`), a runs table is simulated from
each, every table is fitted with NUTS in one batched program
(:func:`bayes_scaling.fit_many`), and the rank of each true value among the
posterior draws is recorded. Printed per law:

* rank-uniformity chi-square tests (10 bins) for every parameter, the loss of
  the curve and of a new run at 100x the largest fitted compute (Chinchilla: at
  20 tokens per parameter), and for Chinchilla the compute-optimal model size
  ``N_opt`` and loss ``loss_opt`` at that budget;
* coverage of the 50/80/90/95% equal-tailed intervals with Clopper-Pearson
  95% bounds.

A negative control follows: Chinchilla data simulated with noise sigma = 0.01,
fitted with sigma forced to 0.002 (5x too small) by a tight prior. Its ranks
pile at the edges and its coverage falls far below nominal, showing that the
check can fail.

Rank histograms are written to ``benchmarks/results/sbc_<law>.png`` (git-ignored)
and everything else to ``benchmarks/CALIBRATION.md``: every number there, prose
included, is formatted from this run's results.

Usage: ``python benchmarks/calibration.py [--num 200] [--negative 100]
[--laws chinchilla power_law_C] [--out benchmarks/CALIBRATION.md]``. About 5
minutes on 2 CPU cores with the defaults.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time

os.environ.setdefault("MPLBACKEND", "Agg")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpyro.distributions as dist  # noqa: E402

import bayes_scaling  # noqa: E402,F401  (before JAX starts a backend: host devices)
from bayes_scaling import calibration  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")
LEVEL = 0.9  # the interval the summary quotes


def _section(title: str, result: calibration.SBCResult) -> str:
    return f"## {title}\n\n```\n{result.report()}\n```\n"


def _method(result: calibration.SBCResult, num_negative: int) -> str:
    """How the check works, with the settings of this run."""
    s = result.settings
    return "\n".join([
        "## What is checked", "",
        "Simulation-based calibration (Talts et al. 2018), `bayes_scaling.calibration.run_sbc`:",
        "",
        "1. The law's default priors are evaluated once for a fixed design (`sbc_design`) and "
        "given to both simulation and fit (`sbc_priors`), so the fit's prior is exactly the "
        "generating prior.",
        f"2. {result.num_simulations} parameter sets and runs tables per law are drawn from the "
        "model's prior predictive; tables with a loss above "
        f"{s['max_loss']:g} or a non-finite loss are rejected (counted in each section; the rule "
        "looks at the data only, so the check is unchanged).",
        f"3. Every table is fitted with `bs.fit_many`: {s['chains']} chains x ({s['warmup']} "
        f"warm-up + {s['draws']} draws), `target_accept={s['target_accept']}`. The rank of each "
        f"true value among L = {result.num_ranks} thinned draws is recorded; coverage uses all "
        f"{s['chains'] * s['draws']} draws.",
        f"4. Negative control ({num_negative} tables): data simulated with sigma around 0.01, "
        "fitted with sigma forced 5x too small by a tight prior; its ranks must pile at the "
        "edges and its coverage fall short.", "",
        "Quantities: every parameter, `sigma`, the loss curve and a new run's observed loss at "
        "100x the largest fitted compute (`loss@100x`, `new_run@100x`) and, for Chinchilla, the "
        "per-draw compute-optimal `N_opt@100x` and `loss_opt@100x`. (The loss at the *true* "
        "optimum is not a valid SBC quantity: the truth is scored at its own optimum and every "
        "draw at a point sub-optimal for it.)", "",
        "Verdicts in the summary follow a fixed rule: a law is called calibrated when no "
        "quantity's rank-uniformity p-value falls below 1% divided by the number of quantities "
        "(Bonferroni) and the Clopper-Pearson 95% bounds exclude the nominal level in at most "
        "10% of the (quantity, level) cells; the negative control fails when every p-value "
        f"is below 1e-3 and every {LEVEL:.0%} coverage bound lies below {LEVEL:.0%}.", ""])


def _law_bullet(label: str, result: calibration.SBCResult) -> str:
    uniform = result.uniformity()
    cov = result.coverage()
    at = cov[cov["level"] == LEVEL]
    bad = cov[~cov["consistent"]]
    alpha = 0.01 / len(uniform)  # Bonferroni over the quantities
    verdict = ("calibrated" if uniform["p_value"].min() > alpha and len(bad) <= 0.1 * len(cov)
               else "NOT clearly calibrated")
    cells = "; ".join(f"`{r.quantity}` at {r.level:.0%}: {r.coverage:.2f} "
                      f"[{r.lower:.2f}, {r.upper:.2f}]" for r in bad.itertuples())
    divergent = (result.diagnostics["divergences"] > 0).mean()
    return (f"* **{label}: {verdict}.** Smallest rank-uniformity p-value "
            f"{uniform['p_value'].min():.2g} over {len(uniform)} quantities (Bonferroni 1% "
            f"threshold {alpha:.1g}); {LEVEL:.0%} coverage {at['coverage'].min():.2f} to "
            f"{at['coverage'].max():.2f}. The Clopper-Pearson 95% bounds exclude the nominal "
            f"level in {len(bad)} of {len(cov)} (quantity, level) cells"
            + (f" ({cells})" if len(bad) else "") + f". {divergent:.0%} of the fits report a "
            "divergence; they are kept (dropping them would bias the check).")


def _negative_bullet(result: calibration.SBCResult) -> str:
    uniform = result.uniformity()
    at = result.coverage()
    at = at[at["level"] == LEVEL]
    fails = uniform["p_value"].max() < 1e-3 and (at["upper"] < LEVEL).all()
    return (f"* **Negative control {'fails, as it must' if fails else 'does NOT fail clearly'}.**"
            f" Edge share (ranks in the outer two of ten bins, 20% expected) "
            f"{uniform['edge_share'].min():.0%} to {uniform['edge_share'].max():.0%}; largest "
            f"rank-uniformity p-value {uniform['p_value'].max():.2g}; {LEVEL:.0%} intervals cover "
            f"the truth {at['coverage'].min():.0%} to {at['coverage'].max():.0%} of the time.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--num", type=int, default=200, help="simulations per law")
    parser.add_argument("--negative", type=int, default=100,
                        help="simulations of the negative control (0 skips it)")
    parser.add_argument("--laws", nargs="+", default=["chinchilla", "power_law_C"])
    parser.add_argument("--draws", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--figures", default=RESULTS, help="folder of the rank histograms")
    parser.add_argument("--out", default=os.path.join(HERE, "CALIBRATION.md"))
    args = parser.parse_args(argv)
    os.makedirs(args.figures, exist_ok=True)
    start = time.perf_counter()
    results: dict[str, calibration.SBCResult] = {}
    for law in args.laws:
        result = calibration.run_sbc(law, args.num, draws=args.draws, warmup=args.warmup,
                                     seed=args.seed)
        results[f"{law}: default priors"] = result
        print(_section(f"{law}: default priors", result), flush=True)
        result.plot().savefig(os.path.join(args.figures, f"sbc_{law}.png"), dpi=120)
    negative = None
    if args.negative:
        # Data with sigma ~ 0.01, fitted with sigma forced 5x too small.
        negative = calibration.run_sbc(
            "chinchilla", args.negative, draws=args.draws, warmup=args.warmup,
            seed=args.seed + 7,
            priors={"sigma": dist.LogNormal(jnp.log(0.01), 0.01)},
            fit_priors={"sigma": dist.LogNormal(jnp.log(0.002), 0.01)})
        results["negative control: chinchilla fitted with sigma 5x too small"] = negative
        print(_section("negative control", negative), flush=True)
        negative.plot().savefig(os.path.join(args.figures, "sbc_negative_control.png"), dpi=120)
    total = time.perf_counter() - start
    command = " ".join(["python benchmarks/calibration.py", *(argv or sys.argv[1:])])
    fits = ", ".join(f"{r.seconds:.0f} s" for r in results.values())
    first = next(iter(results.values()))
    lines = ["# Calibration results", "",
             f"Written by `{command}` on {datetime.date.today()} ({platform.machine()}, "
             f"{os.cpu_count()} CPU cores, JAX {jax.__version__} on {jax.default_backend()}). "
             f"Total wall time {total:.0f} s (fits {fits}; the rest is prior simulation, "
             "compilation and figures). Every number below comes from this run. Rank "
             f"histograms: `sbc_<law>.png` in `{os.path.relpath(args.figures, HERE)}/` "
             "(git-ignored).", "",
             _method(first, args.negative), "## Summary", ""]
    lines += [_law_bullet(label, r) for label, r in results.items() if r is not negative]
    if negative is not None:
        lines.append(_negative_bullet(negative))
    lines.append("")
    lines += [_section(label, r) for label, r in results.items()]
    with open(args.out, "w") as fh:
        fh.write("\n".join(lines))
    print(f"total {total:.0f} s; {args.out} and figures in {args.figures}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
