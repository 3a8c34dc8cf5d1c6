"""The alternatives the speed benchmark compares against, one ~250-run Chinchilla fit each.

Plain NumPyro, emcee, PyMC + nutpie, Stan (PyStan) and the classical Approach 3 fit:
the same data and priors as far as each tool allows (raw ``log A``, ``alpha``,
``log B``, ``beta``, ``log E``; half-normal ``sigma``). Each row function returns a dict
for :mod:`bench_fit`'s table; ESS and R-hat over E, A, alpha, B, beta.
"""

from __future__ import annotations

import time

from _common import max_rhat, min_bulk_ess

__all__ = ["row_numpyro_plain", "row_emcee", "row_pymc_nutpie", "row_stan", "row_classical"]


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
    return {"seconds": seconds, "ess": min_bulk_ess(draws), "rhat": max_rhat(draws),
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
    return {"seconds": seconds, "ess": min_bulk_ess(draws), "rhat": max_rhat(draws),
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
    return {"seconds": seconds, "ess": min_bulk_ess(draws), "rhat": max_rhat(draws),
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


#: The plain model of the other peer rows (raw log A, alpha, log B, beta, log E) in Stan.
STAN_CODE = """
data { int<lower=1> n; vector[n] log_n; vector[n] log_d; vector[n] log_loss; }
parameters {
  real log_A; real<lower=0> alpha; real log_B; real<lower=0> beta; real log_E;
  real<lower=0> sigma;
}
model {
  vector[n] mu;
  log_A ~ normal(6, 3); alpha ~ lognormal(log(0.3), 0.5);
  log_B ~ normal(6, 3); beta ~ lognormal(log(0.3), 0.5);
  log_E ~ normal(0.5, 0.5); sigma ~ normal(0, 0.05);
  for (i in 1:n) mu[i] = log_sum_exp({log_E, log_A - alpha * log_n[i], log_B - beta * log_d[i]});
  log_loss ~ normal(mu, sigma);
}
"""


def row_stan() -> dict:
    """Stan (PyStan 3, httpstan's CmdStan-free build): the plain model, 4 chains x 1000 + 1000."""
    try:
        import stan
    except ImportError:
        return {"skipped": "pystan not installed (pip install -e '.[bench-stan]')"}
    import numpy as np

    import bayes_scaling as bs

    def data(seed):
        runs = bs.example_runs(seed=seed)
        return {"n": len(runs), "log_n": np.log(runs["N"].to_numpy()),
                "log_d": np.log(runs["D"].to_numpy()), "log_loss": np.log(runs["loss"].to_numpy())}

    start = time.perf_counter()
    stan.build(STAN_CODE, data=data(0), random_seed=0)  # compiles C++ (cached per program)
    compile_s = time.perf_counter() - start
    model = stan.build(STAN_CODE, data=data(1), random_seed=1)  # new data: no compilation
    start = time.perf_counter()
    fit = model.sample(num_chains=4, num_samples=1000, num_warmup=1000)
    seconds = time.perf_counter() - start

    def chains(name):  # pystan: chain-major after its Fortran-order flattening
        return np.asarray(fit[name]).reshape(4, 1000)

    draws = {"E": np.exp(chains("log_E")), "A": np.exp(chains("log_A")),
             "B": np.exp(chains("log_B")), "alpha": chains("alpha"), "beta": chains("beta")}
    return {"seconds": seconds, "ess": min_bulk_ess(draws), "rhat": max_rhat(draws),
            "divergences": int(np.sum(fit["divergent__"])),
            "note": f"sampling only; +{compile_s:.1f} s to build the model (httpstan caches "
                    "the compiled C++ across processes: a machine's first build compiles it); "
                    f"mean leapfrog steps {float(np.mean(fit['n_leapfrog__'])):.0f}"}
