r"""Smoothly broken power law in one resource (Caballero et al. 2022).

Broken Neural Scaling Laws (BNSL; Caballero, Gupta, Rish and Krueger 2022,
"Broken Neural Scaling Laws", arXiv:2210.14891):

.. math::

    L(x) = E + A\,x^{-c_0} \prod_{i=1}^{n}
           \left(1 + (x / d_i)^{1/f_i}\right)^{-c_i f_i}

(the paper's ``a, b`` are ``E, A`` here). Far below the first break the
reducible loss ``L - E`` falls as ``x^-c0``; past break ``i`` its log-log slope
changes by ``c_i``, so segment ``k`` has exponent ``alpha_k = c0 + ... + c_k``.
``d_i`` is where break ``i`` sits and ``f_i`` how sharp it is: the change of
slope happens over about ``f_i`` units of ``ln x`` either side of ``d_i``
(``f -> 0`` is a kink). One break with ``c0 ~ 0`` is a near-random plateau
followed by a power law; a negative ``c1`` a slow-down.

Evaluated in log space with ``softplus`` and ``logsumexp``:
``log(1 + (x/d)^(1/f)) = softplus((ln x - ln d) / f)``, so nothing overflows
for ``x ~ 1e25``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
from jax.scipy.special import logsumexp

from .base import (
    Array,
    Law,
    Priors,
    irreducible_loss_prior,
    log_term_prior,
    sample_centred_offset,
    sample_site,
)

__all__ = ["BrokenPowerLaw", "log_x_range", "FALLBACK_HALF_RANGE"]

#: Prior scale of segment exponents (HalfNormal): median 0.3 for N and D, 0.15 for C.
_EXPONENT_SCALE = {"N": 0.45, "D": 0.45, "C": 0.22}
#: Without a known data range, breaks are placed within this many ``ln x`` units
#: either side of the design's centre (two decades).
FALLBACK_HALF_RANGE = float(2 * np.log(10.0))
#: Dirichlet concentration of the break positions within the range: > 1 keeps
#: breaks off the very ends, where a few runs would decide them and the change of
#: exponent would be barely constrained (a funnel: with 2 instead of 3, a plain
#: power law fitted with one break gave ~50 divergences in 4000 draws, with 3 ~1).
_POSITION_CONCENTRATION = 3.0
#: Prior of ``log f`` (sharpness): median 0.5, 90% between 0.15 and 1.7 (ln-x units).
_LOG_SHARPNESS_PRIOR = (float(np.log(0.5)), 0.75)


def log_x_range(design: Mapping[str, Array], x: str,
                x_range: tuple[float, float] | None) -> tuple[Array, Array]:
    """``(ln x_min, ln x_max)`` inside which breaks (or transitions) are placed.

    Taken from the law's ``x_range`` option when given, else from the design's
    ``log_min_{x}`` / ``log_max_{x}`` entries when it carries them, else
    :data:`FALLBACK_HALF_RANGE` either side of the design's centre.
    """
    if x_range is not None:
        return jnp.log(x_range[0]), jnp.log(x_range[1])
    if f"log_min_{x}" in design and f"log_max_{x}" in design:
        return design[f"log_min_{x}"], design[f"log_max_{x}"]
    centre = design[f"log_centre_{x}"]
    return centre - FALLBACK_HALF_RANGE, centre + FALLBACK_HALF_RANGE


def check_range(x_range: Any) -> tuple[float, float] | None:
    if x_range is None:
        return None
    lo, hi = (float(v) for v in x_range)
    if not (np.isfinite(lo) and np.isfinite(hi) and 0 < lo < hi):
        raise ValueError(f"x_range must be (low, high) with 0 < low < high, got {x_range!r}")
    return (lo, hi)


def _log_reducible(log_a: Array, c: Sequence[Array], log_d: Sequence[Array],
                   f: Sequence[Array], log_x: Array) -> Array:
    """``log(A x^-c0 prod (1 + (x/d_i)^(1/f_i))^(-c_i f_i))``, softplus form."""
    out = log_a - c[0] * log_x
    for c_i, log_d_i, f_i in zip(c[1:], log_d, f, strict=True):
        out = out - c_i * f_i * jax.nn.softplus((log_x - log_d_i) / f_i)
    return out


class BrokenPowerLaw(Law):
    r"""Smoothly broken power law (BNSL) with ``breaks`` breaks in one resource.

    .. math:: L(x) = E + A\,x^{-c_0} \prod_i (1 + (x/d_i)^{1/f_i})^{-c_i f_i}

    User-facing parameters: ``E, A, c0`` and ``c{i}, d{i}, f{i}`` for each break
    ``i = 1..breaks`` (``breaks=0`` is the plain power law ``E + A x^-c0``).

    Parameterisation for the sampler (the sampled sites, which ``priors=`` may
    override by name):

    * ``E ~ Uniform(0, smallest loss)``;
    * ``alpha_0 .. alpha_n``: exponent of each segment of the reducible loss,
      ``HalfNormal(s)`` with ``s = 0.45`` (N, D) or ``0.22`` (C), so a flat
      (near-random) segment is allowed; ``c0 = alpha_0`` and
      ``c_i = alpha_i - alpha_{i-1}``. Segments are non-increasing in loss;
    * ``break_position ~ Dirichlet(3, ..., 3)`` (``breaks + 1`` components): the
      breaks' ordered positions as fractions of the data's ``ln x`` range, so
      every break lies inside the observed range, where it is identified;
      ``ln d_i = ln x_min + (ln x_max - ln x_min) * cumsum(position)_i``;
    * ``log_f{i} ~ Normal(log 0.5, 0.75)``: sharpness on a log scale (90% between
      0.15 and 1.7 units of ``ln x``);
    * ``log_A_c ~ Normal(log(loss_c / 2), 1.5)``: log of the reducible loss at
      the design's central ``x`` (decorrelates ``A`` from the exponents and
      breaks); a prior on ``A`` itself is honoured exactly, as for the other
      laws.

    Priors on ``c{i}``, ``d{i}``, ``f{i}`` are not accepted: put them on the
    sites above. Groups are not supported (fit each group separately).

    Parameters
    ----------
    x : {"N", "D", "C"}
        Which resource the loss is a function of.
    breaks : int, default 1
        Number of breaks ``n``.
    x_range : (float, float), optional
        Smallest and largest ``x`` of the data (raw units). Breaks are placed
        inside it. Without it they are placed within two decades of the data's
        centre (a design that records its range is used instead when it has
        one); :meth:`for_runs` sets it from a runs table.
    """

    name: ClassVar[str] = "broken_power_law"
    offset_sites: ClassVar[dict[str, str]] = {"A": "log_A_c"}

    def __init__(self, x: str = "C", breaks: int = 1, x_range: Any = None):
        if x not in _EXPONENT_SCALE:
            raise ValueError(f"BrokenPowerLaw(x=...) must be one of 'N', 'D', 'C', got {x!r}")
        if isinstance(breaks, bool) or not isinstance(breaks, (int, np.integer)) or breaks < 0:
            raise ValueError(f"breaks must be a non-negative integer, got {breaks!r}")
        self.x = x
        self.breaks = int(breaks)
        self.x_range = check_range(x_range)

    @classmethod
    def for_runs(cls, runs: Any, x: str = "C", breaks: int = 1) -> BrokenPowerLaw:
        """The law with ``x_range`` set to the smallest and largest ``x`` of ``runs``.

        ``runs`` is a DataFrame with column ``x`` or a :class:`~bayes_scaling.data.RunsTable`.
        """
        values = runs.column(x) if hasattr(runs, "column") else np.asarray(runs[x], dtype=float)
        return cls(x=x, breaks=breaks, x_range=(float(np.min(values)), float(np.max(values))))

    # ------------------------------------------------------------- structure
    @property
    def inputs(self) -> tuple[str, ...]:  # type: ignore[override]
        return (self.x,)

    @property
    def param_names(self) -> tuple[str, ...]:  # type: ignore[override]
        names = ["E", "A", "c0"]
        for i in range(1, self.breaks + 1):
            names += [f"c{i}", f"d{i}", f"f{i}"]
        return tuple(names)

    @property
    def log_scale_params(self) -> tuple[str, ...]:  # type: ignore[override]
        return ("A",) + tuple(f"d{i}" for i in range(1, self.breaks + 1))

    def spec(self) -> dict[str, Any]:
        return {"name": self.name, "x": self.x, "breaks": self.breaks,
                "x_range": None if self.x_range is None else list(self.x_range)}

    def cache_key(self) -> tuple:
        return (self.name, self.x, self.breaks, self.x_range)

    # ---------------------------------------------------------------- priors
    def default_priors(self, design):
        priors: dict[str, dist.Distribution] = {"E": irreducible_loss_prior(design["min_loss"])}
        for k in range(self.breaks + 1):
            priors[f"alpha_{k}"] = dist.HalfNormal(_EXPONENT_SCALE[self.x])
        if self.breaks:
            priors["break_position"] = dist.Dirichlet(
                jnp.full(self.breaks + 1, _POSITION_CONCENTRATION))
        for i in range(1, self.breaks + 1):
            priors[f"log_f{i}"] = dist.Normal(*_LOG_SHARPNESS_PRIOR)
        priors["log_A_c"] = log_term_prior(design["log_loss_centre"], share=0.5)
        return priors

    def _reject_derived_priors(self, priors: Priors) -> None:
        derived = [n for n in self.param_names if n not in ("E", "A") and n in priors]
        if derived:
            raise ValueError(
                f"priors on {derived} are not supported by the {self.name} law: put them on the "
                "sampled sites alpha_k (segment exponents), break_position (Dirichlet) and "
                "log_f{i} (log sharpness) instead")

    def sample_params(self, design, priors: Priors, site=sample_site):
        if site is not sample_site:
            raise NotImplementedError(
                f"the {self.name} law does not support groups: fit each group separately "
                "(or pass groups=False)")
        self._reject_derived_priors(priors)
        defaults = self.default_priors(design)
        E = site("E", defaults["E"], priors)
        alphas = [site(f"alpha_{k}", defaults[f"alpha_{k}"], priors)
                  for k in range(self.breaks + 1)]
        c = [alphas[0]] + [alphas[k] - alphas[k - 1] for k in range(1, self.breaks + 1)]
        log_d: list[Array] = []
        f: list[Array] = []
        if self.breaks:
            lo, hi = log_x_range(design, self.x, self.x_range)
            position = site("break_position", defaults["break_position"], priors)
            cumulative = jnp.cumsum(position, axis=-1)
            log_d = [lo + (hi - lo) * cumulative[..., i] for i in range(self.breaks)]
            f = [jnp.exp(site(f"log_f{i}", defaults[f"log_f{i}"], priors))
                 for i in range(1, self.breaks + 1)]
        log_x0 = design[f"log_centre_{self.x}"]
        # log A = log_A_c - log(shape at x0): pass the shape as "exponent * log x0".
        log_shape_x0 = _log_reducible(0.0, c, log_d, f, log_x0)
        log_A = sample_centred_offset("A", default_log_centre_prior=defaults["log_A_c"],
                                      exponent=1.0, log_x0=-log_shape_x0, priors=priors,
                                      site=site)
        params = {"E": E, "A": jnp.exp(log_A), "c0": c[0]}
        for i in range(1, self.breaks + 1):
            params[f"c{i}"] = c[i]
            params[f"d{i}"] = jnp.exp(log_d[i - 1])
            params[f"f{i}"] = f[i - 1]
        return params

    # ------------------------------------------------------------------ mean
    def log_reducible(self, params: Mapping[str, Array], log_x: Array) -> Array:
        """``log(L - E)`` at ``log x``, broadcasting ``params``."""
        c = [params["c0"]] + [params[f"c{i}"] for i in range(1, self.breaks + 1)]
        log_d = [jnp.log(params[f"d{i}"]) for i in range(1, self.breaks + 1)]
        f = [params[f"f{i}"] for i in range(1, self.breaks + 1)]
        return _log_reducible(jnp.log(params["A"]), c, log_d, f, log_x)

    def local_exponent(self, params: Mapping[str, Array], log_x: Array) -> Array:
        r"""``-d log(L - E) / d log x``: the reducible loss's exponent at ``x``.

        ``c0 + sum_i c_i sigmoid((ln x - ln d_i) / f_i)``; equals ``alpha_k`` deep
        inside segment ``k``.
        """
        out = params["c0"] + 0.0 * log_x
        for i in range(1, self.breaks + 1):
            u = (log_x - jnp.log(params[f"d{i}"])) / params[f"f{i}"]
            out = out + params[f"c{i}"] * jax.nn.sigmoid(u)
        return out

    def log_mean(self, params: Mapping[str, Array], log_inputs: Mapping[str, Array]) -> Array:
        terms = jnp.broadcast_arrays(jnp.log(params["E"]),
                                     self.log_reducible(params, log_inputs[self.x]))
        return logsumexp(jnp.stack(terms, axis=0), axis=0)
