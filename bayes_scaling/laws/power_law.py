"""Single-axis law ``L(x) = E + A x^-alpha`` for x in N, D or C."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import jax.numpy as jnp

from .base import (
    Array,
    Law,
    Priors,
    exponent_prior,
    irreducible_loss_prior,
    log_add,
    log_term_prior,
    sample_centred_offset,
    sample_site,
)

#: Default exponent prior medians: compute exponents are roughly half the N/D ones.
_EXPONENT_MEDIAN = {"N": 0.3, "D": 0.3, "C": 0.15}


class PowerLaw(Law):
    r"""Saturating power law in one resource.

    .. math:: L(x) = E + A\,x^{-\alpha}, \qquad x \in \{N, D, C\}

    Sampled sites: ``E ~ Uniform(0, min loss)``, ``alpha ~ LogNormal(log m, 0.5)``
    with ``m = 0.3`` for N or D and ``0.15`` for C, and ``log_A_c`` (log of the
    term at the design's central x) ``~ Normal(log(loss_c / 2), 1.5)``.
    A single-axis law has no compute-optimal allocation.

    Parameters
    ----------
    x : {"N", "D", "C"}
        Which resource the loss is a function of.
    """

    name: ClassVar[str] = "power_law"
    param_names: ClassVar[tuple[str, ...]] = ("E", "A", "alpha")
    log_scale_params: ClassVar[tuple[str, ...]] = ("A",)
    offset_sites: ClassVar[dict[str, str]] = {"A": "log_A_c"}

    def __init__(self, x: str = "C"):
        if x not in _EXPONENT_MEDIAN:
            raise ValueError(f"PowerLaw(x=...) must be one of 'N', 'D', 'C', got {x!r}")
        self.x = x

    @property
    def inputs(self) -> tuple[str, ...]:  # type: ignore[override]
        return (self.x,)

    def spec(self):
        return {"name": self.name, "x": self.x}

    def default_priors(self, design):
        return {
            "E": irreducible_loss_prior(design["min_loss"]),
            "alpha": exponent_prior(_EXPONENT_MEDIAN[self.x]),
            "log_A_c": log_term_prior(design["log_loss_centre"], share=0.5),
        }

    def sample_params(self, design, priors: Priors, site=sample_site):
        defaults = self.default_priors(design)
        E = site("E", defaults["E"], priors)
        alpha = site("alpha", defaults["alpha"], priors)
        log_A = sample_centred_offset("A", default_log_centre_prior=defaults["log_A_c"],
                                      exponent=alpha, log_x0=design[f"log_centre_{self.x}"],
                                      priors=priors, site=site)
        return {"E": E, "A": jnp.exp(log_A), "alpha": alpha}

    def log_mean(self, params: Mapping[str, Array], log_inputs: Mapping[str, Array]) -> Array:
        return log_add(jnp.log(params["E"]),
                       jnp.log(params["A"]) - params["alpha"] * log_inputs[self.x])
