"""Simulate training runs from a known law: for tests, calibration and the demo."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._lazy import lazy_import
from ..data.sizes import complete_sizes
from ..laws import Law, get_law
from ..laws.inputs import law_inputs

pd = lazy_import("pandas")


__all__ = ["simulate", "simulate_learning_curves", "iso_flop_design", "example_runs",
           "EXAMPLE_TRUTH"]

#: Parameters of the bundled example: the Besiroglu et al. (2024) refit of Chinchilla.
EXAMPLE_TRUTH: dict[str, float] = {"E": 1.817, "A": 482.0, "alpha": 0.348, "B": 2085.4,
                                   "beta": 0.366}


def iso_flop_design(
    budgets: Any,
    *,
    runs_per_budget: int = 28,
    tokens_per_param: tuple[float, float] = (1.5, 600.0),
    flops_factor: float = 6.0,
) -> pd.DataFrame:
    """Runs on iso-FLOP lines: for each budget, model sizes spanning ``tokens_per_param``.

    Returns a DataFrame with ``N``, ``D``, ``C`` (``D = C / (k N)``) and ``budget``.
    """
    budgets = np.atleast_1d(np.asarray(budgets, dtype=np.float64))
    ratios = np.geomspace(tokens_per_param[0], tokens_per_param[1], runs_per_budget)
    rows = []
    for c in budgets:
        n = np.sqrt(c / (flops_factor * ratios))
        rows.append(pd.DataFrame({"N": n, "D": c / (flops_factor * n), "C": c, "budget": c}))
    return pd.concat(rows, ignore_index=True)


@functools.partial(jax.jit, static_argnames=("law", "likelihood"))
def _simulate_log_loss(law: Law, likelihood: str, params: Mapping[str, Any],
                       log_inputs: Mapping[str, Any], noise: Any, nu: Any, key: jax.Array) -> Any:
    """``log L + noise * eps`` in one compiled program (eager JAX would compile op by op)."""
    log_mean = law.log_mean(params, log_inputs)
    shape = jnp.shape(log_mean)
    eps = jax.random.t(key, nu, shape) if likelihood == "student_t" else \
        jax.random.normal(key, shape)
    return log_mean + noise * eps


def simulate(
    law: str | Law,
    params: Mapping[str, float],
    *,
    N: Any = None,  # noqa: N803 - the field's notation
    D: Any = None,  # noqa: N803
    C: Any = None,  # noqa: N803
    noise: float = 0.01,
    likelihood: str = "normal",
    nu: float = 4.0,
    flops_factor: float = 6.0,
    seed: int = 0,
    U: Any = None,  # noqa: N803
) -> pd.DataFrame:
    """Simulate final losses of runs from a known law.

    ``log loss = log L(N, D) + noise * eps`` with ``eps`` standard normal (or
    Student-t with ``nu`` degrees of freedom for ``likelihood="student_t"``).

    Parameters
    ----------
    law : str or Law
    params : mapping
        True user-facing parameters, e.g. ``{"E": 1.8, "A": 480, "alpha": 0.35,
        "B": 2000, "beta": 0.37}``.
    N, D, C : array-like
        Two of them for a joint law (the third follows from ``C = k N D``), or
        the single input of a one-axis law.
    noise : float
        SD of log-loss noise (0 for exact values).
    seed : int
        Seed of the noise draw.
    U : array-like, optional
        Unique tokens, for laws with that input (``"data_constrained"``).

    Returns
    -------
    pandas.DataFrame
        Columns ``N``, ``D``, ``C`` (where known), ``U`` (when given) and ``loss``.
    """

    law = get_law(law)
    missing = set(law.param_names) - set(params)
    if missing:
        raise ValueError(f"params lacks {sorted(missing)} for the {law.name} law")
    if U is not None:
        sizes = law_inputs(law, N, D, C, flops_factor, U)
    else:
        N, D, C = complete_sizes(N, D, C, flops_factor)
        sizes = {k: v for k, v in (("N", N), ("D", D), ("C", C)) if v is not None}
    with jax.enable_x64(True):
        log_inputs = {k: np.log(np.ravel(sizes[k])) for k in law.inputs}
        log_loss = _simulate_log_loss(law, likelihood, {k: float(v) for k, v in params.items()},
                                      log_inputs, noise, nu, jax.random.PRNGKey(seed))
        loss = np.exp(np.asarray(log_loss))
    out = pd.DataFrame({k: np.ravel(v) for k, v in sizes.items()})
    out["loss"] = loss
    return out


def example_runs(seed: int = 0) -> pd.DataFrame:
    """The bundled example: 252 Chinchilla-like runs on 9 iso-FLOP lines, 6e18 to 3e21 FLOPs.

    Losses follow :data:`EXAMPLE_TRUTH` with log-normal noise of SD 0.007 (the
    residual SD seen on the digitised Chinchilla runs). Deterministic given
    ``seed``.
    """
    design = iso_flop_design(np.geomspace(6e18, 3e21, 9))
    runs = simulate("chinchilla", EXAMPLE_TRUTH, N=design["N"], D=design["D"], noise=0.007,
                    seed=seed)
    runs["budget"] = design["budget"]
    return runs


def simulate_learning_curves(
    law: str | Law,
    params: Mapping[str, float],
    *,
    N: Any,  # noqa: N803 - the field's notation
    D_final: Any,  # noqa: N803
    num_checkpoints: int = 10,
    first_fraction: float = 0.05,
    tau: float = 0.02,
    noise: float = 0.005,
    flops_factor: float = 6.0,
    seed: int = 0,
) -> pd.DataFrame:
    """Checkpoints of runs from a known law with run effects.

    Run ``i`` (size ``N[i]``, trained to ``D_final[i]`` tokens) has checkpoints at
    ``num_checkpoints`` token counts log-spaced from ``first_fraction * D_final[i]``
    to ``D_final[i]``; ``log loss = log L(N_i, D_ij) + u_i + e_ij`` with
    ``u_i ~ Normal(0, tau)`` and ``e_ij ~ Normal(0, noise)``.

    Returns
    -------
    pandas.DataFrame
        ``run``, ``N``, ``D``, ``C``, ``loss``; ``attrs["run_effects"]`` holds the true ``u_i``.
    """
    law = get_law(law)
    n, d_final = np.broadcast_arrays(np.asarray(N, dtype=np.float64),
                                     np.asarray(D_final, dtype=np.float64))
    n, d_final = np.ravel(n), np.ravel(d_final)
    rng = np.random.default_rng(seed)
    effects = rng.normal(0.0, tau, len(n))
    fractions = np.geomspace(first_fraction, 1.0, num_checkpoints)
    run_n = np.repeat(n, num_checkpoints)
    tokens = (d_final[:, None] * fractions[None, :]).ravel()
    run = np.repeat(np.arange(len(n)), num_checkpoints)
    with jax.enable_x64(True):
        log_mean = np.asarray(law.log_mean({k: jnp.asarray(float(v)) for k, v in params.items()},
                                           {"N": jnp.log(run_n), "D": jnp.log(tokens)}))
    loss = np.exp(log_mean + effects[run] + rng.normal(0.0, noise, len(run)))
    frame = pd.DataFrame({"run": [f"run{i}" for i in run], "N": run_n, "D": tokens,
                          "C": flops_factor * run_n * tokens, "loss": loss})
    frame.attrs["run_effects"] = dict(zip([f"run{i}" for i in range(len(n))], effects,
                                          strict=True))
    return frame
