"""Helpers shared by the speed benchmarks: the compared parameters, ESS, R-hat, peak memory."""

from __future__ import annotations

import resource
import time

#: The law's parameters every row's ESS and R-hat are taken over.
NAMES = ("E", "A", "alpha", "B", "beta")


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def min_bulk_ess(draws: dict) -> float:
    """``draws[name]`` shaped (chains, draws)."""
    from arviz_stats.base import array_stats

    return float(min(array_stats.ess(draws[n], chain_axis=0, draw_axis=1, method="bulk")
                     for n in NAMES))


def max_rhat(draws: dict) -> float:
    from arviz_stats.base import array_stats

    return float(max(array_stats.rhat(draws[n], chain_axis=0, draw_axis=1) for n in NAMES))


def gradient_seconds(model, kwargs: dict, precision: str, calls: int = 100) -> float:
    """Seconds per jitted gradient of ``model``'s potential at its initial point, as NUTS
    evaluates it: ``precision="mixed"`` on float32 data (cast once) with float64 sums.
    Call inside ``jax.enable_x64(True)``."""
    import jax
    from jax.flatten_util import ravel_pytree
    from numpyro.infer.util import initialize_model

    from bayes_scaling.inference.precision import mixed_potential, narrow

    info = initialize_model(jax.random.PRNGKey(0), model, model_kwargs=kwargs, dynamic_args=True)
    z = info.param_info.z
    if precision == "mixed":
        z, unravel = ravel_pytree(narrow(z))
        kwargs = narrow(kwargs)  # as NUTS holds them: cast once, not per gradient
        grad = jax.jit(jax.grad(lambda z, kw: mixed_potential(model, kw, unravel)(z)))
    else:
        grad = jax.jit(jax.grad(lambda z, kw: info.potential_fn(**kw)(z)))
    jax.block_until_ready(grad(z, kwargs))
    start = time.perf_counter()
    for _ in range(calls):
        g = grad(z, kwargs)
    jax.block_until_ready(g)
    return (time.perf_counter() - start) / calls
