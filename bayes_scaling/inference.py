"""Running NUTS: chains, devices, seeds, compiled-sampler reuse and diagnostics.

Chains run in parallel on separate devices when there are enough (on CPU this
needs host devices, configured by :mod:`bayes_scaling._jax_setup` before JAX
starts), otherwise one after another on CPU and vectorised on accelerators.

Compiled samplers are cached per (model, sampler settings, data shapes): a
second fit of new data with a shape already seen reuses the compiled program
(model arguments are traced, ``jit_model_args=True``).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jax
import numpy as np
from numpyro.infer import MCMC, NUTS, init_to_median

__all__ = ["SamplerConfig", "NutsResult", "run_nuts", "choose_chain_method"]

#: Sampler statistics collected per draw.
EXTRA_FIELDS = ("diverging", "num_steps", "accept_prob", "energy", "potential_energy")


@dataclass(frozen=True)
class SamplerConfig:
    """NUTS settings.

    Attributes
    ----------
    chains, draws, warmup : int
        Number of chains, kept draws per chain and warm-up (adaptation) steps.
    dense_mass : bool
        Adapt a dense mass matrix (cheap here: a handful of parameters), which
        absorbs the remaining offset-exponent correlation.
    target_accept : float
        Target acceptance probability of the step-size adaptation.
    max_tree_depth : int
        Cap on NUTS tree depth (``2**depth`` leapfrog steps).
    chain_method : str or None
        ``"parallel"``, ``"sequential"`` or ``"vectorized"``; ``None`` chooses.
    progress : bool
        Show NumPyro's progress bar (slower: it steps the chain from Python).
    """

    chains: int = 4
    draws: int = 1000
    warmup: int = 1000
    dense_mass: bool = True
    target_accept: float = 0.9
    max_tree_depth: int = 10
    chain_method: str | None = None
    progress: bool = False

    def __post_init__(self) -> None:
        for name in ("chains", "draws", "warmup"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < (0 if name == "warmup" else 1):
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not 0.5 <= self.target_accept < 1:
            raise ValueError(f"target_accept must be in [0.5, 1), got {self.target_accept!r}")


@dataclass(frozen=True)
class NutsResult:
    """Draws grouped by chain: ``samples[name].shape == (chains, draws, ...)``."""

    samples: dict[str, np.ndarray]
    stats: dict[str, np.ndarray]
    chain_method: str


def choose_chain_method(chains: int) -> str:
    """Parallel when each chain has a device, else sequential on CPU, vectorised elsewhere."""
    if chains > 1 and jax.local_device_count() >= chains:
        return "parallel"
    return "sequential" if jax.default_backend() == "cpu" else "vectorized"


_MCMC_CACHE: dict[tuple, MCMC] = {}


def _shape_signature(tree: Any) -> tuple:
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    return (str(treedef),) + tuple((np.shape(x), np.result_type(x).str) for x in leaves)


def _get_mcmc(model, config: SamplerConfig, chain_method: str, signature: tuple) -> MCMC:
    key = (model, config, chain_method, signature)
    mcmc = _MCMC_CACHE.get(key)
    if mcmc is None:
        kernel = NUTS(
            model,
            dense_mass=config.dense_mass,
            target_accept_prob=config.target_accept,
            max_tree_depth=config.max_tree_depth,
            init_strategy=init_to_median(num_samples=15),
        )
        mcmc = MCMC(
            kernel,
            num_warmup=config.warmup,
            num_samples=config.draws,
            num_chains=config.chains,
            chain_method=chain_method,
            progress_bar=config.progress,
            jit_model_args=True,
        )
        _MCMC_CACHE[key] = mcmc
    return mcmc


def run_nuts(
    model,
    model_kwargs: Mapping[str, Any],
    config: SamplerConfig,
    key: jax.Array,
) -> NutsResult:
    """Run NUTS on ``model(**model_kwargs)`` and return draws grouped by chain.

    Parameters
    ----------
    model : callable
        A NumPyro model (see :func:`bayes_scaling.model.build_model`).
    model_kwargs : mapping
        Keyword arguments of the model (arrays and pytrees: traced, not static).
    config : SamplerConfig
    key : jax.Array
        PRNG key; every draw of the sampler flows from it.
    """
    chain_method = config.chain_method or choose_chain_method(config.chains)
    mcmc = _get_mcmc(model, config, chain_method, _shape_signature(dict(model_kwargs)))
    with warnings.catch_warnings():
        # NumPyro warns when chains > devices; we chose the method deliberately.
        warnings.filterwarnings("ignore", message="There are not enough devices")
        mcmc.run(key, extra_fields=EXTRA_FIELDS, **model_kwargs)
    samples = {k: np.asarray(v) for k, v in mcmc.get_samples(group_by_chain=True).items()}
    stats = {k: np.asarray(v) for k, v in mcmc.get_extra_fields(group_by_chain=True).items()}
    return NutsResult(samples=samples, stats=stats, chain_method=chain_method)
