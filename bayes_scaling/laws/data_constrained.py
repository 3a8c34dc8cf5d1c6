"""Data-constrained law of Muennighoff et al. (2023): repeated epochs and excess parameters.

.. math::

    L(N, D, U) = E + \\frac{A}{N'^{\\alpha}} + \\frac{B}{D'^{\\beta}}

with *effective* data and parameters

.. math::

    D' = U_D + U_D R_D^* \\left(1 - e^{-R_D / R_D^*}\\right), \\qquad
    N' = U_N + U_N R_N^* \\left(1 - e^{-R_N / R_N^*}\\right)

where ``U_D = min(U, D)`` are the unique tokens seen (a run shorter than one
epoch saw ``D`` unique tokens), ``R_D = D / U_D - 1`` the repetitions beyond
the first epoch, ``U_N = min(N, N_opt(U))`` the part of the model the unique
data can use compute-optimally and ``R_N = N / U_N - 1`` the excess-parameter
"repetitions". ``N_opt(U)`` is the compute-optimal model size for ``U`` tokens
under the Chinchilla-form coefficients (``huggingface/datablations``,
``utils/parametric_fit.ipynb``: ``optimal_N(D_to_C(U))``):

.. math::

    G = \\left(\\frac{\\alpha A}{\\beta B}\\right)^{1/(\\alpha+\\beta)}, \\qquad
    N_{opt}(U) = G\\,(G U)^{\\beta/\\alpha}

(``D_to_C(U) = 6 (G U)^{(\\alpha+\\beta)/\\alpha}`` and
``optimal_N(C) = G (C/6)^{\\beta/(\\alpha+\\beta)}``: the FLOPs factor cancels).

The ``R``-th repetition of the data is worth ``exp(-R / R_D^*)`` of fresh
tokens (``dD'/dD``), so after ``R_D^*`` repetitions a further epoch is worth
``1/e`` of a fresh one and ``D'`` saturates at ``U_D (1 + R_D^*)``; ``R_N^*``
plays the same role for parameters beyond ``N_opt(U)``. With one
epoch ``D' = D``; with unlimited unique data (``U`` absent or ``inf``) the law
is exactly the Chinchilla law.

Smoothness: both ``max(D/U - 1, 0)`` and ``min(N, N_opt)`` leave the loss
continuously differentiable (at the kink ``d D'/d D = e^{-R_D/R_D^*} = 1`` on
both sides, and ``d N'/d U_N = 0`` at ``R_N = 0``), so NUTS needs no smooth
minimum.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import jax.numpy as jnp
import numpyro.distributions as dist
from jax.scipy.special import logsumexp

from .base import (
    Array,
    Law,
    Priors,
    exponent_prior,
    irreducible_loss_prior,
    log_term_prior,
    sample_centred_offset,
    sample_site,
)
from .chinchilla import chinchilla_log_allocation, chinchilla_log_g

__all__ = ["DataConstrained", "PUBLISHED_C4", "repetition_prior"]

#: Muennighoff et al. (2023) on C4 (``utils/parametric_fit.ipynb``): Chinchilla-form
#: coefficients fitted (alpha = beta tied) to Chinchilla's C4 iso-FLOP points, then
#: R_D*, R_N* fitted to 182 runs with those coefficients fixed (Huber, delta 1e-3).
#: The notebook's log-coefficients are a = 6.255414, b = 7.3049974, e = 0.6254804.
PUBLISHED_C4: dict[str, float] = {
    "E": math.exp(0.6254804), "A": math.exp(6.255414), "alpha": 0.3526596,
    "B": math.exp(7.3049974), "beta": 0.3526596, "R_D_star": 15.387756, "R_N_star": 5.309743,
}

#: Largest log excess ratio evaluated exactly: beyond ``e^50`` repetitions the
#: saturating term is flat, and clipping keeps gradients finite.
_MAX_LOG_RATIO = 50.0


def repetition_prior(median: float = 10.0, log_sd: float = 1.5) -> dist.Distribution:
    """LogNormal prior of ``R_D*`` / ``R_N*``: median 10, 90% in about (0.85, 118).

    Wide enough to hold both reported optima on the datablations runs
    (``R_D* = 15.4, R_N* = 5.3`` and the second one near ``R_D* ~ 95, R_N* ~ 1.7``).
    NUTS samples it on the log scale (its support is positive).
    """
    return dist.LogNormal(jnp.log(median), log_sd)


def log_effective(log_x: Array, log_base: Array, r_star: Array) -> Array:
    """``log`` of ``U + U R* (1 - exp(-R/R*))`` with ``U = min(base, x)``, ``R = x/U - 1``.

    ``log_base = +inf`` (unlimited unique resource) gives ``log_x``.
    """
    log_u = jnp.minimum(log_base, log_x)
    excess = jnp.clip(log_x - log_u, 0.0, _MAX_LOG_RATIO)
    repeats = jnp.expm1(excess)
    gain = -r_star * jnp.expm1(-repeats / r_star)  # R* (1 - exp(-R/R*)), in [0, R*)
    return log_u + jnp.log1p(gain)


class DataConstrained(Law):
    r"""Data-constrained law (Muennighoff et al. 2023, "Scaling Data-Constrained Language Models").

    .. math:: L(N, D, U) = E + A / N'^\alpha + B / D'^\beta

    with effective parameters ``N'`` and data ``D'`` (module docstring). Inputs
    ``N`` (parameters), ``D`` (total training tokens, all epochs) and ``U``
    (unique tokens).

    Parameters
    ----------
    tied_exponents : bool, default False
        ``alpha = beta`` (as Muennighoff et al. fit the C4 coefficients); ``beta``
        is then recorded as a copy of ``alpha`` and takes no prior of its own.
    param_repetition : bool, default True
        Include the excess-parameter term (``N'``, ``R_N*``). ``False``: ``N' = N``
        and the law has no ``R_N_star``.

    Sampled sites (defaults; override any, or ``A``/``B`` directly):

    ============== ===============================================================
    ``E``          ``Uniform(0, min observed loss)``
    ``alpha``      ``LogNormal(log 0.3, 0.5)`` (``beta`` the same unless tied)
    ``log_A_c``    ``Normal(log(loss_c / 4), 1.5)``: the N-term at the central ``N0``
    ``log_B_c``    the same for the D-term at the central token count ``D0``
    ``R_D_star``   ``LogNormal(log 10, 1.5)`` (:func:`repetition_prior`)
    ``R_N_star``   ``LogNormal(log 10, 1.5)``
    ============== ===============================================================

    Without ``U`` (``log_inputs`` lacking it, or ``U = inf``) the law is the
    Chinchilla law, so :meth:`log_optimal_allocation` is its closed form: the
    compute-optimal allocation with unlimited unique data. Allocation under a
    unique-data cap is :func:`bayes_scaling.repetition.optimal_allocation_constrained`.

    Examples
    --------
    >>> import bayes_scaling as bs
    >>> law = bs.get_law({"name": "data_constrained", "tied_exponents": True})
    >>> import numpy as np   # 4 sizes x 4 unique-data sizes x 1 to 50 epochs: 96 runs
    >>> n, u, e = (a.ravel() for a in np.meshgrid(
    ...     np.geomspace(3e7, 3e9, 4), np.geomspace(1e8, 3e10, 4), [1, 2, 5, 12, 25, 50],
    ...     indexing="ij"))
    >>> runs = bs.simulate(law, PUBLISHED_C4, N=n, D=u * e, U=u, seed=1)
    >>> result = bs.fit(runs, law=law, chains=2, draws=300, warmup=300)
    >>> result.predict(N=1e9, D=1e11, U=2.5e10)[["U", "median", "lower", "upper"]].shape
    (1, 4)
    """

    name: ClassVar[str] = "data_constrained"
    inputs: ClassVar[tuple[str, ...]] = ("N", "D", "U")
    log_scale_params: ClassVar[tuple[str, ...]] = ("A", "B")
    offset_sites: ClassVar[dict[str, str]] = {"A": "log_A_c", "B": "log_B_c"}
    has_closed_form_allocation: ClassVar[bool] = True

    def __init__(self, tied_exponents: bool = False, param_repetition: bool = True):
        self.tied_exponents = bool(tied_exponents)
        self.param_repetition = bool(param_repetition)

    @property
    def param_names(self) -> tuple[str, ...]:  # type: ignore[override]
        names = ("E", "A", "alpha", "B", "beta", "R_D_star")
        return names + ("R_N_star",) if self.param_repetition else names

    def spec(self) -> dict[str, Any]:
        return {"name": self.name, "tied_exponents": self.tied_exponents,
                "param_repetition": self.param_repetition}

    # ----------------------------------------------------------------- priors
    def default_priors(self, design):
        priors = {
            "E": irreducible_loss_prior(design["min_loss"]),
            "alpha": exponent_prior(),
            "beta": exponent_prior(),
            "log_A_c": log_term_prior(design["log_loss_centre"]),
            "log_B_c": log_term_prior(design["log_loss_centre"]),
            "R_D_star": repetition_prior(),
            "R_N_star": repetition_prior(),
        }
        if self.tied_exponents:
            del priors["beta"]
        if not self.param_repetition:
            del priors["R_N_star"]
        return priors

    def sample_params(self, design, priors: Priors, site=sample_site):
        if self.tied_exponents and "beta" in priors:
            raise ValueError("tied_exponents=True: beta equals alpha; give a prior on 'alpha'")
        if not self.param_repetition and "R_N_star" in priors:
            raise ValueError("param_repetition=False: the law has no R_N_star")
        defaults = self.default_priors(design)
        E = site("E", defaults["E"], priors)
        alpha = site("alpha", defaults["alpha"], priors)
        beta = alpha if self.tied_exponents else site("beta", defaults["beta"], priors)
        log_A = sample_centred_offset("A", default_log_centre_prior=defaults["log_A_c"],
                                      exponent=alpha, log_x0=design["log_centre_N"],
                                      priors=priors, site=site)
        log_B = sample_centred_offset("B", default_log_centre_prior=defaults["log_B_c"],
                                      exponent=beta, log_x0=design["log_centre_D"],
                                      priors=priors, site=site)
        out = {"E": E, "A": jnp.exp(log_A), "alpha": alpha, "B": jnp.exp(log_B), "beta": beta,
               "R_D_star": site("R_D_star", defaults["R_D_star"], priors)}
        if self.param_repetition:
            out["R_N_star"] = site("R_N_star", defaults["R_N_star"], priors)
        return out

    # ------------------------------------------------------------------- math
    @staticmethod
    def log_compute_optimal_params(params: Mapping[str, Array], log_unique: Array) -> Array:
        """``log N_opt(U) = log G + (beta/alpha)(log G + log U)``: the Chinchilla-optimal
        model size for ``U`` training tokens (``G = (alpha A / (beta B))^(1/(alpha+beta))``)."""
        log_g = chinchilla_log_g(params)
        return log_g + params["beta"] / params["alpha"] * (log_g + log_unique)

    def log_effective_data(self, params: Mapping[str, Array], log_inputs: Mapping[str, Array]
                           ) -> Array:
        """``log D'`` (``log D`` when ``U`` is not given)."""
        if log_inputs.get("U") is None:
            return jnp.asarray(log_inputs["D"])
        return log_effective(log_inputs["D"], log_inputs["U"], params["R_D_star"])

    def log_effective_params(self, params: Mapping[str, Array], log_inputs: Mapping[str, Array]
                             ) -> Array:
        """``log N'`` (``log N`` without ``U`` or without the parameter-repetition term)."""
        log_u = log_inputs.get("U")
        if log_u is None or not self.param_repetition:
            return jnp.asarray(log_inputs["N"])
        # N_opt of the unique data available (U, as the paper), not of min(U, D): with
        # unlimited unique data the parameters never lose value (Chinchilla).
        log_n_opt = self.log_compute_optimal_params(params, log_u)
        return log_effective(log_inputs["N"], log_n_opt, params["R_N_star"])

    def log_mean(self, params: Mapping[str, Array], log_inputs: Mapping[str, Array]) -> Array:
        """``log L``; ``log_inputs`` without ``"U"`` means unlimited unique data (Chinchilla)."""
        log_n = self.log_effective_params(params, log_inputs)
        log_d = self.log_effective_data(params, log_inputs)
        terms = jnp.broadcast_arrays(
            jnp.log(params["E"]),
            jnp.log(params["A"]) - params["alpha"] * log_n,
            jnp.log(params["B"]) - params["beta"] * log_d,
        )
        return logsumexp(jnp.stack(terms, axis=0), axis=0)

    def log_optimal_allocation(self, params, log_compute, log_flops_factor):
        """Closed-form (Chinchilla) allocation with unlimited unique data."""
        return chinchilla_log_allocation(params, log_compute, log_flops_factor)
