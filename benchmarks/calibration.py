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

Rank histograms are written to ``benchmarks/results/sbc_<law>.png`` and all
tables to ``benchmarks/results/calibration.md``.

Usage: ``python benchmarks/calibration.py [--num 200] [--negative 100]
[--laws chinchilla power_law_C]``. About 5 minutes on 2 CPU cores with the
defaults.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("MPLBACKEND", "Agg")

import jax.numpy as jnp  # noqa: E402
import numpyro.distributions as dist  # noqa: E402

import bayes_scaling  # noqa: E402,F401  (before JAX starts a backend: host devices)
from bayes_scaling import calibration  # noqa: E402

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def _section(title: str, result: calibration.SBCResult) -> str:
    return f"## {title}\n\n```\n{result.report()}\n```\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--num", type=int, default=200, help="simulations per law")
    parser.add_argument("--negative", type=int, default=100,
                        help="simulations of the negative control (0 skips it)")
    parser.add_argument("--laws", nargs="+", default=["chinchilla", "power_law_C"])
    parser.add_argument("--draws", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=RESULTS)
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    sections = ["# Calibration results\n"]
    start = time.perf_counter()
    for law in args.laws:
        result = calibration.run_sbc(law, args.num, draws=args.draws, warmup=args.warmup,
                                     seed=args.seed)
        text = _section(f"{law}: default priors", result)
        print(text, flush=True)
        sections.append(text)
        fig = result.plot()
        fig.savefig(os.path.join(args.out, f"sbc_{law}.png"), dpi=120)
    if args.negative:
        # Data with sigma ~ 0.01, fitted with sigma forced 5x too small.
        result = calibration.run_sbc(
            "chinchilla", args.negative, draws=args.draws, warmup=args.warmup,
            seed=args.seed + 7,
            priors={"sigma": dist.LogNormal(jnp.log(0.01), 0.01)},
            fit_priors={"sigma": dist.LogNormal(jnp.log(0.002), 0.01)})
        text = _section("negative control: chinchilla fitted with sigma 5x too small", result)
        print(text, flush=True)
        sections.append(text)
        result.plot().savefig(os.path.join(args.out, "sbc_negative_control.png"), dpi=120)
    total = time.perf_counter() - start
    sections.append(f"Total wall time: {total:.0f} s.\n")
    with open(os.path.join(args.out, "calibration.md"), "w") as fh:
        fh.write("\n".join(sections))
    print(f"total {total:.0f} s; figures and calibration.md in {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
