"""Speed benchmark: one ~250-run Chinchilla fit, bayes_scaling vs the alternatives, in one run.

The alternatives' rows live in ``peers.py``. Every row runs in its own fresh Python process (so "cold" really is cold and the
peak memory column is that row's own maximum resident set size). Rows:

* ``bayes_scaling cold (no cache)``: import + trace + compile + sample, with the
  persistent cache off (``BAYES_SCALING_CACHE_DIR=""``).
* ``bayes_scaling cold (empty cache)``: the same with an empty cache folder, which
  the process fills (compiled programs and the exported chain program).
* ``bayes_scaling cold (cache)``: the same in a third process, which finds them.
* ``bayes_scaling warm``: a second fit of new data of the same shape in one
  process (the compiled sampler is reused).
* ``numpyro plain``: a plain NumPyro model (raw log A, alpha, log B, beta,
  log E; diagonal mass matrix; ``MCMC.run``), warm (second run of the same object).
* ``emcee``: 32 walkers x 6,000 steps (1,000 discarded), ESS with walkers as chains.
* ``stan (pystan)``: the plain model in Stan (PyStan 3), sampling time of new data
  after a one-off C++ compile (reported in the note); ``make bench`` installs it.
* ``classical approach 3``: Huber/L-BFGS grid fit + bootstrap, when
  ``bayes_scaling.baselines.classical`` is available.
* ``fit_many``: many independent fits in one compiled program, and a Python
  loop of ``fit`` for comparison (fits per second); ``fit_many (mixed sizes)``:
  tables of 60-250 runs (several shape buckets).
* ``new shape (warm)``: in one warm process, a table of a *new* size inside an
  already compiled shape bucket, normal and Student-t, for buckets up to 4,096
  runs (the compile time of each bucket is reported alongside).
* ``big table``: 1k .. 100k runs, each in a fresh process: time (compilation
  included, reported separately from JAX's compile log), peak memory, and the
  arithmetic floor = (seconds per gradient of the potential) x (leapfrog steps
  of all chains) / (chains run at once).

All NUTS rows: 4 chains x (1000 warm-up + 1000 draws). ESS is ArviZ's
rank-normalised bulk ESS, the minimum over E, A, alpha, B, beta.

Usage: ``python benchmarks/bench_fit.py [--many 1000] [--skip-plain] [--rows a,b,...]``;
``--rows`` runs a subset (names in ``ROW_GROUPS``). ``benchmarks/RESULTS.md`` is
written from the values of this run only (``--out`` to write elsewhere).
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time

from _common import NAMES, gradient_seconds, max_rhat, min_bulk_ess, peak_mb
from peers import row_classical, row_emcee, row_numpyro_plain, row_pymc_nutpie, row_stan


# ----------------------------------------------------------------------------- rows
def row_bayes_cold() -> dict:
    start = time.perf_counter()
    import bayes_scaling as bs

    import_s = time.perf_counter() - start
    runs = bs.example_runs(seed=0)
    fit = bs.fit(runs, seed=0, warn=False)
    seconds = time.perf_counter() - start
    draws = {n: fit.posterior["posterior"][n].values for n in NAMES}
    return {"seconds": seconds, "import_s": import_s, "ess": min_bulk_ess(draws),
            "rhat": max_rhat(draws),
            "divergences": int(fit.posterior["sample_stats"]["diverging"].sum()),
            "note": f"import {import_s:.2f} s"}


def row_bayes_warm() -> dict:
    import bayes_scaling as bs

    bs.fit(bs.example_runs(seed=0), seed=0, warn=False)
    runs = bs.example_runs(seed=1)
    start = time.perf_counter()
    fit = bs.fit(runs, seed=1, warn=False)
    seconds = time.perf_counter() - start
    draws = {n: fit.posterior["posterior"][n].values for n in NAMES}
    return {"seconds": seconds, "ess": min_bulk_ess(draws), "rhat": max_rhat(draws),
            "divergences": int(fit.posterior["sample_stats"]["diverging"].sum())}


def row_fit_many(num: int) -> dict:
    import bayes_scaling as bs

    tables = [bs.example_runs(seed=s) for s in range(num)]
    bs.fit_many(tables[: min(num, 8)], seed=0)  # compile
    start = time.perf_counter()
    batch = bs.fit_many(tables, seed=1)
    seconds = time.perf_counter() - start
    ok = float(batch.diagnostics["ok"].mean())
    return {"seconds": seconds, "fits_per_s": num / seconds,
            "note": f"{num} fits, {ok:.0%} pass R-hat/ESS/divergence checks"}


def row_fit_loop(num: int) -> dict:
    import bayes_scaling as bs

    bs.fit(bs.example_runs(seed=0), seed=0, warn=False)
    start = time.perf_counter()
    for s in range(num):
        bs.fit(bs.example_runs(seed=s + 1), seed=s, warn=False)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "fits_per_s": num / seconds, "note": f"{num} fits"}


def _sized_table(num_runs: int, seed: int):
    """A Chinchilla-like table of exactly ``num_runs`` runs (7 budgets, simulated noise)."""
    import numpy as np

    import bayes_scaling as bs

    per_budget = -(-num_runs // 7)
    design = bs.iso_flop_design(np.geomspace(1e18, 1e21, 7), runs_per_budget=per_budget,
                                tokens_per_param=(2.0, 400.0))
    keep = np.sort(np.random.default_rng(seed).choice(len(design), num_runs, replace=False))
    return bs.simulate("chinchilla", bs.EXAMPLE_TRUTH, N=design["N"].to_numpy()[keep],
                       D=design["D"].to_numpy()[keep], noise=0.007, seed=seed)


class _CompileClock:
    """Seconds of XLA compilation, from JAX's compile log."""

    def __enter__(self):
        import jax

        self.seconds, self.count = 0.0, 0

        def listen(event, duration, **_):
            if event == "/jax/core/compile/backend_compile_duration":
                self.seconds += duration
                self.count += 1

        self._listen = listen
        jax.monitoring.register_event_duration_secs_listener(listen)
        return self

    def __exit__(self, *exc):
        import jax

        jax.monitoring.unregister_event_duration_listener(self._listen)


def row_new_shapes(max_bucket: int) -> dict:
    """Per bucket and likelihood: compile with one size, then time a new size in the bucket."""
    import bayes_scaling as bs
    from bayes_scaling.inference.buckets import bucket_size

    out = []
    buckets = [b for b in (256, 1024, 4096) if b <= max_bucket]
    # The default (mixed precision) and, for comparison, float64 throughout.
    for likelihood, precision, bucket in itertools.product(("normal", "student_t"),
                                                           ("mixed", "float64"), buckets):
        sampler = bs.SamplerConfig(precision=precision)
        first = _sized_table(bucket, seed=bucket)
        start = time.perf_counter()
        bs.fit(first, likelihood=likelihood, seed=0, warn=False, sampler=sampler)
        first_s = time.perf_counter() - start
        for fraction in (0.9, 0.8):  # both inside the bucket (the one below is 3/4 of it)
            size = int(bucket * fraction)
            assert bucket_size(size) == bucket
            table = _sized_table(size, seed=size)
            with _CompileClock() as clock:
                start = time.perf_counter()
                fit = bs.fit(table, likelihood=likelihood, seed=1, warn=False, sampler=sampler)
                seconds = time.perf_counter() - start
            draws = {n: fit.posterior["posterior"][n].values for n in NAMES}
            fitted = fit.sampler.precision  # differs after a fallback to float64
            out.append({"likelihood": likelihood,
                        "precision": precision + ("" if fitted == precision else f" -> {fitted}"),
                        "bucket": bucket, "runs": size,
                        "seconds": seconds, "first_fit_s": first_s,
                        "compiles": clock.count, "ess": min_bulk_ess(draws),
                        "rhat": max_rhat(draws),
                        "divergences": int(fit.posterior["sample_stats"]["diverging"].sum())})
    return {"rows": out}


def _gradient_seconds(fit) -> float:
    """Seconds per gradient of the (padded, masked) potential NUTS ran on, jitted, in the
    fit's precision (float64, or mixed: float32 data and per-run work, float64 sums)."""
    import jax

    from bayes_scaling.inference.buckets import pad_model_kwargs
    from bayes_scaling.models.scaling import build_model
    from bayes_scaling.models.setup import prepare as _prepare

    with jax.enable_x64(True):
        runs, _, kwargs = _prepare(fit.runs, fit.law, fit.likelihood, {}, 6.0, None)
        return gradient_seconds(build_model(fit.law, fit.likelihood),
                                pad_model_kwargs(kwargs, runs.num_runs), fit.sampler.precision,
                                calls=200)


def row_big(num_runs: int) -> dict:
    import jax
    import numpy as np

    import bayes_scaling as bs
    from bayes_scaling.inference.buckets import bucket_size
    from bayes_scaling.inference.nuts import SEQUENTIAL_ABOVE

    table = _sized_table(num_runs, seed=0)
    with _CompileClock() as clock:
        start = time.perf_counter()
        fit = bs.fit(table, seed=0, warn=False)
        seconds = time.perf_counter() - start
    draws = {n: fit.posterior["posterior"][n].values for n in NAMES}
    stats = fit.posterior["sample_stats"]
    steps = float(np.mean(stats["n_steps"].values))
    grad_s = _gradient_seconds(fit)
    chains, iterations = fit.sampler.chains, fit.sampler.warmup + fit.sampler.draws
    sequential = bucket_size(num_runs) > SEQUENTIAL_ABOVE  # big tables: one chain at a time
    lanes = 1 if sequential else min(chains, jax.local_device_count(), os.cpu_count() or 1)
    floor = grad_s * steps * iterations * chains / lanes
    return {"seconds": seconds, "compile_s": clock.seconds, "ess": min_bulk_ess(draws),
            "rhat": max_rhat(draws), "divergences": int(stats["diverging"].sum()),
            "mean_steps": steps, "grad_ms": 1e3 * grad_s, "floor_s": floor, "lanes": lanes,
            "note": f"{num_runs} runs", "precision": fit.sampler.precision}


def row_fit_many_mixed(num: int) -> dict:
    import numpy as np

    import bayes_scaling as bs
    from bayes_scaling.inference.buckets import bucket_size

    rng = np.random.default_rng(0)
    sizes = rng.integers(60, 251, size=num)
    tables = [_sized_table(int(n), seed=s) for s, n in enumerate(sizes)]
    start = time.perf_counter()
    batch = bs.fit_many(tables, seed=1, progress=False)
    seconds = time.perf_counter() - start
    ok = float(batch.diagnostics["ok"].mean())
    buckets = sorted({bucket_size(int(n)) for n in sizes})
    return {"seconds": seconds, "fits_per_s": num / seconds,
            "note": f"{num} fits of {sizes.min()}-{sizes.max()} runs ({len(set(sizes))} sizes, "
                    f"buckets {buckets}), compilation included; {ok:.0%} pass the checks"}


ROWS = {
    "bayes_cold": row_bayes_cold,
    "bayes_warm": row_bayes_warm,
    "numpyro_plain": row_numpyro_plain,
    "emcee": row_emcee,
    "pymc_nutpie": row_pymc_nutpie,
    "stan": row_stan,
    "classical": row_classical,
}


def _child(name: str, arg: int | None) -> None:
    func = ROWS.get(name)
    result = func() if func else {"fit_many": row_fit_many, "fit_loop": row_fit_loop,
                                   "fit_many_mixed": row_fit_many_mixed, "big": row_big,
                                   "new_shapes": row_new_shapes}[name](arg)
    result["peak_mb"] = peak_mb()
    print("RESULT " + json.dumps(result))


def _run(name: str, env: dict, arg: int | None = None) -> dict:
    cmd = [sys.executable, __file__, "--row", name] + (["--arg", str(arg)] if arg else [])
    load_before = os.getloadavg()[0]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=3600)
    load = f"{load_before:.1f}-{os.getloadavg()[0]:.1f}"
    _LOADS.append(f"{name}{'' if arg is None else f' {arg}'}: {load}")
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    # A negative return code is a signal (-9: killed, e.g. out of memory), with no stderr.
    return {"skipped": f"failed (exit {proc.returncode}): {proc.stderr.strip().splitlines()[-1:]}"}


def _median_of(times: int, name: str, env: dict) -> dict:
    """The run with the median seconds of ``times`` fresh processes (the machine is shared)."""
    runs = [_run(name, env) for _ in range(times)]
    timed = sorted((r for r in runs if "seconds" in r), key=lambda r: r["seconds"])
    if not timed:
        return runs[0]
    middle = dict(timed[len(timed) // 2])
    all_s = ", ".join(f"{r['seconds']:.2f}" for r in runs if "seconds" in r)
    middle["note"] = f"{middle.get('note', '')}; median of {len(timed)} processes: {all_s} s"
    return middle


#: 1-minute load average before and after each row (other jobs share the machine).
_LOADS: list[str] = []


#: Row groups for ``--rows`` (default: all).
ROW_GROUPS = ("cold", "warm", "plain", "emcee", "pymc", "stan", "classical", "many", "loop",
              "new_shapes", "big", "many_mixed")


def _fmt(v, spec):
    return format(v, spec) if v is not None else ""


def _markdown(results: dict, args, started: datetime.datetime, total_s: float) -> str:
    import jax

    lines = ["# Benchmark results", "",
             f"Written by `python benchmarks/bench_fit.py --rows {','.join(args.rows)}` on "
             f"{started:%Y-%m-%d %H:%M} UTC: {os.cpu_count()} CPU cores, JAX {jax.__version__} "
             f"({jax.default_backend()}); total run {total_s / 60:.1f} min. Every row "
             "is a fresh process; peak MB is that process's max RSS. NUTS rows: 4 chains x "
             "(1000 warm-up + 1000 draws) at the default precision (mixed: float32 per-run "
             "work, float64 sums and sampler state, checked against float64) unless a row "
             "says otherwise; ESS is the minimum bulk ESS over E, A, alpha, B, beta. Only the "
             "rows below were run in this invocation "
             f"(`--rows {','.join(args.rows)}`).", ""]
    single = {k: v for k, v in results.items() if k not in ("new shapes", "big tables")}
    if single:
        lines += ["## One fit and batches", "",
                  "| row | seconds | min ESS | ESS/s | R-hat | div | fits/s | peak MB | note |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for name, r in single.items():
            if "skipped" in r:
                lines.append(f"| {name} | skipped: {r['skipped']} | | | | | | | |")
                continue
            ess = r.get("ess")
            r["ess_per_s"] = ess / r["seconds"] if ess else None
            lines.append(
                f"| {name} | {r['seconds']:.2f} | {_fmt(ess, '.0f')} | "
                f"{_fmt(r['ess_per_s'], '.0f')} | {_fmt(r.get('rhat'), '.3f')} | "
                f"{_fmt(r.get('divergences'), 'd')} | {_fmt(r.get('fits_per_s'), '.2f')} | "
                f"{r['peak_mb']:.0f} | {r.get('note', '')} |")
        lines.append("")
        warm = single.get("bayes_scaling warm", {}).get("ess_per_s")
        ratios = []
        for other in ("numpyro plain (warm)", "emcee", "pymc + nutpie", "stan (pystan)"):
            ref = single.get(other, {}).get("ess_per_s")
            if warm and ref:
                ratios.append(f"- ESS/s, bayes_scaling warm / {other}: {warm / ref:.1f}x")
        many = single.get("fit_many", {}).get("fits_per_s")
        loop = single.get("loop of fit", {}).get("fits_per_s")
        if many and loop:
            ratios.append(f"- fits/s, fit_many / loop of fit: {many / loop:.2f}x")
        mixed = single.get("fit_many (mixed sizes)")
        if mixed and "seconds" in mixed:
            ratios.append(f"- fit_many of {args.many_mixed} mixed-size tables: "
                          f"{mixed['seconds'] / 60:.1f} min (target < 5 min)")
        for cold, target in (("bayes_scaling cold (no cache)", 5.0),
                             ("bayes_scaling cold (cache)", 2.5)):
            if "seconds" in single.get(cold, {}):
                ratios.append(f"- {cold}, process to posterior: {single[cold]['seconds']:.2f} s "
                              f"(target < {target} s); of which `import bayes_scaling` "
                              f"{single[cold]['import_s']:.2f} s (target < 1.5 s)")
        if ratios:
            lines += ["Ratios and targets from the same run:", "", *ratios, ""]
    shapes = results.get("new shapes")
    if shapes and "skipped" in shapes:
        lines += ["## A new table size in a warm process", "", f"Failed: {shapes['skipped']}", ""]
    if shapes and "rows" in shapes:
        lines += ["## A new table size in a warm process", "",
                  "One process; per likelihood and shape bucket, a first fit of the bucket's "
                  "size (compiles), then fits of two new sizes inside the bucket. `compiles` "
                  "counts XLA compilations during the new-size fit (JAX's compile log). "
                  "`precision`: the one the draws were sampled in (`mixed`, the default, or "
                  "`float64` throughout, for comparison).", "",
                  "| likelihood | precision | bucket | runs | seconds | compiles | min ESS | "
                  "R-hat | div | first fit of the bucket (s) |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for r in shapes["rows"]:
            lines.append(f"| {r['likelihood']} | {r['precision']} | {r['bucket']} | {r['runs']} | "
                         f"{r['seconds']:.2f} | {r['compiles']} | {r['ess']:.0f} | "
                         f"{r['rhat']:.3f} | {r['divergences']} | {r['first_fit_s']:.1f} |")
        worst = {p: max((r["seconds"] for r in shapes["rows"] if r["precision"].startswith(p)),
                        default=float("nan")) for p in ("mixed", "float64")}
        lines += ["", f"Slowest new-size fit at the default precision: {worst['mixed']:.2f} s "
                  f"(target < 1 s); float64 throughout: {worst['float64']:.2f} s; peak "
                  f"{shapes['peak_mb']:.0f} MB.", ""]
    big = results.get("big tables")
    if big:
        lines += ["## Big tables", "",
                  "Each size in a fresh process (compilation included; its share from JAX's "
                  "compile log). Floor = seconds per gradient x mean leapfrog steps x "
                  "(warm-up + draws) x chains / chains run at once (one at a time above "
                  "16,384 runs, where parallel CPU chains grew the memory past 2 GB).", "",
                  "| runs | precision | seconds | of which compile | peak MB | min ESS | R-hat | "
                  "div | mean leapfrog steps | ms per gradient | floor (s) | seconds / floor |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for n, r in big.items():
            if "skipped" in r:
                lines.append(f"| {n} | skipped: {r['skipped']} | | | | | | | | | | |")
                continue
            lines.append(f"| {n} | {r['precision']} | {r['seconds']:.1f} | {r['compile_s']:.1f} | "
                         f"{r['peak_mb']:.0f} | {r['ess']:.0f} | {r['rhat']:.3f} | "
                         f"{r['divergences']} | {r['mean_steps']:.1f} | {r['grad_ms']:.3f} | "
                         f"{r['floor_s']:.1f} | {r['seconds'] / r['floor_s']:.1f} |")
        sizes = [n for n in big if "seconds" in big[n]]
        if len(sizes) >= 2:
            a, b = sizes[0], sizes[-1]
            lines += ["", f"Time grows {big[b]['seconds'] / big[a]['seconds']:.1f}x from {a} "
                      f"to {b} runs ({b / a:.0f}x the rows); the floor grows "
                      f"{big[b]['floor_s'] / big[a]['floor_s']:.1f}x. Target at 100k runs: "
                      "< 120 s and < 2,048 MB.", ""]
    lines += ["Machine load (1-minute load average before-after each row, "
              f"{os.cpu_count()} cores shared with other jobs): " + "; ".join(_LOADS) + ".", ""]
    if jax.default_backend() == "cpu":
        lines += ["Not measured here: GPU rows (no accelerator in this run).", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--row")
    parser.add_argument("--arg", type=int)
    parser.add_argument("--many", type=int, default=100, help="fits in the fit_many row")
    parser.add_argument("--many-mixed", type=int, default=1000,
                        help="fits in the mixed-size fit_many row")
    parser.add_argument("--loop", type=int, default=10, help="fits in the Python-loop row")
    parser.add_argument("--big", default="1000,10000,100000", help="sizes of the big-table rows")
    parser.add_argument("--max-bucket", type=int, default=4096, help="largest new-shape bucket")
    parser.add_argument("--skip-plain", action="store_true", help="skip the slow plain NumPyro row")
    parser.add_argument("--rows", default=",".join(ROW_GROUPS),
                        help=f"comma-separated subset of {', '.join(ROW_GROUPS)}")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "RESULTS.md"))
    args = parser.parse_args()
    if args.row:
        _child(args.row, args.arg)
        return
    args.rows = [r for r in args.rows.split(",") if r]
    unknown = set(args.rows) - set(ROW_GROUPS)
    if unknown:
        parser.error(f"unknown rows {sorted(unknown)}; choose from {', '.join(ROW_GROUPS)}")
    want = set(args.rows)

    started = datetime.datetime.now(datetime.UTC)
    t0 = time.perf_counter()
    env = dict(os.environ)
    env.setdefault("BAYES_SCALING_PROGRESS", "0")
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as cache:
        env["BAYES_SCALING_CACHE_DIR"] = cache
        if "cold" in want:
            results["bayes_scaling cold (no cache)"] = _median_of(
                3, "bayes_cold", {**env, "BAYES_SCALING_CACHE_DIR": ""})
            results["bayes_scaling cold (empty cache)"] = _run("bayes_cold", env)
            results["bayes_scaling cold (cache)"] = _median_of(3, "bayes_cold", env)
        if "warm" in want:
            results["bayes_scaling warm"] = _run("bayes_warm", env)
        if "plain" in want and not args.skip_plain:
            results["numpyro plain (warm)"] = _run("numpyro_plain", env)
        if "emcee" in want:
            results["emcee"] = _run("emcee", env)
        if "pymc" in want:
            results["pymc + nutpie"] = _run("pymc_nutpie", env)
        if "stan" in want:
            results["stan (pystan)"] = _run("stan", env)
        if "classical" in want:
            results["classical approach 3"] = _run("classical", env)
        if "many" in want:
            results["fit_many"] = _run("fit_many", env, args.many)
        if "loop" in want:
            results["loop of fit"] = _run("fit_loop", env, args.loop)
        if "many_mixed" in want:
            results["fit_many (mixed sizes)"] = _run("fit_many_mixed", env, args.many_mixed)
        if "new_shapes" in want:
            results["new shapes"] = _run("new_shapes", env, args.max_bucket)
        if "big" in want:
            results["big tables"] = {int(n): _run("big", env, int(n))
                                     for n in args.big.split(",") if n}
    text = _markdown(results, args, started, time.perf_counter() - t0)
    with open(args.out, "w") as handle:
        handle.write(text)
    print(text)


if __name__ == "__main__":
    main()
