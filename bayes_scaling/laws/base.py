"""The contract every scaling law fulfils.

A law is a small immutable object that knows

* ``inputs``: the runs-table columns it reads (``("N", "D")`` or ``("C",)``);
* ``param_names``: the user-facing parameters reported in summaries;
* ``sample_params(design, priors)``: NumPyro ``sample`` statements in a
  parameterisation chosen for the sampler (offsets at the design's centre, so
  they decorrelate from the exponents), returning the user-facing parameters;
* ``log_mean(params, log_inputs)``: ``log L`` in log space with ``logsumexp`` (no
  overflow for ``N ~ 1e12``), vectorised over any broadcastable shapes, pure JAX
  (works under ``jit``, ``vmap`` and ``grad``).

Priors are NumPyro distributions keyed by parameter name. A user may override
any *sampled* site (e.g. ``"alpha"`` or ``"log_A_c"``) and also the derived
user-facing offsets (``"A"``, ``"B"``): the offset is then sampled on a flat
log scale and the user's density is added as a factor (with the Jacobian of
``log``), which is exact because ``log A`` is a shift of ``log A_c`` given the
exponent.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import jax
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist

Array = Any
Priors = Mapping[str, dist.Distribution]


@dataclass(frozen=True)
class Design:
    """Data-dependent constants that centre the parameterisation and scale priors.

    Attributes
    ----------
    log_centre : dict
        Mean of ``log N``, ``log D`` and ``log C`` over the fitted runs: the
        design's central model size, token count and budget (geometric means).
    log_loss_centre : float
        Mean of ``log loss``.
    min_loss : float
        Smallest observed loss (the irreducible loss ``E`` lies below it).
    log_range : dict
        ``(min, max)`` of ``log N``, ``log D``, ``log C`` over the fitted runs
        (laws with breaks keep them inside the data).
    """

    log_centre: Mapping[str, float]
    log_loss_centre: float
    min_loss: float
    log_range: Mapping[str, tuple[float, float]] = field(default_factory=dict)

    def as_arrays(self) -> dict[str, Array]:
        """Design constants as JAX scalars (traced, so new data need no recompilation)."""
        out = {f"log_centre_{k}": jnp.asarray(v) for k, v in self.log_centre.items()}
        for k, (low, high) in self.log_range.items():
            out[f"log_min_{k}"], out[f"log_max_{k}"] = jnp.asarray(low), jnp.asarray(high)
        out["log_loss_centre"] = jnp.asarray(self.log_loss_centre)
        out["min_loss"] = jnp.asarray(self.min_loss)
        return out


def log_add(*terms: Array) -> Array:
    """``log(sum(exp(terms)))`` of two or three broadcastable log-terms, overflow-free.

    Equal to :func:`jax.scipy.special.logsumexp` over the stacked terms. The
    shift by the pointwise largest term is held constant for differentiation
    (``stop_gradient``): the sum does not depend on it, so every derivative is
    exact, and the gradient flows through the ``exp`` terms alone instead of
    through the selects of ``maximum``/``minimum``. This is the inner loop of
    every gradient of the sampler (one call per run): on CPU, selects in the
    backward pass defeat vectorisation (seconds per gradient: ``benchmarks/RESULTS.md``).

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> round(float(log_add(jnp.log(1.0), jnp.log(2.0), jnp.log(3.0))), 5)  # log 6
    1.79176
    """
    if len(terms) not in (2, 3):
        raise ValueError(f"log_add takes two or three terms, got {len(terms)}")
    high = terms[0]
    for term in terms[1:]:
        high = jnp.maximum(high, term)
    high = jax.lax.stop_gradient(high)
    total = jnp.exp(terms[0] - high)
    for term in terms[1:]:
        total = total + jnp.exp(term - high)
    return high + jnp.log(total)


def sample_site(name: str, default: dist.Distribution, priors: Priors) -> Array:
    """``numpyro.sample(name, prior)`` with the user's prior when one is given."""
    return numpyro.sample(name, priors.get(name, default))


class SiteSampler(Protocol):
    """How a law samples one site: ``site(name, default_prior, priors) -> value``.

    :func:`sample_site` (one scalar per site) is the default; grouped models
    (:mod:`bayes_scaling.groups`) pass a sampler that returns one value per
    group (shape ``(num_groups,)``) for per-group or partially pooled sites.
    """

    def __call__(self, name: str, default: dist.Distribution, priors: Priors) -> Array: ...


def sample_centred_offset(
    name: str,
    *,
    default_log_centre_prior: dist.Distribution,
    exponent: Array,
    log_x0: Array,
    priors: Priors,
    site: SiteSampler = sample_site,
) -> Array:
    """Sample the log of a power-law term at the design centre; return ``log`` of its offset.

    The term ``A x^-alpha`` equals ``A_c (x/x0)^-alpha`` with ``A_c = A x0^-alpha``:
    ``log A_c`` is almost uncorrelated with ``alpha`` when ``x0`` is the centre
    of the data, which is what keeps NUTS' trees short.

    Parameters
    ----------
    name : str
        User-facing offset name (``"A"``); the sampled site is ``"log_{name}_c"``.
    default_log_centre_prior : Distribution
        Prior of ``log A_c`` when the user gives none.
    exponent, log_x0 : array
        The term's exponent and ``log x0``.
    priors : mapping
        User priors; a prior on ``name`` itself (on ``A``, positive support) is
        honoured exactly through a factor.
    site : SiteSampler
        Samples the site (default :func:`sample_site`; per-group in grouped models).

    Returns
    -------
    log_offset : array
        ``log A = log A_c + alpha log x0``.
    """
    site_name = f"log_{name}_c"
    if name in priors:
        log_c = site(site_name, dist.ImproperUniform(dist.constraints.real, (), ()), {})
        log_offset = log_c + exponent * log_x0
        # density over log A = p_A(A) * A; d log A / d log A_c = 1 given alpha.
        numpyro.factor(f"{name}_prior",
                       jnp.sum(priors[name].log_prob(jnp.exp(log_offset)) + log_offset))
        return log_offset
    log_c = site(site_name, default_log_centre_prior, priors)
    return log_c + exponent * log_x0


class Law(abc.ABC):
    """Abstract scaling law (see module docstring for the contract)."""

    name: ClassVar[str]
    inputs: ClassVar[tuple[str, ...]]
    param_names: ClassVar[tuple[str, ...]]
    #: Parameters whose value is a positive scale better summarised on log axes.
    log_scale_params: ClassVar[tuple[str, ...]] = ()
    #: Offset parameters -> the sampled site that carries them (e.g. ``A -> log_A_c``);
    #: parameters not listed are sampled under their own name.
    offset_sites: ClassVar[Mapping[str, str]] = {}
    has_closed_form_allocation: ClassVar[bool] = False

    @abc.abstractmethod
    def default_priors(self, design: Mapping[str, Array]) -> dict[str, dist.Distribution]:
        """Default weakly-informative priors of the sampled sites.

        ``design`` is :meth:`Design.as_arrays` (centres, typical and smallest loss).
        """

    @abc.abstractmethod
    def sample_params(
        self, design: dict[str, Array], priors: Priors, site: SiteSampler = sample_site
    ) -> dict[str, Array]:
        """Sample the law's sites (inside a NumPyro model); return user-facing parameters.

        Every site goes through ``site`` (see :class:`SiteSampler`), so grouped
        models can give a site one value per group; parameters then broadcast.
        """

    def site_of(self, param: str) -> str:
        """Name of the sampled site that carries user-facing parameter ``param``."""
        return self.offset_sites.get(param, param)

    @abc.abstractmethod
    def log_mean(self, params: Mapping[str, Array], log_inputs: Mapping[str, Array]) -> Array:
        """``log L`` at ``log_inputs`` (keys = :attr:`inputs`), broadcasting ``params``."""

    def log_optimal_allocation(
        self, params: Mapping[str, Array], log_compute: Array, log_flops_factor: float
    ) -> tuple[Array, Array]:
        """``(log N_opt, log D_opt)`` along ``C = k N D``; closed form where one exists."""
        raise NotImplementedError

    @property
    def num_params(self) -> int:
        return len(self.param_names)

    def spec(self) -> dict[str, Any]:
        """JSON-able description from which :func:`bayes_scaling.laws.get_law` rebuilds the law."""
        return {"name": self.name}

    def cache_key(self) -> tuple:
        """Hashable identity for caching compiled samplers."""
        return tuple(sorted(self.spec().items()))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.spec().items() if k != "name")
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.spec() == other.spec()  # type: ignore[union-attr]

    def __hash__(self) -> int:
        return hash(self.cache_key())


def exponent_prior(median: float = 0.3, log_sd: float = 0.5) -> dist.Distribution:
    """LogNormal prior for a scaling exponent: median ``median``, 90% within x2.3 either way."""
    return dist.LogNormal(jnp.log(median), log_sd)


def irreducible_loss_prior(min_loss: Array) -> dist.Distribution:
    """Uniform on ``(0, smallest observed loss)``: E is below every loss the runs reached."""
    return dist.Uniform(0.0, min_loss)


def log_term_prior(log_loss_centre: Array, share: float = 0.25, sd: float = 1.5) -> dist.Distribution:
    """Prior of ``log`` of a reducible term at the design centre.

    Centred on a quarter of the typical loss (two terms plus E share it) with a
    log-scale SD of 1.5: a factor of ~12 either way covers 90% of the mass.
    """
    return dist.Normal(log_loss_centre + jnp.log(share), sd)
