"""NumPyro models of hyperparameter laws: the per-budget bowl in log lr and the critical-batch trade-off."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist

__all__ = ["bowl_model", "tradeoff_model", "direct_model"]


# ------------------------------------------------------ optimum vs budget law
def bowl_model(log_hyper, log_loss, budget_index, log_by_budget, centre, scales,
                priors):
    """Joint model of sweeps: per-budget quadratic bowls, optima on a power law."""
    num_budgets = log_by_budget.shape[0]
    b = numpyro.sample("b", priors.get("b", dist.Normal(0.0, 1.0)))
    log_h_c = numpyro.sample("log_h_c", priors.get(
        "log_h_c", dist.Normal(scales["hyper_mean"], scales["hyper_scale"])))
    tau = numpyro.sample("tau", priors.get("tau", dist.HalfNormal(0.2)))
    sigma = numpyro.sample("sigma", priors.get("sigma", dist.HalfNormal(0.05)))
    with numpyro.plate("budget", num_budgets):
        z = numpyro.sample("opt_z", dist.Normal(0.0, 1.0))
        log_min = numpyro.sample("log_min_loss",
                                 dist.Normal(scales["loss_mean"], scales["loss_scale"]))
        log_curv = numpyro.sample("log_curvature",
                                  dist.Normal(scales["log_curvature"], 2.0))
    law_opt = log_h_c + b * (log_by_budget - centre)
    log_opt = numpyro.deterministic("log_opt", law_opt + tau * z)
    numpyro.deterministic("log_a", log_h_c - b * centre)
    numpyro.deterministic("a", jnp.exp(log_h_c - b * centre))
    mean = log_min[budget_index] + jnp.exp(log_curv)[budget_index] * (
        log_hyper - log_opt[budget_index]) ** 2
    numpyro.sample("log_loss", dist.Normal(mean, sigma), obs=log_loss)


# ----------------------------------------------------- critical batch size
def tradeoff_model(log_batch, log_steps, target_index, log_targets, centre,
                    scales, priors):
    """``ln S = ln S_min,k + softplus(ln B_crit,k - ln B)``, ``B_crit`` on a power law in L."""
    num_targets = log_targets.shape[0]
    alpha_b = numpyro.sample("alpha_B", priors.get("alpha_B", dist.LogNormal(np.log(0.25), 1.0)))
    log_b_c = numpyro.sample("log_B_c", priors.get(
        "log_B_c", dist.Normal(scales["batch_mean"], scales["batch_scale"])))
    tau = numpyro.sample("tau", priors.get("tau", dist.HalfNormal(0.2)))
    sigma = numpyro.sample("sigma", priors.get("sigma", dist.HalfNormal(0.1)))
    with numpyro.plate("target", num_targets):
        z = numpyro.sample("crit_z", dist.Normal(0.0, 1.0))
        log_s_min = numpyro.sample("log_S_min",
                                   dist.Normal(scales["steps_mean"], scales["steps_scale"]))
    law = log_b_c - (log_targets - centre) / alpha_b
    log_b_crit = numpyro.deterministic("log_B_crit", law + tau * z)
    numpyro.deterministic("log_E_min", log_s_min + log_b_crit)
    numpyro.deterministic("B_star", jnp.exp(log_b_c + centre / alpha_b))
    mean = log_s_min[target_index] + jax.nn.softplus(log_b_crit[target_index] - log_batch)
    numpyro.sample("log_steps", dist.Normal(mean, sigma), obs=log_steps)


def direct_model(log_loss_target, log_b_crit_obs, centre, scales, priors):
    """``ln B_crit ~ Normal(ln B_c - (ln L - ln L_c) / alpha_B, sigma)``."""
    alpha_b = numpyro.sample("alpha_B", priors.get("alpha_B", dist.LogNormal(np.log(0.25), 1.0)))
    log_b_c = numpyro.sample("log_B_c", priors.get(
        "log_B_c", dist.Normal(scales["batch_mean"], scales["batch_scale"])))
    sigma = numpyro.sample("sigma", priors.get("sigma", dist.HalfNormal(0.3)))
    numpyro.deterministic("B_star", jnp.exp(log_b_c + centre / alpha_b))
    mean = log_b_c - (log_loss_target - centre) / alpha_b
    numpyro.sample("log_B_crit_obs", dist.Normal(mean, sigma), obs=log_b_crit_obs)
