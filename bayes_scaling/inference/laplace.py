"""The Laplace step before sampling: mode and inverse-Hessian scale of a flat potential.

NUTS samples in coordinates standardised by it (see :class:`.config.SamplerConfig`,
``laplace``), so leapfrog steps per draw do not grow with the number of runs.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import jax
import jax.numpy as jnp

__all__ = ["laplace"]


def laplace(potential: Callable, z0: jax.Array,
            iterations: int) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Mode and Laplace scale of ``potential`` (a flat unconstrained vector) from ``z0``.

    Levenberg-Marquardt Newton steps (a step is kept only when the potential
    falls), then ``tril`` with ``tril @ tril.T`` = inverse Hessian at the mode.
    ``ok`` is False where the Hessian is not positive definite or anything is
    not finite; the caller then samples the original coordinates. The value,
    gradient and Hessian are traced once (inside the loop, carried with the
    point): every traced copy of the model's derivatives costs compile time.

    Returns
    -------
    mode : jax.Array
    tril : jax.Array
        Lower-triangular, ``tril @ tril.T`` the inverse Hessian at ``mode``.
    ok : jax.Array
        Boolean scalar.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> mode, tril, ok = laplace(lambda z: jnp.sum((z - 1.0) ** 2 / 0.5), jnp.zeros(2), 20)
    >>> [round(float(v), 4) for v in mode], round(float(tril[0, 0]), 4), bool(ok)
    ([1.0, 1.0], 0.5, True)
    """
    dim = z0.shape[0]
    eye = jnp.eye(dim, dtype=z0.dtype)

    def value_and_gradient(z):
        f, g = jax.value_and_grad(potential)(z)
        return g, (f, g)

    def derivatives(z):
        # Forward over reverse with the value and gradient as aux: one traced copy
        # of the model's reverse pass instead of three (value, grad, hessian).
        h, (f, g) = jax.jacfwd(value_and_gradient, has_aux=True)(z)
        return f, g, h

    def step(carry):
        i, z, f, g, h, damping, _ = carry
        h_damped = h + jnp.diag(damping * (jnp.abs(jnp.diag(h)) + 1e-8))
        z_new = z - jnp.linalg.solve(h_damped, g)
        f_new, g_new, h_new = derivatives(z_new)
        better = (jnp.isfinite(f_new) & (f_new <= f) & jnp.all(jnp.isfinite(g_new))
                  & jnp.all(jnp.isfinite(h_new)))
        # Converged: at the new point a full Newton step would lower the potential by
        # < 1e-8 (the Newton decrement; a posterior SD is worth 0.5), or no step helps.
        # (A small accepted decrease is no test: heavily damped steps are small too.)
        decrement = g_new @ jnp.linalg.solve(h_new, g_new)
        done = (better & (decrement >= 0) & (decrement < 1e-8)) | (damping > 1e12)
        keep = partial(jnp.where, better)
        return (i + 1, keep(z_new, z), keep(f_new, f), keep(g_new, g), keep(h_new, h),
                keep(damping * 0.2, damping * 10.0), done)

    # The first step (zero gradient, infinite potential) only evaluates z0.
    start = (0, z0, jnp.asarray(jnp.inf, z0.dtype), jnp.zeros_like(z0), eye,
             jnp.asarray(1.0, z0.dtype), jnp.asarray(False))
    _, mode, f, _, h, _, _ = jax.lax.while_loop(
        lambda c: (c[0] <= iterations) & ~c[-1], step, start)
    chol = jnp.linalg.cholesky(0.5 * (h + h.T))
    tril = jax.scipy.linalg.solve_triangular(chol, eye, lower=True).T  # chol^-T
    ok = (jnp.isfinite(f) & jnp.all(jnp.isfinite(tril)) & jnp.all(jnp.isfinite(mode))
          & jnp.all(jnp.diag(chol) > 0))
    return mode, tril, ok
