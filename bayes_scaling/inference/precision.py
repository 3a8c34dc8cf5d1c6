"""Mixed precision for NUTS: per-run work in float32, sums and sampler state in float64.

On CPU the gradient of the potential is the inner loop of every fit, one pass
over the runs per leapfrog step, and in float32 it costs about a third of the
float64 one (twice the SIMD lanes, cheaper ``exp``/``log``). With
``SamplerConfig(precision="mixed")`` NUTS runs on a potential
whose data, parameters and per-run log-densities are float32, while each
observed site's log-densities are summed in float64 (a float32 sum over
10^5 runs errs by more than the energy differences NUTS works with), and the
sampler's state, the Laplace step and the reported draws stay float64.

The guard: NUTS then samples ``exp(-U32)`` instead of the target ``exp(-U64)``.
At :data:`CHECKS` draws per chain the chain program evaluates the float64
potential (NUTS recorded the other); ``gap = U64 - U32`` is what tilts one
posterior into the other, so its spread over the draws bounds the error (a
constant offset does not matter): to first order a posterior expectation moves
by ``cov(f, gap) <= sd(f) sd(gap)``. With
``sd(gap) <=`` :data:`TOLERANCE` that is at most a hundredth of a posterior SD,
below the Monte-Carlo error of a default fit (about ``sd(f) / 60``). Above it,
:mod:`.nuts` runs the fit again in float64 and warns.

The check is one more function in the chain program, compiled with every new
shape, while the float32 gradient saves ~0.05 s per fit of 250 runs, 0.2-0.35 s
at 900 and 0.8-1.5 s at 3,700 (``benchmarks/RESULTS.md``, float64 rows beside). So the
default, ``"auto"``, is mixed above :data:`MIXED_ABOVE` runs and float64 below,
and only for models that declare ``model.mixed_precision = True`` (the scaling-law
models, whose likelihood has a float64 normaliser): a model of unknown make may
hold code that float32 arguments break, e.g. a callback with a fixed output type.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
from numpyro.infer.util import potential_energy
from numpyro.primitives import Messenger

from ..exceptions import PrecisionWarning

__all__ = ["PRECISIONS", "MIXED_ABOVE", "resolve", "CHECKS", "TOLERANCE", "narrow",
           "mixed_potential", "gap_spread", "checked_gaps", "warn_fallback", "splice",
           "fitted_precision", "fitted_config"]

#: ``SamplerConfig.precision`` values.
PRECISIONS = ("auto", "mixed", "float64")

#: ``"auto"`` precision is mixed for model arguments of more than this many values (runs).
MIXED_ABOVE = 1024

#: Draws per chain at which the float32 potential is checked against float64.
CHECKS = 100

#: Largest accepted SD over draws of ``U64 - U32`` (log-density units).
TOLERANCE = 0.01


def resolve(precision: str, model: Callable, model_kwargs: Mapping[str, Any]) -> str:
    """``"mixed"`` or ``"float64"``; ``"auto"``: by the model and its largest argument.

    Examples
    --------
    >>> import numpy as np
    >>> def model(log_loss): ...
    >>> model.mixed_precision = True
    >>> resolve("auto", model, {"log_loss": np.zeros(4096)})
    'mixed'
    >>> resolve("auto", model, {"log_loss": np.zeros(256)})
    'float64'
    """
    if precision != "auto":
        return precision
    if not getattr(model, "mixed_precision", False):
        return "float64"
    rows = max((np.size(x) for x in jax.tree_util.tree_leaves(dict(model_kwargs))), default=0)
    return "mixed" if rows > MIXED_ABOVE else "float64"


def narrow(tree: Any) -> Any:
    """``tree`` with every floating-point leaf cast to float32 (others unchanged).

    Examples
    --------
    >>> import numpy as np
    >>> narrow({"x": np.ones(2), "i": np.arange(2)})["x"].dtype
    dtype('float32')
    """
    def cast(leaf: Any) -> Any:
        if jnp.issubdtype(jnp.result_type(leaf), jnp.floating):
            return jnp.asarray(leaf, jnp.float32)
        return leaf

    return jax.tree_util.tree_map(cast, tree)


class _SummedWide(dist.Distribution):
    """``base`` whose log-densities come back in the default (float64) type, which NumPyro sums."""

    def __init__(self, base: dist.Distribution):
        self.base = base
        super().__init__(base.batch_shape, base.event_shape)

    @property
    def support(self):  # noqa: D102 - the base's
        return self.base.support

    def sample(self, key, sample_shape=()):  # noqa: D102 - the base's
        return self.base.sample(key, sample_shape)

    def log_prob(self, value):  # noqa: D102 - the base's, widened
        return self.base.log_prob(value).astype(jnp.result_type(float))


class _widen_observed(Messenger):  # noqa: N801 - a NumPyro handler, named like theirs
    """Observed sites (one value per run) sum their log-densities in float64."""

    def process_message(self, msg):
        if msg["type"] == "sample" and msg["is_observed"]:
            msg["fn"] = _SummedWide(msg["fn"])


def mixed_potential(model: Callable, narrow_kwargs: Mapping[str, Any],
                    unravel: Callable) -> Callable:
    """``potential(z32) -> U`` in float64 from float32 data and parameters.

    ``narrow_kwargs`` are the model's arguments after :func:`narrow`;
    ``unravel`` maps a flat float32 vector to the model's unconstrained sites.
    """
    widened = _widen_observed(model)

    def potential(z):
        energy = potential_energy(widened, (), dict(narrow_kwargs), unravel(z))
        return jnp.asarray(energy, jnp.result_type(float))

    return potential


def checked_gaps(exact: Callable, mixed: jax.Array, draws: jax.Array) -> jax.Array:
    """``exact(draw) - mixed`` at :data:`CHECKS` evenly spaced ``draws``, NaN elsewhere.

    ``mixed`` holds the mixed-precision potential of every draw, as NUTS recorded it
    (evaluating it again would compile it again: seconds of a cold start).
    """
    stride = max(draws.shape[0] // CHECKS, 1)
    gaps = jax.lax.map(exact, draws[::stride]) - mixed[::stride]
    return jnp.full(draws.shape[0], jnp.nan, gaps.dtype).at[::stride].set(gaps)


def gap_spread(gaps: np.ndarray, axis: Any = None) -> np.ndarray:
    """SD over the checked draws of ``U64 - U32`` (``NaN`` marks unchecked draws).

    Examples
    --------
    >>> import numpy as np
    >>> round(float(gap_spread(np.array([[np.nan, 1.0, np.nan, 1.02]]))), 6)
    0.01
    """
    return np.nanstd(np.asarray(gaps, dtype=float), axis=axis)


def warn_fallback(spread: float, count: int) -> None:
    """Warn that ``count`` fits strayed by ``spread`` and ran again in float64."""
    warnings.warn(
        f"mixed precision: the float32 potential differs from float64 by SD {spread:.3g} over "
        f"the checked draws (tolerance {TOLERANCE}); {'the fit' if count == 1 else f'{count} fits'}"
        " ran again in float64. Pass sampler=SamplerConfig(precision='float64') to skip the "
        "float32 attempt for such data (log-loss noise below ~1e-4, or very many runs), "
        "where the float32 attempt can also be slow.",
        PrecisionWarning, stacklevel=4)


def splice(old: Mapping[str, np.ndarray], new: Mapping[str, np.ndarray],
           rows: np.ndarray) -> dict[str, np.ndarray]:
    """``old`` with the leading-axis ``rows`` of every array replaced by ``new`` (copies)."""
    out = {}
    for name, values in old.items():
        out[name] = np.array(values)
        out[name][rows] = new[name]
    return out


def fitted_precision(stats: Mapping[str, np.ndarray]) -> str:
    """The precision the draws of one data set were sampled in: checked gaps mean ``"mixed"``.

    Examples
    --------
    >>> import numpy as np
    >>> fitted_precision({"float32_gap": np.full((4, 10), np.nan)})
    'float64'
    """
    return "mixed" if np.isfinite(stats["float32_gap"]).any() else "float64"


def fitted_config(config: Any, stats: Mapping[str, np.ndarray]) -> Any:
    """``config`` (a ``SamplerConfig``) with the precision the draws of ``stats`` were sampled in."""
    return replace(config, precision=fitted_precision(stats))
