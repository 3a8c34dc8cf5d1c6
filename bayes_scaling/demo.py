"""``make demo``: fit the bundled example, print the summary and allocation, write plots."""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="demo_output")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    import pandas as pd

    import bayes_scaling as bs

    from .plots.plotting import plot_loss_vs_compute

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    runs = bs.example_runs(seed=args.seed)
    runs.to_csv(out / "example_runs.csv", index=False)
    print(f"Bundled example: {len(runs)} simulated Chinchilla-like runs on iso-FLOP lines "
          f"{runs['C'].min():.1e}..{runs['C'].max():.1e} FLOPs; truth {bs.EXAMPLE_TRUTH}\n")
    start = time.perf_counter()
    result = bs.fit(runs, law="chinchilla", seed=args.seed)
    print(f"NUTS: 4 chains x (1000 warm-up + 1000 draws) in {time.perf_counter() - start:.1f} s\n")
    with pd.option_context("display.width", 120, "display.float_format", "{:.4g}".format):
        summary = result.summary()
        summary.insert(0, "truth", [bs.EXAMPLE_TRUTH.get(n, float("nan")) for n in summary.index])
        print("Posterior summary (90% equal-tailed intervals):")
        print(summary[["truth", "mean", "median", "lower", "upper", "r_hat", "ess_bulk",
                       "ess_tail"]])
        print("\nCompute-optimal allocation at 1e24 FLOPs (posterior median [90% interval]):")
        row = result.optimal_allocation(C=1e24).iloc[0]
        for name, unit in (("N_opt", "parameters"), ("D_opt", "tokens"),
                           ("tokens_per_param", "tokens/parameter"), ("loss_opt", "nats/token")):
            print(f"  {name:17s} {row[name]:.4g} [{row[name + '_lower']:.4g}, "
                  f"{row[name + '_upper']:.4g}] {unit}")
        print(f"  (interval: {row['band']}; extrapolation='none' for the law's own optimum)")
        print("\nPredicted loss of a 70B model on 1.4T tokens:")
        print(result.predict(N=7e10, D=1.4e12).to_string(index=False))
    ax = plot_loss_vs_compute(result, C_max=1e25, targets=[1e24])
    ax.figure.savefig(out / "loss_vs_compute.png", dpi=150)
    written = [out / "loss_vs_compute.png"]
    for kind in ("isoflop", "frontier", "residuals"):
        figure = result.plot(kind)
        figure = getattr(figure, "figure", figure)
        figure.savefig(out / f"{kind}.png", dpi=150)
        written.append(out / f"{kind}.png")
    result.to_netcdf(out / "posterior.nc")
    written.append(out / "posterior.nc")
    print("\nWrote " + ", ".join(str(p) for p in written))


if __name__ == "__main__":
    main()
