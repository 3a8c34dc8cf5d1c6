"""Running NUTS: chains, devices, seeds, compiled-sampler reuse.

The sampler is NumPyro's NUTS kernel (``numpyro.infer.hmc.hmc``) driven by our
own jitted loop instead of ``MCMC.run``: ``MCMC.run`` re-traces and recompiles
its sampling loop on every call (a new ``pmap`` closure each time), which costs
seconds per fit. Here one chain — initialisation, warm-up with dense mass
adaptation, and sampling, all inside ``lax.scan`` — is a pure function of
``(key, model_kwargs)``. It is compiled once per (model, sampler settings,
data shapes, chain layout) and cached, so a new data set of a shape already
seen samples without recompiling. Across processes, the persistent compilation
cache (:mod:`bayes_scaling._jax_setup`) and :mod:`.exported` extend this.

Chain layouts:

* ``"parallel"``: one chain per device (CPU host devices or several accelerators);
* ``"vectorized"``: ``vmap`` over chains on one device (single GPU/TPU: lanes are free);
* ``"sequential"``: one compiled chain called per chain (CPU with too few devices).

Batched fits (:func:`run_nuts_batched`) map the same chain function over data
sets as well, and spread the data sets over all local devices with
:mod:`jax.sharding`: a one-axis :class:`~jax.sharding.Mesh` (axis ``"fits"``)
over ``jax.local_devices()`` and :func:`jax.shard_map`, so every device runs
its own block of fits with no communication (``jax.pmap``, the older way, is
itself built on ``shard_map`` in current JAX). On CPU each device runs its
(data set, chain) pairs one after another; on accelerators they are
``vmap``-ed. A batch that is not a multiple of the device count is padded with
repeats of its last data set, which are dropped from the result. See
``docs/scaling_out.md`` for CPU host devices, GPUs and several hosts
(``jax.distributed``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P
from numpyro.infer.hmc import hmc
from numpyro.infer.util import initialize_model

from . import precision as mixed_precision
from .compiled import SAMPLERS, guard_memory_maps
from .config import SamplerConfig, resolve_sampler
from .exported import parallel_runner
from .initialization import init_to_prior_centre, prior_centre_point
from .laplace import laplace
from .progress import progress_bar

# SamplerConfig and resolve_sampler live in .config; re-exported: the sampler's API
__all__ = ["SamplerConfig", "NutsResult", "run_nuts", "run_nuts_batched", "choose_chain_method",
           "on_accelerator", "compiled_sampler_count", "trace_count", "fits_mesh", "FITS_AXIS",
           "resolve_sampler"]

#: Name of the mesh axis over which batched fits are sharded.
FITS_AXIS = "fits"


@dataclass(frozen=True)
class NutsResult:
    """Draws grouped by chain: ``samples[name].shape == (chains, draws, ...)``.

    ``stats`` holds ``diverging``, ``num_steps``, ``accept_prob``, ``energy``,
    ``potential_energy`` and ``float32_gap`` with the same leading shape
    (``float32_gap``: float64 minus mixed-precision potential at the checked
    draws, ``NaN`` elsewhere; see :mod:`.precision`).
    """

    samples: dict[str, np.ndarray]
    stats: dict[str, np.ndarray]
    chain_method: str
    #: Ids of the devices that held the (sharded) draws; empty where not recorded.
    devices: tuple[int, ...] = ()


def arviz_sample_stats(stats: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """:attr:`NutsResult.stats` under ArviZ's names (``sample_stats`` group), with tree depth."""
    return {
        "diverging": stats["diverging"],
        "n_steps": stats["num_steps"],
        "tree_depth": np.floor(np.log2(np.maximum(stats["num_steps"], 1))).astype(np.int64) + 1,
        "acceptance_rate": stats["accept_prob"],
        "energy": stats["energy"],
        "lp": -stats["potential_energy"],
    }


class _ChainTrace(NamedTuple):
    z: Any
    diverging: Any
    num_steps: Any
    accept_prob: Any
    energy: Any
    potential_energy: Any
    float32_gap: Any


def on_accelerator() -> bool:
    """Whether JAX computes on a GPU or TPU: chains and batched fits are vectorised there
    (one program runs every lane in lock step), mapped one after another on CPU."""
    return jax.default_backend() != "cpu"


def choose_chain_method(chains: int) -> str:
    """Parallel when each chain has a device, else sequential on CPU, vectorised elsewhere."""
    if chains > 1 and jax.local_device_count() >= chains:
        return "parallel"
    return "vectorized" if on_accelerator() else "sequential"


def fits_mesh() -> Mesh:
    """One-axis mesh (axis :data:`FITS_AXIS`) over this process's local devices.

    Local, not global, devices: under ``jax.distributed`` every process fits
    its own tables and no draws cross hosts (see ``docs/scaling_out.md``).
    """
    return Mesh(np.asarray(jax.local_devices()), (FITS_AXIS,))


def _sharded(body: Callable, mesh: Mesh) -> Callable:
    """``jit(shard_map(body))`` splitting every argument and output along its leading axis.

    ``check_vma=False``: NUTS' loops start from constants that are not marked as
    varying over the mesh axis; nothing here communicates across devices.
    """
    spec = P(FITS_AXIS)
    return jax.jit(jax.shard_map(body, mesh=mesh, in_specs=spec, out_specs=spec,
                                 check_vma=False))


def _shape_signature(tree: Any) -> tuple:
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    return (str(treedef),) + tuple((np.shape(x), np.asarray(x).dtype.str) for x in leaves)


def _make_chain_fn(model: Callable, model_kwargs: Mapping[str, Any], config: SamplerConfig):
    """Build ``chain(key, model_kwargs) -> (constrained draws, _ChainTrace)`` for one chain."""
    init_strategy = init_to_prior_centre()  # no prior sampler in the program
    # Traced abstractly (eval_shape) with arguments of this shape: gives the
    # potential and postprocessing functions as generators of the (dynamic) model
    # arguments. Running it eagerly instead would compile every primitive of the
    # model one by one (~150 small XLA programs, seconds of a cold start).
    captured = {}

    def probe(kwargs):
        captured["info"] = initialize_model(jax.random.PRNGKey(0), model, model_kwargs=kwargs,
                                            dynamic_args=True, init_strategy=init_strategy)
        return captured["info"].param_info.z

    shapes = jax.eval_shape(probe, dict(model_kwargs))
    info = captured["info"]  # its functions close over no traced values
    prototype = jax.tree_util.tree_map(lambda s: np.zeros(s.shape, s.dtype), shapes)
    _, unravel = ravel_pytree(prototype)
    mixed = config.precision == "mixed"
    _, unravel32 = ravel_pytree(mixed_precision.narrow(prototype))

    def flat_potential_gen(_shift, _tril, **kwargs):
        # NUTS runs on u with z = shift + tril @ u: an affine map (constant
        # Jacobian), so the posterior of z is unchanged. Mixed precision: kwargs
        # arrive as float32 (cast once per chain, not per step).
        if mixed:
            potential = mixed_precision.mixed_potential(model, kwargs, unravel32)
            return lambda u: potential((_shift + _tril @ u).astype(jnp.float32))
        potential = info.potential_fn(**kwargs)
        return lambda u: potential(unravel(_shift + _tril @ u))

    init_kernel, sample_kernel = hmc(potential_fn_gen=flat_potential_gen, algo="NUTS")

    def chain(key: jax.Array, kwargs: Mapping[str, Any]):
        # Runs only while JAX traces (i.e. before a compilation), never per call.
        global _TRACE_COUNT
        _TRACE_COUNT += 1
        key_init, key_run = jax.random.split(key)
        start = prior_centre_point(model, key_init, kwargs)
        z_init, _ = ravel_pytree({name: start[name] for name in prototype})
        dim = z_init.shape[0]
        if config.laplace:
            # Standardise by the Laplace approximation at the mode. Stan-style mass
            # matrix adaptation shrinks its estimate towards 1e-3 * I, which swamps
            # posterior variances of 1e-6 (tens of thousands of runs): leapfrog steps
            # then grow with the table, and the first warm-up window, with a unit
            # mass matrix, takes 2**max_tree_depth steps per iteration. In
            # standardised coordinates the posterior has unit scale at any size.
            mode, tril, ok = laplace(lambda z: info.potential_fn(**kwargs)(unravel(z)),
                                     z_init, LAPLACE_ITERATIONS)
            jitter = jax.random.uniform(jax.random.fold_in(key_init, 1), (dim,),
                                        z_init.dtype, -1.0, 1.0)
            shift = jnp.where(ok, mode, z_init)
            tril = jnp.where(ok, tril, jnp.eye(dim, dtype=z_init.dtype))
            u_init = jnp.where(ok, jitter, jnp.zeros_like(z_init))
        else:
            shift, tril, u_init = z_init, jnp.eye(dim, dtype=z_init.dtype), jnp.zeros_like(z_init)
        # log|det tril|: turns the potential of u back into that of z (for lp, energy).
        log_det = jnp.sum(jnp.log(jnp.abs(jnp.diag(tril))))
        data = mixed_precision.narrow(kwargs) if mixed else kwargs
        flat_kwargs = {**data, "_shift": shift, "_tril": tril}
        state = init_kernel(u_init, config.warmup, dense_mass=config.dense_mass,
                            target_accept_prob=config.target_accept,
                            max_tree_depth=config.max_tree_depth, model_kwargs=flat_kwargs,
                            rng_key=key_run)

        def record(s):
            return _ChainTrace(s.z, s.diverging, s.num_steps, s.accept_prob, s.energy + log_det,
                               s.potential_energy + log_det, jnp.nan)

        # One loop over warm-up and draws, so the NUTS kernel is traced and compiled
        # once (two scans would compile it twice). The kernel adapts while its step
        # counter is below `warmup`; warm-up steps write slot 0, then overwritten.
        buffer = jax.tree_util.tree_map(
            lambda x: jnp.zeros((config.draws,) + jnp.shape(x), jnp.result_type(x)),
            record(state))

        def step(i, carry):
            s, buf = carry
            s = sample_kernel(s, model_kwargs=flat_kwargs)
            slot = jnp.maximum(i - config.warmup, 0)
            buf = jax.tree_util.tree_map(
                lambda b, x: jax.lax.dynamic_update_index_in_dim(b, x, slot, 0), buf, record(s))
            return s, buf

        _, trace = jax.lax.fori_loop(0, config.warmup + config.draws, step, (state, buffer))
        if mixed:  # the guard of .precision; NUTS recorded the mixed potential
            trace = trace._replace(float32_gap=mixed_precision.checked_gaps(
                lambda u: info.potential_fn(**kwargs)(unravel(shift + tril @ u)),
                trace.potential_energy - log_det, trace.z))
        constrain = info.postprocess_fn(**kwargs)
        draws = jax.vmap(lambda u: constrain(unravel(shift + tril @ u)))(trace.z)
        return draws, trace

    return chain


#: Above this many values in one model argument (runs), CPU chains run one after another.
SEQUENTIAL_ABOVE = 16384

#: Most Levenberg-Marquardt steps towards the mode before sampling (SamplerConfig.laplace);
#: they stop at convergence. From the prior centre of a 10k-run table about 40 are
#: needed, of a 100k-run table up to ~150 (100 left one chain of four short of it).
LAPLACE_ITERATIONS = 300


_TRACE_COUNT = 0
_BUILT = 0


def compiled_sampler_count() -> int:
    """Number of compiled samplers built in this process (for compile checks)."""
    return _BUILT


def trace_count() -> int:
    """How often JAX has traced a chain function in this process.

    A call that reuses a compiled sampler does not trace, so an unchanged count
    across a fit proves that nothing was recompiled.
    """
    return _TRACE_COUNT


def _get_runner(model, model_kwargs, config: SamplerConfig, layout: str) -> Callable:
    key = (model, config.compile_key(), config.chains, layout, _shape_signature(dict(model_kwargs)))
    runner = SAMPLERS.get(key)
    if runner is None:
        global _BUILT
        _BUILT += 1
        runner = (_exported_runner(model, model_kwargs, config, layout)
                  or _build_runner(_make_chain_fn(model, model_kwargs, config), layout))
        SAMPLERS[key] = runner
    return runner


def _build_runner(chain: Callable, layout: str) -> Callable:
    if layout == "parallel":
        return jax.pmap(chain, in_axes=(0, None))
    if layout == "vectorized":
        return jax.jit(jax.vmap(chain, in_axes=(0, None)))
    if layout == "sequential":
        return jax.jit(chain)
    if layout == "batched":  # data sets x chains, vectorised on one device
        return jax.jit(jax.vmap(jax.vmap(chain, in_axes=(0, None)), in_axes=(0, 0)))
    if layout == "batched_sharded":  # data sets sharded over devices, vmap-ed on each
        return _sharded(
            lambda pairs: jax.vmap(jax.vmap(chain, in_axes=(0, None)), in_axes=(0, 0))(*pairs),
            fits_mesh())
    if layout == "mapped":  # (data set, chain) pairs one after another
        return jax.jit(partial(jax.lax.map, lambda pair: chain(*pair)))
    if layout == "mapped_sharded":  # pairs sharded over devices, in turn on each
        return _sharded(partial(jax.lax.map, lambda pair: chain(*pair)), fits_mesh())
    raise ValueError(layout)  # pragma: no cover - guarded by SamplerConfig


def _exported_runner(model, model_kwargs, config: SamplerConfig, layout: str) -> Callable | None:
    """The parallel program stored with :mod:`.exported` (built-in models only), or ``None``."""
    name = getattr(model, "export_key", None)
    if layout != "parallel" or name is None:
        return None
    device = jax.local_devices()[0]
    key = (name, config.compile_key(), config.chains, device.platform, device.device_kind,
           _shape_signature(dict(model_kwargs)))
    return parallel_runner(lambda: _make_chain_fn(model, model_kwargs, config), key,
                           config.chains, lambda draws, trace: (draws, _ChainTrace(*trace)))


def _to_result(samples: Mapping[str, Any], trace: _ChainTrace, layout: str) -> NutsResult:
    stats = {name: np.asarray(getattr(trace, name)) for name in trace._fields if name != "z"}
    return NutsResult(samples={k: np.asarray(v) for k, v in samples.items()}, stats=stats,
                      chain_method=layout)


def run_nuts(
    model: Callable,
    model_kwargs: Mapping[str, Any],
    config: SamplerConfig,
    key: jax.Array,
) -> NutsResult:
    """Run NUTS chains on ``model(**model_kwargs)``; draws come back grouped by chain.

    Parameters
    ----------
    model : callable
        A NumPyro model (see :func:`bayes_scaling.model.build_model`); the same
        function object for the same law and likelihood, so compiled samplers
        are reused.
    model_kwargs : mapping
        Keyword arguments of the model (arrays and pytrees: traced, not static).
    config : SamplerConfig
    key : jax.Array
        PRNG key; chain ``i`` uses ``jax.random.split(key, chains)[i]``.
    """
    guard_memory_maps()
    layout = config.chain_method or choose_chain_method(config.chains)
    if layout == "parallel" and jax.local_device_count() < config.chains:
        layout = choose_chain_method(1)
    if (config.chain_method is None and layout == "parallel" and not on_accelerator()
            and max(np.size(x) for x in jax.tree_util.tree_leaves(dict(model_kwargs)))
            > SEQUENTIAL_ABOVE):
        # Parallel CPU chains on big tables grow the resident memory with every
        # iteration (~10 MB/s at 100k runs, past 2 GB); one chain at a time stays flat.
        layout = "sequential"
    config = replace(config, precision=mixed_precision.resolve(config.precision, model,
                                                               model_kwargs))
    fresh = compiled_sampler_count()
    runner = _get_runner(model, model_kwargs, config, layout)
    fresh = compiled_sampler_count() > fresh  # the first call compiles (seconds)
    keys = jax.random.split(key, config.chains)
    name = getattr(model, "__name__", "model")
    bar = progress_bar(config.chains if layout == "sequential" else 1,
                       f"{'compiling + ' if fresh else ''}NUTS {name}, {config.chains} chains "
                       f"x {config.warmup}+{config.draws}", config.progress,
                       unit="chain" if layout == "sequential" else "run")
    try:
        if layout == "sequential":
            outputs = []
            for i in range(config.chains):
                outputs.append(runner(keys[i], model_kwargs))
                bar.update(1)
            samples, trace = jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *outputs)
        else:
            samples, trace = runner(keys, model_kwargs)
            bar.update(1)
    finally:
        bar.close()
    result = _to_result(samples, trace, layout)
    if config.precision == "mixed":
        spread = float(mixed_precision.gap_spread(result.stats["float32_gap"]))
        if not spread <= mixed_precision.TOLERANCE:
            mixed_precision.warn_fallback(spread, 1)
            return run_nuts(model, model_kwargs, replace(config, precision="float64"), key)
    return result


def run_nuts_batched(
    model: Callable,
    batched_kwargs: Mapping[str, Any],
    config: SamplerConfig,
    keys: jax.Array,
    *,
    shard: bool | None = None,
) -> NutsResult:
    """Run NUTS on many data sets of one shape in one compiled program.

    ``batched_kwargs`` has a leading data-set axis on every array leaf; ``keys``
    has shape ``(num_datasets, 2)``. Returned arrays have shape
    ``(num_datasets, chains, draws, ...)``.

    With several local devices the data sets are sharded over them (mesh axis
    :data:`FITS_AXIS`, see :func:`fits_mesh`); a number of data sets that is not
    a multiple of the device count is padded with repeats of the last one,
    whose draws are dropped. Draws of data set ``i`` depend only on
    ``keys[i]`` and its data, not on the batch or the device count.
    ``shard=False`` keeps everything on the default device (``None``: shard
    when there are several local devices).
    """
    one = jax.tree_util.tree_map(lambda x: x[0], dict(batched_kwargs))
    config = replace(config, precision=mixed_precision.resolve(config.precision, model, one))
    chain_keys = jax.vmap(lambda k: jax.random.split(k, config.chains))(keys)
    num = int(chain_keys.shape[0])
    devices = jax.local_device_count()
    mapped = not on_accelerator()
    if mapped:
        # vmap-ed NUTS runs in lock step (every lane waits for the deepest tree), which
        # on CPU is slower than running the (data set, chain) pairs one after another.
        inputs = (chain_keys.reshape((num * config.chains,) + chain_keys.shape[2:]),
                  jax.tree_util.tree_map(lambda x: jnp.repeat(x, config.chains, axis=0),
                                         dict(batched_kwargs)))
    else:
        inputs = (chain_keys, dict(batched_kwargs))
    rows = num * config.chains if mapped else num
    sharded = devices > 1 and shard is not False
    pad = -rows % devices if sharded else 0
    if pad:  # shard_map needs equal blocks: repeat the last row, dropped below
        inputs = jax.tree_util.tree_map(
            lambda x: jnp.concatenate([x, jnp.repeat(x[-1:], pad, axis=0)]), inputs)
    guard_memory_maps()
    layout = ("mapped" if mapped else "batched") + ("_sharded" if sharded else "")
    runner = _get_runner(model, one, config, layout)
    if sharded:
        placement = NamedSharding(fits_mesh(), P(FITS_AXIS))
        inputs = jax.device_put(inputs, placement)
    samples, trace = runner(inputs) if sharded or mapped else runner(*inputs)
    used = tuple(sorted(d.id for d in jax.tree_util.tree_leaves(samples)[0].sharding.device_set))
    # Back to (data set, chain, draw, ...): drop the padding and, for the mapped
    # layouts, unflatten the (data set, chain) pairs.
    head = (num, config.chains) if mapped else (num,)
    samples, trace = jax.tree_util.tree_map(  # on the host: no device ops to dispatch
        lambda x: np.asarray(x)[:rows].reshape(head + x.shape[1:]), (samples, trace))
    result = _to_result(samples, trace, layout)
    if config.precision == "mixed":
        spread = mixed_precision.gap_spread(result.stats["float32_gap"], axis=(1, 2))  # each set
        redo = np.flatnonzero(~(spread <= mixed_precision.TOLERANCE))
        if redo.size:  # only these data sets again, in float64
            mixed_precision.warn_fallback(float(np.max(spread[redo])), int(redo.size))
            again = run_nuts_batched(
                model, jax.tree_util.tree_map(lambda x: x[redo], dict(batched_kwargs)),
                replace(config, precision="float64"), keys[redo], shard=shard)
            result = replace(result,
                             samples=mixed_precision.splice(result.samples, again.samples, redo),
                             stats=mixed_precision.splice(result.stats, again.stats, redo))
    return NutsResult(samples=result.samples, stats=result.stats, chain_method=layout,
                      devices=used)
