"""Command line: ``bayes-scaling fit|predict|allocate|plot|report|example``.

Errors print as one line (``bayes-scaling: error: ...``) with exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

from .models.simulation import example_runs
from .plots.groups import plot_group_effects
from .plots.plotting import plot_loss_vs_compute
from .report import write_report
from .results.scaling_fit import fit, load

__all__ = ["main"]


def _cmd_example(args: argparse.Namespace) -> None:

    runs = example_runs(seed=args.seed)
    runs.to_csv(args.out, index=False)
    print(f"wrote {len(runs)} simulated runs to {args.out}")


def _cmd_fit(args: argparse.Namespace) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"fitting the {args.law} law to {args.runs} "
          f"({args.chains} chains x {args.warmup} warm-up + {args.draws} draws) ...",
          file=sys.stderr, flush=True)
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fit(args.runs, law=args.law, likelihood=args.likelihood, chains=args.chains,
                     draws=args.draws, warmup=args.warmup, seed=args.seed,
                     flops_factor=args.flops_factor, progress=args.progress)
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    print(f"done in {time.perf_counter() - start:.1f} s: {result.runs.describe()}",
          file=sys.stderr)
    summary = result.summary()
    summary.to_csv(out / "summary.csv")
    result.to_netcdf(out / "posterior.nc")
    if result.groups is None:
        ax = plot_loss_vs_compute(result)
        plot_name = "loss_vs_compute.png"
    else:  # one joint model over groups: show how the groups differ

        ax = plot_group_effects(result)
        plot_name = "group_effects.png"
    ax.figure.savefig(out / plot_name, dpi=150)
    plt.close(ax.figure)
    print(summary.to_string(float_format=lambda v: f"{v:.4g}"))
    print(f"wrote {out / 'summary.csv'}, {out / 'posterior.nc'}, {out / plot_name}")


def _load(directory: str):

    path = Path(directory)
    path = path / "posterior.nc" if path.is_dir() else path
    if not path.exists():
        raise FileNotFoundError(f"no fit at {path} (run 'bayes-scaling fit ... --out DIR' first)")
    return load(path)


def _emit(table, fmt: str) -> None:
    if fmt == "json":
        print(json.dumps(table.to_dict(orient="records")))
    elif fmt == "csv":
        print(table.to_csv(index=False), end="")
    else:
        print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))


def _cmd_predict(args: argparse.Namespace) -> None:
    result = _load(args.fit_dir)
    table = result.predict(N=args.N, D=args.D, C=args.C, level=args.level,
                           extrapolation="none" if args.plain_band else "auto",
                           **({"group": args.group} if args.group else {}))
    _emit(table, args.format)


def _cmd_allocate(args: argparse.Namespace) -> None:
    result = _load(args.fit_dir)
    _emit(result.optimal_allocation(C=args.C, level=args.level,
                                    extrapolation="none" if args.plain_band else "field",
                                    **({"group": args.group} if args.group else {})),
          args.format)


def _cmd_plot(args: argparse.Namespace) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    result = _load(args.fit_dir)
    out = Path(args.out or (args.fit_dir if Path(args.fit_dir).is_dir() else "."))
    out.mkdir(parents=True, exist_ok=True)
    for kind in args.kind:
        figure = result.plot(kind)
        figure = getattr(figure, "figure", figure)  # Axes -> Figure
        path = out / f"{kind}.png"
        figure.savefig(path, dpi=args.dpi)
        plt.close(figure)
        print(f"wrote {path}")


def _budgets(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"budgets must be comma-separated FLOPs, got {text!r}") from None


def _cmd_report(args: argparse.Namespace) -> None:
    print(f"fitting the {args.law} law to {args.runs} and writing {args.out} ...",
          file=sys.stderr, flush=True)
    path = write_report(args.runs, out=args.out, budgets=args.budgets, law=args.law,
                        likelihood=args.likelihood, chains=args.chains, draws=args.draws,
                        warmup=args.warmup, seed=args.seed, flops_factor=args.flops_factor,
                        calibrate=args.calibrate)
    print(f"wrote {path}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bayes-scaling",
                                     description="Bayesian fits of neural scaling laws.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("fit", help="fit a law to a CSV/parquet of runs")
    p.add_argument("runs", help="runs table (columns N, D, C (any two), loss)")
    p.add_argument("--law", default="chinchilla")
    p.add_argument("--likelihood", default="normal", choices=["normal", "student_t"])
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--draws", type=int, default=1000)
    p.add_argument("--warmup", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--flops-factor", type=float, default=6.0)
    p.add_argument("--progress", action="store_true", default=None,
                   help="show the sampler's progress bar (default: when interactive)")
    p.set_defaults(func=_cmd_fit)

    for name, func, helptext in (("predict", _cmd_predict, "predict loss at new sizes"),
                                 ("allocate", _cmd_allocate, "compute-optimal allocation")):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("fit_dir", help="directory written by 'fit' (or its posterior.nc)")
        if name == "predict":
            for size in ("N", "D", "C"):
                p.add_argument(f"--{size}", type=float, nargs="+")
            p.add_argument("--plain-band", action="store_true",
                           help="predictive band without the extrapolation discrepancy "
                                "(default: with it beyond the fitted runs; column 'band')")
        else:
            p.add_argument("--C", type=float, nargs="+", required=True)
            p.add_argument("--plain-band", action="store_true",
                           help="plain posterior interval of N_opt without the allocation "
                                "discrepancy (default: with it beyond the fitted runs; "
                                "column 'band')")
        p.add_argument("--level", type=float, default=None)
        p.add_argument("--group", help="group label, for fits of a table with a group column")
        p.add_argument("--format", choices=["table", "csv", "json"], default="table")
        p.set_defaults(func=func)

    p = sub.add_parser("plot", help="write figures of a fit to PNG files")
    p.add_argument("fit_dir", help="directory written by 'fit' (or its posterior.nc)")
    p.add_argument("--kind", nargs="+", default=["loss", "isoflop", "frontier", "residuals"],
                   help="loss, isoflop, frontier, pairs, prior_posterior, residuals")
    p.add_argument("--out", help="output directory (default: the fit directory)")
    p.add_argument("--dpi", type=int, default=150)
    p.set_defaults(func=_cmd_plot)

    p = sub.add_parser("report", help="fit and write a self-contained HTML report")
    p.add_argument("runs", help="runs table (columns N, D, C (any two), loss)")
    p.add_argument("--out", default="report.html", help="HTML file to write")
    p.add_argument("--budgets", type=_budgets, default=[1e22, 1e24],
                   help="comma-separated compute budgets in FLOPs, e.g. 1e22,1e24")
    p.add_argument("--law", default="chinchilla")
    p.add_argument("--likelihood", default="normal", choices=["normal", "student_t"])
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--draws", type=int, default=1000)
    p.add_argument("--warmup", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--flops-factor", type=float, default=6.0)
    p.add_argument("--no-calibrate", dest="calibrate", action="store_false",
                   help="skip the leave-future-out refits that update the field prior's "
                        "extrapolation discrepancy (the field prior alone)")
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser("example", help="write the bundled simulated example runs to a CSV")
    p.add_argument("out")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_example)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``bayes-scaling`` command."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except (ValueError, TypeError, FileNotFoundError, OSError) as error:
        print(f"bayes-scaling: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
