"""Hoffmann et al. (2022) joint law ``L(N, D) = E + A / N^alpha + B / D^beta``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

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


class Chinchilla(Law):
    r"""Chinchilla (Approach 3) law.

    .. math:: L(N, D) = E + \frac{A}{N^\alpha} + \frac{B}{D^\beta}

    evaluated as ``logsumexp([log E, log A - alpha log N, log B - beta log D])``.

    Sampled sites (defaults; override any of them, or ``A``/``B`` directly):

    =========== ===================================================================
    ``E``        ``Uniform(0, min observed loss)``
    ``alpha``    ``LogNormal(log 0.3, 0.5)``
    ``beta``     ``LogNormal(log 0.3, 0.5)``
    ``log_A_c``  ``Normal(log(loss_c / 4), 1.5)``: log of ``A / N0^alpha``, the
                 N-term at the design's central model size ``N0``
    ``log_B_c``  same for the D-term at the central token count ``D0``
    =========== ===================================================================

    ``loss_c`` is the geometric mean observed loss. Centring the offsets removes
    most of the (A, alpha) and (B, beta) correlation that makes raw
    parameterisations need hundreds of leapfrog steps.

    Compute-optimal allocation along ``C = k N D`` has the closed form
    ``G = (alpha A / (beta B))^(1/(alpha+beta))``,
    ``N_opt = G (C/k)^(beta/(alpha+beta))``, ``D_opt = G^-1 (C/k)^(alpha/(alpha+beta))``.

    References
    ----------
    Hoffmann et al. (2022), "Training Compute-Optimal Large Language Models".
    Besiroglu et al. (2024), "Chinchilla Scaling: A replication attempt".
    """

    name: ClassVar[str] = "chinchilla"
    inputs: ClassVar[tuple[str, ...]] = ("N", "D")
    param_names: ClassVar[tuple[str, ...]] = ("E", "A", "alpha", "B", "beta")
    log_scale_params: ClassVar[tuple[str, ...]] = ("A", "B")
    offset_sites: ClassVar[dict[str, str]] = {"A": "log_A_c", "B": "log_B_c"}
    has_closed_form_allocation: ClassVar[bool] = True

    def default_priors(self, design):
        return {
            "E": irreducible_loss_prior(design["min_loss"]),
            "alpha": exponent_prior(),
            "beta": exponent_prior(),
            "log_A_c": log_term_prior(design["log_loss_centre"]),
            "log_B_c": log_term_prior(design["log_loss_centre"]),
        }

    def sample_params(self, design, priors: Priors, site=sample_site):
        defaults = self.default_priors(design)
        E = site("E", defaults["E"], priors)
        alpha = site("alpha", defaults["alpha"], priors)
        beta = site("beta", defaults["beta"], priors)
        log_A = sample_centred_offset("A", default_log_centre_prior=defaults["log_A_c"],
                                      exponent=alpha, log_x0=design["log_centre_N"], priors=priors,
                                      site=site)
        log_B = sample_centred_offset("B", default_log_centre_prior=defaults["log_B_c"],
                                      exponent=beta, log_x0=design["log_centre_D"], priors=priors,
                                      site=site)
        return {"E": E, "A": jnp.exp(log_A), "alpha": alpha, "B": jnp.exp(log_B), "beta": beta}

    def log_mean(self, params: Mapping[str, Array], log_inputs: Mapping[str, Array]) -> Array:
        # = chinchilla_log_loss, vectorised; log_add: one exp fewer than logsumexp
        return log_add(jnp.log(params["E"]),
                       jnp.log(params["A"]) - params["alpha"] * log_inputs["N"],
                       jnp.log(params["B"]) - params["beta"] * log_inputs["D"])

    def log_optimal_allocation(self, params, log_compute, log_flops_factor):
        return chinchilla_log_allocation(params, log_compute, log_flops_factor)


def chinchilla_log_loss(log_A: Any, alpha: Any, log_B: Any, beta: Any, log_E: Any,  # noqa: N803
                        log_n: Any, log_d: Any, xp: Any = jnp) -> Any:
    """``log(E + A/N^alpha + B/D^beta)`` from log offsets: the one Chinchilla formula.

    ``xp`` is the array module (``jax.numpy`` inside models and the L-BFGS fits,
    ``numpy`` for float64 tables); arguments broadcast.
    """
    return xp.logaddexp(xp.logaddexp(log_A - alpha * log_n, log_B - beta * log_d), log_E)


def chinchilla_log_allocation_from_logs(log_A: Any, alpha: Any, log_B: Any, beta: Any,  # noqa: N803
                                        log_c_over_k: Any, xp: Any = jnp) -> tuple[Any, Any]:
    """Closed-form ``(log N_opt, log D_opt)`` along ``C = k N D`` from log offsets.

    ``G = (alpha A / (beta B))^(1/(alpha+beta))``, ``N_opt = G (C/k)^(beta/(alpha+beta))``,
    ``D_opt = G^-1 (C/k)^(alpha/(alpha+beta))``: the one closed-form allocation
    (undefined unless alpha, beta > 0).
    """
    s = alpha + beta
    log_g = (xp.log(alpha) + log_A - xp.log(beta) - log_B) / s
    return log_g + beta / s * log_c_over_k, alpha / s * log_c_over_k - log_g


def chinchilla_log_g(params: Mapping[str, Array]) -> Array:
    """``log G`` with ``G = (alpha A / (beta B))^(1/(alpha+beta))``: ``N_opt = G (C/k)^a``."""
    alpha, beta = params["alpha"], params["beta"]
    return (jnp.log(alpha) + jnp.log(params["A"]) - jnp.log(beta)
            - jnp.log(params["B"])) / (alpha + beta)


def chinchilla_log_allocation(params: Mapping[str, Array], log_compute: Array,
                              log_flops_factor: float) -> tuple[Array, Array]:
    """Closed-form ``(log N_opt, log D_opt)`` of the Chinchilla form along ``C = k N D``."""
    return chinchilla_log_allocation_from_logs(
        jnp.log(params["A"]), params["alpha"], jnp.log(params["B"]), params["beta"],
        log_compute - log_flops_factor)
