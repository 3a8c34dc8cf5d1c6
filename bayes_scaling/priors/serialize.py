"""Priors as JSON: how a fit records the priors it used in its netcdf file.

A NumPyro distribution is written as its class name and the arguments named in
its ``arg_constraints`` (scalars or lists), and rebuilt from
``numpyro.distributions`` by that name. Every prior the library and its
catalogue use (Normal, LogNormal, HalfNormal, Gamma, Uniform, Beta, StudentT,
...) round-trips exactly; a distribution that cannot be rebuilt that way
(e.g. a transformed or mixture distribution) raises when encoded.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpyro.distributions as dist

__all__ = ["encode_priors", "decode_priors"]


def _encode_value(value: Any) -> Any:
    array = np.asarray(value, dtype=np.float64)
    return float(array) if array.ndim == 0 else array.tolist()


def encode_priors(priors: Mapping[str, dist.Distribution] | None) -> dict[str, dict]:
    """``{name: {"distribution": class name, "args": {arg: value}}}`` for JSON."""
    out = {}
    for name, prior in (priors or {}).items():
        cls = type(prior)
        if getattr(dist, cls.__name__, None) is not cls:
            raise ValueError(f"prior {name!r}: {cls.__name__} is not a numpyro.distributions "
                             "class, so the fit cannot record it")
        args = {arg: _encode_value(getattr(prior, arg)) for arg in prior.arg_constraints
                if arg not in ("probs", "logits") or hasattr(prior, arg)}
        out[name] = {"distribution": cls.__name__, "args": args}
    decode_priors(out)  # fail now, not at load time, if it does not rebuild
    return out


def decode_priors(encoded: Mapping[str, Mapping[str, Any]] | None) -> dict[str, dist.Distribution]:
    """Inverse of :func:`encode_priors`."""
    out = {}
    for name, spec in (encoded or {}).items():
        cls = getattr(dist, spec["distribution"])
        args = {k: np.asarray(v, dtype=np.float64) if isinstance(v, list) else v
                for k, v in spec["args"].items()}
        try:
            out[name] = cls(**args)
        except TypeError as err:
            raise ValueError(f"prior {name!r}: cannot rebuild {spec['distribution']} from "
                             f"{sorted(args)}") from err
    return out
