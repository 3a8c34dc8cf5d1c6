r"""Saturating law: a plateau near the random-guess loss, then a power law down to E.

.. math::

    L(x) = E + (L_0 - E) \left(1 + (x / x_0)^{1/f}\right)^{-\alpha f}

At small scale (``x << x0``) the loss sits on a plateau at ``L0`` (a model no
better than guessing: ``L0 ~ ln V`` for a vocabulary of ``V`` tokens); past
``x0`` it falls as a power law ``E + (L0 - E) (x/x0)^-alpha`` towards the
irreducible loss ``E``. ``f`` sets how sharp the knee is (in units of ``ln x``).

This is the three-regime picture of Hestness et al. (2017, "Deep Learning
Scaling is Predictable, Empirically": small-data region at the best-guess
error, power-law region, irreducible-error region) in the closed form of a
Broken Neural Scaling Law with a flat first segment (Caballero et al. 2022,
arXiv:2210.14891: ``c0 = 0``, one break, ``b = L0 - E``). With ``f = 1/alpha``
it is the sigmoid in ``log x`` of Alabdulmohsin, Neyshabur and Zhai (2022,
"Revisiting Neural Scaling Laws in Language and Vision"), whose estimator
``(L - E) / (L0 - L)^a = beta x^-c`` has this closed form at ``a = 1``.

Evaluated in log space: ``log(L - E) = log(L0 - E) - alpha f softplus((ln x - ln x0)/f)``
and ``logsumexp`` with ``log E``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from jax.scipy.special import logsumexp

from .base import Array, Law, Priors, exponent_prior, irreducible_loss_prior, sample_site
from .broken_power_law import check_range, log_x_range

__all__ = ["Saturating"]

_EXPONENT_MEDIAN = {"N": 0.3, "D": 0.3, "C": 0.15}
#: Prior of ``log f``: median 1 (a knee spanning about one ``ln x`` unit either side).
_LOG_SHARPNESS_PRIOR = (0.0, 1.0)


def _plateau_prior(design: Mapping[str, Array]) -> dist.Distribution:
    """``L0 = min loss + exp(z)``: above every loss the runs reached (the plateau is
    where they started), typically a few times the spread of the losses above it."""
    min_loss = design["min_loss"]
    spread = jnp.maximum(jnp.exp(design["log_loss_centre"]) - min_loss, 0.05 * min_loss)
    return dist.TransformedDistribution(
        dist.Normal(jnp.log(2.0 * spread), 1.0),
        [dist.transforms.ExpTransform(), dist.transforms.AffineTransform(min_loss, 1.0)])


class Saturating(Law):
    r"""Plateau-to-power-law law ``L = E + (L0 - E) (1 + (x/x0)^(1/f))^(-alpha f)``.

    Sampled sites (override by name with ``priors=``):

    * ``E ~ Uniform(0, smallest loss)``;
    * ``L0``: the plateau (random-guess) loss, ``min loss + LogNormal`` by
      default; give your own, e.g. ``{"L0": dist.Normal(np.log(vocab), 0.05)}``
      when the random-guess loss is known (it must exceed ``E``);
    * ``alpha ~ LogNormal(log m, 0.5)``, ``m = 0.3`` (N, D) or ``0.15`` (C);
    * ``log_x0 ~ Normal(centre of the ln x range, half its width)``: the knee,
      weakly held to the data (``x_range`` as in
      :class:`~bayes_scaling.laws.BrokenPowerLaw`);
    * ``log_f ~ Normal(0, 1)``: sharpness of the knee.

    User-facing parameters: ``E, L0, alpha, x0, f``. Groups are not supported.

    Parameters
    ----------
    x : {"N", "D", "C"}
    x_range : (float, float), optional
        Smallest and largest ``x`` of the data; see :meth:`for_runs`.
    """

    name: ClassVar[str] = "saturating"
    param_names: ClassVar[tuple[str, ...]] = ("E", "L0", "alpha", "x0", "f")
    log_scale_params: ClassVar[tuple[str, ...]] = ("x0",)

    def __init__(self, x: str = "C", x_range: Any = None):
        if x not in _EXPONENT_MEDIAN:
            raise ValueError(f"Saturating(x=...) must be one of 'N', 'D', 'C', got {x!r}")
        self.x = x
        self.x_range = check_range(x_range)

    @classmethod
    def for_runs(cls, runs: Any, x: str = "C") -> Saturating:
        """The law with ``x_range`` set from the smallest and largest ``x`` of ``runs``."""
        values = runs.column(x) if hasattr(runs, "column") else np.asarray(runs[x], dtype=float)
        return cls(x=x, x_range=(float(np.min(values)), float(np.max(values))))

    @property
    def inputs(self) -> tuple[str, ...]:  # type: ignore[override]
        return (self.x,)

    def spec(self) -> dict[str, Any]:
        return {"name": self.name, "x": self.x,
                "x_range": None if self.x_range is None else list(self.x_range)}

    def cache_key(self) -> tuple:
        return (self.name, self.x, self.x_range)

    def default_priors(self, design):
        lo, hi = log_x_range(design, self.x, self.x_range)
        return {
            "E": irreducible_loss_prior(design["min_loss"]),
            "L0": _plateau_prior(design),
            "alpha": exponent_prior(_EXPONENT_MEDIAN[self.x]),
            "log_x0": dist.Normal(0.5 * (lo + hi), 0.5 * (hi - lo)),
            "log_f": dist.Normal(*_LOG_SHARPNESS_PRIOR),
        }

    def sample_params(self, design, priors: Priors, site=sample_site):
        if site is not sample_site:
            raise NotImplementedError(
                f"the {self.name} law does not support groups: fit each group separately "
                "(or pass groups=False)")
        for name in ("x0", "f"):
            if name in priors:
                raise ValueError(f"put the prior on log_{name}, not {name}")
        defaults = self.default_priors(design)
        E = site("E", defaults["E"], priors)
        L0 = site("L0", defaults["L0"], priors)
        # A user prior on L0 may reach below E; such draws are rejected, not clipped.
        numpyro.factor("L0_above_E", jnp.where(L0 > E, 0.0, -jnp.inf))
        alpha = site("alpha", defaults["alpha"], priors)
        x0 = jnp.exp(site("log_x0", defaults["log_x0"], priors))
        f = jnp.exp(site("log_f", defaults["log_f"], priors))
        return {"E": E, "L0": L0, "alpha": alpha, "x0": x0, "f": f}

    def log_reducible(self, params: Mapping[str, Array], log_x: Array) -> Array:
        """``log(L - E)``: ``log(L0 - E) - alpha f softplus((ln x - ln x0) / f)``."""
        f = params["f"]
        gap = jnp.log(params["L0"] - params["E"])
        return gap - params["alpha"] * f * jax.nn.softplus((log_x - jnp.log(params["x0"])) / f)

    def log_mean(self, params: Mapping[str, Array], log_inputs: Mapping[str, Array]) -> Array:
        terms = jnp.broadcast_arrays(jnp.log(params["E"]),
                                     self.log_reducible(params, log_inputs[self.x]))
        return logsumexp(jnp.stack(terms, axis=0), axis=0)
