"""JAX start-up settings that must happen before JAX initialises a backend.

* **Host devices.** Parallel CPU chains need one XLA host device each, which
  can only be requested before the CPU backend starts. On import,
  bayes_scaling asks for ``BAYES_SCALING_HOST_DEVICES`` devices (default 4, the
  default number of chains) unless ``XLA_FLAGS`` already sets a count. If JAX
  was started before bayes_scaling was imported, the setting cannot take effect
  and chains run one after another (still correct, just slower); import
  bayes_scaling first, or call ``numpyro.set_host_device_count`` yourself.
* **Persistent compilation cache.** Compiled samplers are written to
  ``BAYES_SCALING_CACHE_DIR`` (default: ``~/.cache/bayes_scaling/jax``) so a new
  process skips most compilation. ``BAYES_SCALING_CACHE_DIR=""`` (empty) turns it
  off; a cache directory configured by the user in JAX is left alone. The same
  folder holds the exported chain programs of :mod:`bayes_scaling.inference.exported`
  (which skip tracing as well).
* **float64** is *not* switched on globally: the library's own computations run
  inside ``jax.enable_x64(True)`` contexts.
"""

from __future__ import annotations

import os

_DEVICE_FLAG = "--xla_force_host_platform_device_count"


def configure_host_devices() -> None:
    count = os.environ.get("BAYES_SCALING_HOST_DEVICES", "4")
    flags = os.environ.get("XLA_FLAGS", "")
    if _DEVICE_FLAG in flags or not count.isdigit() or int(count) <= 1:
        return
    os.environ["XLA_FLAGS"] = f"{flags} {_DEVICE_FLAG}={int(count)}".strip()


def configure_compilation_cache() -> None:
    import jax

    cache_dir = os.environ.get(
        "BAYES_SCALING_CACHE_DIR",
        os.path.join(os.path.expanduser("~"), ".cache", "bayes_scaling", "jax"),
    )
    if not cache_dir or jax.config.jax_compilation_cache_dir:
        return
    try:
        os.makedirs(cache_dir, exist_ok=True)
    except OSError:
        return  # read-only home: run without the cache
    jax.config.update("jax_compilation_cache_dir", cache_dir)
    # Cache every program: samplers take seconds, and the ~15 small programs around a
    # fit (key splits, the simulator, array set-up) add ~0.3 s to a cold start.
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def repair_numpyro_namespace() -> None:
    """Re-bind ``numpyro.distributions.distribution`` if an earlier import unbound it.

    Importing ``arviz_base`` before ``numpyro.distributions`` leaves the
    submodule attribute missing, and ``numpyro.factor`` then fails with
    ``AttributeError``.
    """
    import sys

    import numpyro.distributions as numpyro_dists

    module = sys.modules.get("numpyro.distributions.distribution")
    if module is not None and "distribution" not in numpyro_dists.__dict__:
        numpyro_dists.distribution = module
