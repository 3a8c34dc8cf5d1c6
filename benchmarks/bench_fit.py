"""Speed benchmark: one ~250-run Chinchilla fit, bayes_scaling vs the alternatives, in one run.

Every row runs in its own fresh Python process (so "cold" really is cold and the
peak memory column is that row's own maximum resident set size). Rows:

* ``bayes_scaling cold (no cache)``: import + compile + sample, empty persistent
  compilation cache.
* ``bayes_scaling cold (cache)``: the same in a second process, compilation
  cache populated by the previous row.
* ``bayes_scaling warm``: a second fit of new data of the same shape in one
  process (the compiled sampler is reused).
* ``numpyro plain``: a plain NumPyro model (raw log A, alpha, log B, beta,
  log E; diagonal mass matrix; ``MCMC.run``), warm (second run of the same object).
* ``emcee``: 32 walkers x 6,000 steps (1,000 discarded), ESS with walkers as chains.
* ``classical approach 3``: Huber/L-BFGS grid fit + bootstrap, when
  ``bayes_scaling.baselines.classical`` is available.
* ``fit_many``: many independent fits in one compiled program, and a Python
  loop of ``fit`` for comparison (fits per second).

All NUTS rows: 4 chains x (1000 warm-up + 1000 draws). ESS is ArviZ's
rank-normalised bulk ESS, the minimum over E, A, alpha, B, beta.

Usage: ``python benchmarks/bench_fit.py [--many 1000] [--skip-plain]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

NAMES = ("E", "A", "alpha", "B", "beta")


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _min_bulk_ess(draws: dict) -> float:
    """``draws[name]`` shaped (chains, draws)."""
    from arviz_stats.base import array_stats

    return float(min(array_stats.ess(draws[n], chain_axis=0, draw_axis=1, method="bulk")
                     for n in NAMES))


def _max_rhat(draws: dict) -> float:
    from arviz_stats.base import array_stats

    return float(max(array_stats.rhat(draws[n], chain_axis=0, draw_axis=1) for n in NAMES))


# ----------------------------------------------------------------------------- rows
def row_bayes_cold() -> dict:
    start = time.perf_counter()
    import bayes_scaling as bs

    runs = bs.example_runs(seed=0)
    fit = bs.fit(runs, seed=0, warn=False)
    seconds = time.perf_counter() - start
    draws = {n: fit.posterior["posterior"][n].values for n in NAMES}
    return {"seconds": seconds, "ess": _min_bulk_ess(draws), "rhat": _max_rhat(draws),
            "divergences": int(fit.posterior["sample_stats"]["diverging"].sum())}


def row_bayes_warm() -> dict:
    import bayes_scaling as bs

    bs.fit(bs.example_runs(seed=0), seed=0, warn=False)
    runs = bs.example_runs(seed=1)
    start = time.perf_counter()
    fit = bs.fit(runs, seed=1, warn=False)
    seconds = time.perf_counter() - start
    draws = {n: fit.posterior["posterior"][n].values for n in NAMES}
    return {"seconds": seconds, "ess": _min_bulk_ess(draws), "rhat": _max_rhat(draws),
            "divergences": int(fit.posterior["sample_stats"]["diverging"].sum())}


def _plain_model(log_n, log_d, log_loss=None):
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist
    from jax.scipy.special import logsumexp

    log_a = numpyro.sample("log_A", dist.Normal(6.0, 3.0))
    alpha = numpyro.sample("alpha", dist.LogNormal(jnp.log(0.3), 0.5))
    log_b = numpyro.sample("log_B", dist.Normal(6.0, 3.0))
    beta = numpyro.sample("beta", dist.LogNormal(jnp.log(0.3), 0.5))
    log_e = numpyro.sample("log_E", dist.Normal(0.5, 0.5))
    sigma = numpyro.sample("sigma", dist.HalfNormal(0.05))
    mean = logsumexp(jnp.stack(jnp.broadcast_arrays(
        log_e, log_a - alpha * log_n, log_b - beta * log_d)), axis=0)
    numpyro.sample("log_loss", dist.Normal(mean, sigma), obs=log_loss)


def row_numpyro_plain() -> dict:
    import jax
    import jax.numpy as jnp
    import numpy as np
    from numpyro.infer import MCMC, NUTS

    import bayes_scaling as bs  # host devices for parallel chains

    def data(seed):
        runs = bs.example_runs(seed=seed)
        return (jnp.log(jnp.asarray(runs["N"].to_numpy())),
                jnp.log(jnp.asarray(runs["D"].to_numpy())),
                jnp.log(jnp.asarray(runs["loss"].to_numpy())))

    with jax.enable_x64(True):
        mcmc = MCMC(NUTS(_plain_model), num_warmup=1000, num_samples=1000, num_chains=4,
                    chain_method="parallel", progress_bar=False)
        mcmc.run(jax.random.PRNGKey(0), *data(0))
        start = time.perf_counter()
        mcmc.run(jax.random.PRNGKey(1), *data(1))
        seconds = time.perf_counter() - start
        samples = mcmc.get_samples(group_by_chain=True)
    draws = {"E": np.exp(np.asarray(samples["log_E"])), "A": np.exp(np.asarray(samples["log_A"])),
             "B": np.exp(np.asarray(samples["log_B"])), "alpha": np.asarray(samples["alpha"]),
             "beta": np.asarray(samples["beta"])}
    steps = float(np.mean(mcmc.get_extra_fields()["num_steps"])) if "num_steps" in \
        mcmc.get_extra_fields() else float("nan")
    return {"seconds": seconds, "ess": _min_bulk_ess(draws), "rhat": _max_rhat(draws),
            "divergences": int(np.asarray(mcmc.get_extra_fields()["diverging"]).sum()),
            "note": f"mean leapfrog steps {steps:.0f}" if steps == steps else ""}


def row_emcee() -> dict:
    import emcee
    import numpy as np
    from scipy.special import logsumexp

    import bayes_scaling as bs

    runs = bs.example_runs(seed=1)
    log_n, log_d = np.log(runs["N"].to_numpy()), np.log(runs["D"].to_numpy())
    log_loss = np.log(runs["loss"].to_numpy())

    def log_prob(theta):  # vectorised over walkers: theta (W, 6)
        log_a, alpha, log_b, beta, log_e, log_sigma = theta.T
        ok = (alpha > 0) & (beta > 0) & (log_sigma < 0)
        mean = logsumexp(np.stack(np.broadcast_arrays(
            log_e[:, None], log_a[:, None] - alpha[:, None] * log_n,
            log_b[:, None] - beta[:, None] * log_d)), axis=0)
        sigma = np.exp(log_sigma)[:, None]
        lp = -0.5 * np.sum(((log_loss - mean) / sigma) ** 2, axis=1) - log_loss.size * np.log(
            sigma[:, 0])
        lp += -0.5 * (np.log(np.maximum(alpha, 1e-12) / 0.3) / 0.5) ** 2 - np.log(
            np.maximum(alpha, 1e-12))
        lp += -0.5 * (np.log(np.maximum(beta, 1e-12) / 0.3) / 0.5) ** 2 - np.log(
            np.maximum(beta, 1e-12))
        return np.where(ok, lp, -np.inf)

    rng = np.random.default_rng(0)
    start_point = np.array([6.2, 0.35, 7.6, 0.37, 0.6, np.log(0.007)])
    p0 = start_point + 1e-3 * rng.normal(size=(32, 6))
    sampler = emcee.EnsembleSampler(32, 6, log_prob, vectorize=True)
    start = time.perf_counter()
    sampler.run_mcmc(p0, 6000, progress=False)
    seconds = time.perf_counter() - start
    chain = sampler.get_chain(discard=1000)  # (steps, walkers, dim)
    chain = np.swapaxes(chain, 0, 1)
    draws = {"A": np.exp(chain[..., 0]), "alpha": chain[..., 1], "B": np.exp(chain[..., 2]),
             "beta": chain[..., 3], "E": np.exp(chain[..., 4])}
    return {"seconds": seconds, "ess": _min_bulk_ess(draws), "rhat": _max_rhat(draws),
            "divergences": 0, "note": "32 walkers x 6000 steps, started at the optimum"}


def row_pymc_nutpie() -> dict:
    """PyMC model (raw parameters, as the plain NumPyro row) sampled by nutpie (numba backend)."""
    try:
        import nutpie
        import pymc as pm
    except ImportError:
        return {"skipped": "pymc / nutpie not installed (pip install -e '.[bench-pymc]')"}
    import numpy as np
    import pytensor.tensor as pt

    import bayes_scaling as bs

    def compiled(seed):
        runs = bs.example_runs(seed=seed)
        log_n, log_d = np.log(runs["N"].to_numpy()), np.log(runs["D"].to_numpy())
        with pm.Model() as model:
            log_a = pm.Normal("log_A", 6.0, 3.0)
            alpha = pm.LogNormal("alpha", np.log(0.3), 0.5)
            log_b = pm.Normal("log_B", 6.0, 3.0)
            beta = pm.LogNormal("beta", np.log(0.3), 0.5)
            log_e = pm.Normal("log_E", 0.5, 0.5)
            sigma = pm.HalfNormal("sigma", 0.05)
            terms = pt.stack([log_e + 0.0 * log_n, log_a - alpha * log_n, log_b - beta * log_d])
            pm.Normal("log_loss", pm.math.logsumexp(terms, axis=0)[0], sigma,
                      observed=np.log(runs["loss"].to_numpy()))
        start = time.perf_counter()
        out = nutpie.compile_pymc_model(model)
        return out, time.perf_counter() - start

    first, _ = compiled(0)
    nutpie.sample(first, draws=1000, tune=1000, chains=4, seed=0, progress_bar=False)
    model, compile_s = compiled(1)  # new data: nutpie compiles again (numba)
    start = time.perf_counter()
    trace = nutpie.sample(model, draws=1000, tune=1000, chains=4, seed=1, progress_bar=False)
    seconds = time.perf_counter() - start
    post = trace.posterior if hasattr(trace, "posterior") else trace["posterior"]
    draws = {"E": np.exp(post["log_E"].values), "A": np.exp(post["log_A"].values),
             "B": np.exp(post["log_B"].values), "alpha": post["alpha"].values,
             "beta": post["beta"].values}
    stats = trace.sample_stats if hasattr(trace, "sample_stats") else trace["sample_stats"]
    divergences = int(np.asarray(stats["diverging"]).sum())
    steps = float(np.mean(stats["n_steps"])) if "n_steps" in stats else float("nan")
    return {"seconds": seconds, "ess": _min_bulk_ess(draws), "rhat": _max_rhat(draws),
            "divergences": divergences,
            "note": f"sampling only; +{compile_s:.1f} s compile for new data; "
                    f"mean leapfrog steps {steps:.0f}"}


def row_classical() -> dict:
    import bayes_scaling as bs

    try:
        from bayes_scaling.baselines import fit_approach3
    except ImportError:
        return {"skipped": "bayes_scaling.baselines.classical not available"}
    runs = bs.example_runs(seed=1)
    start = time.perf_counter()
    fit_approach3(runs, grid="full", num_bootstrap=4000, seed=0)
    return {"seconds": time.perf_counter() - start, "note": "4,500-start grid + 4,000 bootstrap"}


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


ROWS = {
    "bayes_cold": row_bayes_cold,
    "bayes_warm": row_bayes_warm,
    "numpyro_plain": row_numpyro_plain,
    "emcee": row_emcee,
    "pymc_nutpie": row_pymc_nutpie,
    "classical": row_classical,
}


def _child(name: str, arg: int | None) -> None:
    func = ROWS.get(name)
    result = func() if func else {"fit_many": row_fit_many, "fit_loop": row_fit_loop}[name](arg)
    result["peak_mb"] = _peak_mb()
    print("RESULT " + json.dumps(result))


def _run(name: str, env: dict, arg: int | None = None) -> dict:
    cmd = [sys.executable, __file__, "--row", name] + (["--arg", str(arg)] if arg else [])
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=3600)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    return {"skipped": f"failed: {proc.stderr.strip().splitlines()[-1:]}"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--row")
    parser.add_argument("--arg", type=int)
    parser.add_argument("--many", type=int, default=100, help="fits in the fit_many row")
    parser.add_argument("--loop", type=int, default=10, help="fits in the Python-loop row")
    parser.add_argument("--skip-plain", action="store_true", help="skip the slow plain NumPyro row")
    args = parser.parse_args()
    if args.row:
        _child(args.row, args.arg)
        return

    import jax

    env = dict(os.environ)
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as cache:
        env["BAYES_SCALING_CACHE_DIR"] = cache
        results["bayes_scaling cold (no cache)"] = _run("bayes_cold", env)
        results["bayes_scaling cold (cache)"] = _run("bayes_cold", env)
        results["bayes_scaling warm"] = _run("bayes_warm", env)
        if not args.skip_plain:
            results["numpyro plain (warm)"] = _run("numpyro_plain", env)
        results["emcee"] = _run("emcee", env)
        results["pymc + nutpie"] = _run("pymc_nutpie", env)
        results["classical approach 3"] = _run("classical", env)
        results["fit_many"] = _run("fit_many", env, args.many)
        results["loop of fit"] = _run("fit_loop", env, args.loop)

    print(f"\nbayes_scaling speed benchmark — {os.cpu_count()} CPU cores, JAX "
          f"{jax.__version__} on {jax.default_backend()}; 252-run Chinchilla example, "
          "4 chains x (1000 + 1000)\n")
    header = f"{'row':32s} {'seconds':>8s} {'min ESS':>8s} {'ESS/s':>8s} {'R-hat':>7s} " \
             f"{'div':>4s} {'fits/s':>7s} {'peak MB':>8s}  note"
    print(header)
    print("-" * len(header))
    for name, r in results.items():
        if "skipped" in r:
            print(f"{name:32s} skipped: {r['skipped']}")
            continue
        ess = r.get("ess")
        ess_s = ess / r["seconds"] if ess else None
        r["ess_per_s"] = ess_s

        def fmt(v, spec):
            return format(v, spec) if v is not None else "-"

        print(f"{name:32s} {r['seconds']:8.2f} {fmt(ess, '8.0f')} {fmt(ess_s, '8.0f')} "
              f"{fmt(r.get('rhat'), '7.3f')} {fmt(r.get('divergences'), '4d')} "
              f"{fmt(r.get('fits_per_s'), '7.2f')} {r['peak_mb']:8.0f}  {r.get('note', '')}")
    warm = results["bayes_scaling warm"].get("ess_per_s")
    print()
    for other in ("numpyro plain (warm)", "emcee", "pymc + nutpie"):
        ref = results.get(other, {}).get("ess_per_s")
        if warm and ref:
            print(f"ESS/s ratio bayes_scaling warm / {other}: {warm / ref:.1f}x")
    many, loop = results["fit_many"].get("fits_per_s"), results["loop of fit"].get("fits_per_s")
    if many and loop:
        print(f"fits/s ratio fit_many / loop of fit: {many / loop:.2f}x; "
              f"1000 fits would take {1000 / many / 60:.1f} min")
    classical = results["classical approach 3"].get("seconds")
    if classical:
        print(f"time ratio classical grid+bootstrap / bayes_scaling warm fit: "
              f"{classical / results['bayes_scaling warm']['seconds']:.0f}x")


if __name__ == "__main__":
    main()
