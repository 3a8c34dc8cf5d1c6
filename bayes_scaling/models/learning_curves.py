"""NumPyro model of learning curves: checkpoints with a run-level random effect, iid or AR(1) noise."""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist

from ..laws import Law
from ..models.likelihood import noise_priors, observe

__all__ = ["EXTRA_PRIORS", "build_learning_curve_model"]


EXTRA_PRIORS = {"tau": dist.HalfNormal(0.05), "rho": dist.Uniform(-1.0, 1.0)}


@functools.cache
def build_learning_curve_model(law: Law, likelihood: str, ar1: bool) -> Callable[..., None]:
    """NumPyro model of checkpoints with a run effect (one object per option set: cached)."""
    if ar1 and likelihood != "normal":
        raise ValueError("ar1=True needs likelihood='normal'")

    def model(log_inputs, log_loss, design, priors, run_index, run_template, prev_index,
              has_prev) -> None:
        params = law.sample_params(design, priors)
        sampled = law.default_priors(design)
        for name in law.param_names:
            if name not in sampled:
                numpyro.deterministic(name, params[name])
        tau = numpyro.sample("tau", priors.get("tau", EXTRA_PRIORS["tau"]))
        with numpyro.plate("runs", run_template.shape[0]):
            z = numpyro.sample("run_z", dist.Normal(0.0, 1.0))
        effect = numpyro.deterministic("run_effect", tau * z)
        mean = law.log_mean(params, log_inputs) + effect[run_index]
        if not ar1:
            observe(likelihood, mean, log_loss, priors)
            return
        sigma = numpyro.sample("sigma", priors.get("sigma", noise_priors("normal")["sigma"]))
        rho = numpyro.sample("rho", priors.get("rho", EXTRA_PRIORS["rho"]))
        if log_loss is None:  # simulate: one AR(1) step per checkpoint in token order
            raise NotImplementedError("simulating AR(1) learning curves is not supported")
        resid = log_loss - mean
        cond_mean = mean + jnp.where(has_prev, rho * resid[prev_index], 0.0)
        cond_sd = sigma * jnp.where(has_prev, jnp.sqrt(1.0 - rho**2), 1.0)
        numpyro.sample("log_loss", dist.Normal(cond_mean, cond_sd), obs=log_loss)

    model.__name__ = f"{law.name}_{likelihood}_{'ar1_' if ar1 else ''}learning_curve_model"
    return model
