"""Chain programs that outlive the process: :mod:`jax.export` of the parallel sampler.

The persistent compilation cache (:mod:`bayes_scaling._jax_setup`) lets a new
process skip XLA's compilation, but not the tracing and lowering that compute
the cache's key: about a second of Python for a NUTS chain program, most of a
cold start once the cache is warm. So the program of the parallel layout (one
chain per device, :func:`jax.shard_map` over a one-axis mesh) is also written
as a serialized :class:`jax.export.Exported` beside the compilation cache. A
later process with the same library source, JAX and NumPyro versions, model,
sampler settings, devices and argument shapes loads it and calls it without
tracing the model; the call lowers the same module in every process, so the
compilation cache answers the compilation as well.

This is only used while the compilation cache is on (it lives in the cache's
folder). A call whose arguments cannot be serialized (a user-defined prior
distribution among them, for instance) runs the same program unexported.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import sys
import tempfile
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

__all__ = ["EXPORT_FOLDER", "artifact_path", "parallel_runner"]

#: Folder, inside JAX's compilation-cache folder, of the exported chain programs.
EXPORT_FOLDER = "bayes_scaling_exported"
_AXIS = "chains"


@cache
def _environment_digest() -> str:
    """Hash of everything that shapes a traced program besides its arguments.

    The library's own source (every module: a change anywhere in the model, the
    laws or the sampler gives new programs), the versions of the packages that
    trace it, and the Python version.
    """
    digest = hashlib.sha256()
    package = Path(__file__).resolve().parents[1]
    for path in sorted(package.rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode())
        digest.update(path.read_bytes())
    for name in ("jax", "jaxlib", "numpyro"):
        try:
            digest.update(f"{name}={importlib.metadata.version(name)}".encode())
        except importlib.metadata.PackageNotFoundError:
            digest.update(f"{name}=?".encode())
    digest.update(sys.version.encode())
    return digest.hexdigest()


def _cache_folder() -> str | None:
    return jax.config.jax_compilation_cache_dir


def artifact_path(key: tuple) -> Path | None:
    """Where the program of ``key`` is stored, or ``None`` with the compilation cache off.

    ``key`` must describe the program fully apart from the environment (model,
    sampler settings, chains, devices, argument shapes and dtypes).
    """
    folder = _cache_folder()
    if not folder:
        return None
    name = hashlib.sha256((_environment_digest() + repr(key)).encode()).hexdigest()[:40]
    return Path(folder) / EXPORT_FOLDER / f"{name}.jaxexport"


def _load(path: Path) -> Any:
    try:
        blob = path.read_bytes()
    except OSError:
        return None
    try:
        return jax.export.deserialize(bytearray(blob))
    except Exception:  # noqa: BLE001 - a damaged or foreign file: build the program again
        path.unlink(missing_ok=True)
        return None


def _save(path: Path, blob: bytes) -> None:
    """Write atomically: a concurrent reader sees the whole file or none."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(handle, "wb") as out:
            out.write(blob)
        os.replace(temporary, path)
    except OSError:
        pass  # a read-only cache folder: the next process traces again


def parallel_runner(build_chain: Callable[[], Callable], key: tuple, chains: int,
                    rebuild: Callable[[Any, Any], Any]) -> Callable | None:
    """``runner(keys, model_kwargs)`` running one chain per device, exported to disk.

    Parameters
    ----------
    build_chain : callable
        Returns ``chain(key, model_kwargs) -> (draws, trace)`` (a tuple of
        arrays as ``trace``); called only when no stored program matches.
    key : tuple
        The program's identity (see :func:`artifact_path`).
    chains : int
        Number of chains: the first ``chains`` local devices run one each.
    rebuild : callable
        ``rebuild(draws, trace_tuple)`` gives the caller's output types back
        (the stored program returns plain tuples and dicts).

    Returns ``None`` when the compilation cache is off: the caller then uses
    its ordinary program.
    """
    path = artifact_path(key)
    if path is None:
        return None
    mesh = Mesh(np.asarray(jax.local_devices()[:chains]), (_AXIS,))
    by_chain, replicated = NamedSharding(mesh, P(_AXIS)), NamedSharding(mesh, P())
    program: dict[str, Any] = {"exported": _load(path)}

    def per_device(keys: jax.Array, kwargs: Mapping[str, Any]):
        draws, trace = program["chain"](keys[0], kwargs)  # each device holds one key
        return jax.tree_util.tree_map(lambda x: x[None], (draws, tuple(trace)))

    def plain() -> Callable:
        if "plain" not in program:
            program["chain"] = build_chain()
            program["plain"] = jax.jit(jax.shard_map(
                per_device, mesh=mesh, in_specs=(P(_AXIS), P()), out_specs=P(_AXIS),
                check_vma=False))
        return program["plain"]

    def run(keys: jax.Array, kwargs: Mapping[str, Any]):
        keys, kwargs = jax.device_put(keys, by_chain), jax.device_put(dict(kwargs), replicated)
        if program["exported"] is None and "plain" not in program:
            try:
                exported = jax.export.export(plain())(keys, kwargs)
                blob = exported.serialize()
            except Exception:  # noqa: BLE001 - e.g. a prior class that cannot be serialized
                pass  # the same program, traced in this process only
            else:
                _save(path, blob)
                program["exported"] = exported
        if program["exported"] is not None:
            try:
                draws, trace = program["exported"].call(keys, kwargs)
                return rebuild(draws, trace)
            except (TypeError, ValueError):  # arguments the stored program does not take
                program["exported"] = None
        draws, trace = plain()(keys, kwargs)
        return rebuild(draws, trace)

    return run
