"""Learning-curve fits at 1k-100k checkpoints: the collapsed model against the latent one.

``fit_learning_curves`` with normal noise integrates every run's effect out in
closed form while NUTS samples (then draws the effects from their exact
conditional); the latent model samples the effects with NUTS, one dimension per
run. Each row runs in a fresh process (time includes compilation; peak memory is
that process's own). Tables: 100 runs (sizes 2e7-2e9, 20 tokens per parameter)
with 10, 100 or 1,000 checkpoints each, simulated from a known Chinchilla law
with run effects (``tau = 0.02``) and checkpoint noise (``sigma = 0.005``); the
truth-inside-the-90%-interval columns check the answer, not only the speed.
Floor = seconds per gradient of the potential NUTS ran on x mean leapfrog steps x
(warm-up + draws) x chains / chains run at once.

Usage: ``python benchmarks/learning_curves.py [--sizes 10,100,1000] [--latent-max 100]``;
writes ``benchmarks/LEARNING_CURVES.md`` (``--out`` to write elsewhere).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import subprocess
import sys
import time

from _common import gradient_seconds

RUNS = 100
TRUTH_NOISE = {"tau": 0.02, "sigma": 0.005}


def _table(checkpoints: int):
    import numpy as np

    import bayes_scaling as bs
    from bayes_scaling.results.learning_curves import simulate_learning_curves

    sizes = np.geomspace(2e7, 2e9, RUNS)
    return simulate_learning_curves("chinchilla", bs.EXAMPLE_TRUTH, N=sizes, D_final=20 * sizes,
                                    num_checkpoints=checkpoints, tau=TRUTH_NOISE["tau"],
                                    noise=TRUTH_NOISE["sigma"], seed=1)


def _gradient_seconds(fit, collapsed: bool) -> float:
    """Seconds per gradient of the potential NUTS ran on (its precision), jitted."""
    import jax

    from bayes_scaling.models.learning_curves import build_learning_curve_model
    from bayes_scaling.results.learning_curves import _collapsed_kwargs, _model_kwargs

    model = build_learning_curve_model(fit.law, fit.likelihood, fit.ar1, collapsed=collapsed)
    with jax.enable_x64(True):
        kwargs = (_collapsed_kwargs if collapsed else _model_kwargs)(
            fit.law, fit.runs, fit.design, fit.priors)[1]
        return gradient_seconds(model, kwargs, fit.sampler.precision)


def row(checkpoints: int, collapsed: bool, ar1: bool) -> dict:
    import jax
    import numpy as np

    import bayes_scaling as bs
    from bayes_scaling.inference.nuts import SEQUENTIAL_ABOVE

    table = _table(checkpoints)
    start = time.perf_counter()
    fit = bs.fit_learning_curves(table, ar1=ar1, collapsed=collapsed, seed=0, warn=False)
    seconds = time.perf_counter() - start
    summary = fit.summary()
    truth = {**bs.EXAMPLE_TRUTH, **TRUTH_NOISE}
    inside = [name for name, value in truth.items()
              if summary.loc[name, "lower"] <= value <= summary.loc[name, "upper"]]
    effects = fit.run_effects()
    true_u = np.array([table.attrs["run_effects"][r] for r in effects["run"]])
    covered = float(np.mean((effects["effect_lower"] <= true_u)
                            & (true_u <= effects["effect_upper"])))
    stats = fit.posterior["sample_stats"]
    steps = float(np.mean(stats["n_steps"].values))
    grad_s = _gradient_seconds(fit, collapsed)
    chains, iterations = fit.sampler.chains, fit.sampler.warmup + fit.sampler.draws
    sequential = len(table) > SEQUENTIAL_ABOVE  # big arguments: one chain at a time
    lanes = 1 if sequential else min(chains, jax.local_device_count(), os.cpu_count() or 1)
    outside = sorted(set(truth) - set(inside))
    return {"seconds": seconds, "precision": fit.sampler.precision,
            "outside": ", ".join(outside) or "-", "tau_realised": float(np.std(true_u)),
            "divergences": int(stats["diverging"].sum()),
            "rhat": float(summary["r_hat"].max()), "ess": float(summary["ess_bulk"].min()),
            "inside": f"{len(inside)}/{len(truth)}", "effects_covered": covered,
            "tau": float(summary.loc["tau", "median"]), "mean_steps": steps,
            "grad_ms": 1e3 * grad_s, "floor_s": grad_s * steps * iterations * chains / lanes,
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _run(checkpoints: int, collapsed: bool, ar1: bool, timeout: float) -> dict:
    cmd = [sys.executable, __file__, "--row", f"{checkpoints},{int(collapsed)},{int(ar1)}"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, "BAYES_SCALING_PROGRESS": "0"})
    except subprocess.TimeoutExpired:
        return {"skipped": f"did not finish in {timeout:.0f} s"}
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    return {"skipped": f"failed (exit {proc.returncode}): {proc.stderr.strip().splitlines()[-1:]}"}


def _markdown(rows: list[tuple[str, dict]], started: datetime.datetime, total: float) -> str:
    lines = ["# Learning-curve fits: collapsed vs latent run effects", "",
             f"Written by `python benchmarks/learning_curves.py` on {started:%Y-%m-%d %H:%M} UTC "
             f"in {total / 60:.1f} min ({os.cpu_count()} cores). {RUNS} runs; 4 chains x "
             "(1000 warm-up + 1000 draws); time includes compilation. "
             "Truth = the law's five parameters, sigma and tau inside their 90% intervals; "
             "run effects = share of the true effects inside their 90% bands.", "",
             "| model | checkpoints | precision | seconds | peak MB | mean leapfrog steps | "
             "ms per gradient | floor (s) | seconds / floor | div | max R-hat | min ESS | "
             "truth inside | outside | tau (median) | run effects covered |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in rows:
        if "skipped" in r:
            lines.append(f"| {name} | skipped: {r['skipped']} |" + " |" * 13)
            continue
        lines.append(f"| {name} | {r['precision']} | {r['seconds']:.1f} | {r['peak_mb']:.0f} | "
                     f"{r['mean_steps']:.1f} | {r['grad_ms']:.3f} | {r['floor_s']:.1f} | "
                     f"{r['seconds'] / r['floor_s']:.1f} | {r['divergences']} | "
                     f"{r['rhat']:.3f} | {r['ess']:.0f} | {r['inside']} | {r['outside']} | "
                     f"{r['tau']:.4f} | {r['effects_covered']:.0%} |")
    timed = {name: r for name, r in rows if "seconds" in r}
    if timed:
        realised = next(iter(timed.values()))["tau_realised"]
        lines += ["", f"tau is compared with the {TRUTH_NOISE['tau']} the run effects were "
                  f"drawn with; the {RUNS} effects drawn have SD {realised:.4f}, which is what "
                  "the data can show, so tau's 90% interval may exclude the generating value."]
    iid = [(name, r) for name, r in timed.items() if name.startswith("collapsed |")]
    if len(iid) >= 2:
        (a, ra), (b, rb) = iid[0], iid[-1]
        lines += ["", f"Collapsed, iid noise: time grows {rb['seconds'] / ra['seconds']:.1f}x "
                  f"from `{a}` to `{b}`; the floor grows {rb['floor_s'] / ra['floor_s']:.1f}x. "
                  "Target at 100,000 checkpoints: < 120 s and < 2,048 MB."]
    return "\n".join(lines + [""])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--row")
    parser.add_argument("--sizes", default="10,100,1000", help="checkpoints per run")
    parser.add_argument("--latent-max", type=int, default=100,
                        help="largest checkpoints per run for the latent model's rows")
    parser.add_argument("--timeout", type=float, default=1200, help="seconds per row")
    parser.add_argument("--latent-timeout", type=float, default=600,
                        help="seconds per latent-model row (it is the slow alternative)")
    parser.add_argument("--out",
                        default=os.path.join(os.path.dirname(__file__), "LEARNING_CURVES.md"))
    args = parser.parse_args()
    if args.row:
        checkpoints, collapsed, ar1 = (int(x) for x in args.row.split(","))
        print("RESULT " + json.dumps(row(checkpoints, bool(collapsed), bool(ar1))))
        return
    started = datetime.datetime.now(datetime.UTC)
    t0 = time.perf_counter()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    rows = []
    for k in sizes:
        rows.append((f"collapsed | {RUNS * k:,}", _run(k, True, False, args.timeout)))
        if k <= args.latent_max:
            rows.append((f"latent | {RUNS * k:,}", _run(k, False, False, args.latent_timeout)))
    rows.append((f"collapsed, AR(1) | {RUNS * sizes[-1]:,}",
                 _run(sizes[-1], True, True, args.timeout)))
    text = _markdown(rows, started, time.perf_counter() - t0)
    with open(args.out, "w") as handle:
        handle.write(text)
    print(text)


if __name__ == "__main__":
    main()
