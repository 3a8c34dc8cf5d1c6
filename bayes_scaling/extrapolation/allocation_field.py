"""The hierarchical meta-analysis behind the allocation field prior.

The model is described in :mod:`bayes_scaling.models.allocation_discrepancy`. For each
iso-FLOP sweep ``s`` of the field (fitted on the lower 65% of its log-compute
range) and each iso-FLOP vertex ``i`` (inside that range, ``d = 0``, or held out
beyond it):

.. code-block:: text

    m ~ Normal(0, 0.5)          s_nu ~ HalfNormal(0.3)
    sigma ~ HalfNormal(0.2)     tau ~ HalfNormal(0.3)
    g ~ Normal(0, 0.3)          (g = 0 with drift=False)
    nu_s = m + s_nu z_s,        z_s ~ Normal(0, 1)
    r_si ~ Normal(nu_s + g d_si, sd_si^2 + sigma^2 + (tau d_si)^2)

The prior's ``reach`` is the largest ``d_si`` in the data: predictions hold the drift
there beyond it.

with ``r_si`` the vertex's ``ln N`` minus the fit's median ``ln N_opt`` at that
budget and ``sd_si`` the posterior SD of that ``ln N_opt``. Priors are weakly
informative on the scale of ln N (0.5 is a factor 1.6 in N).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .._lazy import lazy_import
from ..inference.nuts import SamplerConfig, run_nuts
from ..models.allocation_discrepancy import (
    ALLOCATION_PRIOR_FILE,
    AllocationFieldPrior,
    isoflop_vertices,
    vertex_residuals,
)

pd = lazy_import("pandas")

__all__ = ["fit_allocation_prior", "sweep_vertex_residuals", "write_allocation_prior"]


def sweep_vertex_residuals(fit: Any, train: pd.DataFrame, test: pd.DataFrame
                           ) -> pd.DataFrame:
    """Vertex residuals of a fit on ``train``: in-range vertices and held-out ones.

    Returns :func:`~bayes_scaling.models.allocation_discrepancy.vertex_residuals`
    columns plus ``C``, ``N_vertex``, ``held_out`` and the plain ``N_opt`` median
    and 90% bounds (``N_opt``, ``lower``, ``upper``) at each vertex's budget.
    """
    parts = []
    for frame, held_out in ((train, False), (test, True)):
        vertices = isoflop_vertices(frame)
        if not len(vertices):
            continue
        compute = vertices["C"].to_numpy(np.float64)
        log_n = np.log(fit.allocation_draws(compute, extrapolation="none")["N_opt"])
        d = np.maximum(np.log10(compute / float(np.max(fit.runs.C))), 0.0)
        if not held_out:  # vertices of the fitted runs: inside the range by definition
            d = np.zeros_like(d)
        res = vertex_residuals(log_n, vertices, d)
        lo, mid, hi = np.exp(np.quantile(log_n, [0.05, 0.5, 0.95], axis=0))
        parts.append(pd.concat([vertices.reset_index(drop=True), res], axis=1).assign(
            held_out=held_out, N_opt=mid, lower=lo, upper=hi))
    if not parts:
        return pd.DataFrame(columns=["C", "N_vertex", "runs", "r", "sd", "d", "held_out",
                                     "N_opt", "lower", "upper"])
    return pd.concat(parts, ignore_index=True)


def _model(sweep_index, r, sd, d, weight, drift, sweep_ids):
    """The meta-analysis (module docstring); every argument is traced, shapes static."""
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist

    m = numpyro.sample("m", dist.Normal(0.0, 0.5))
    s_nu = numpyro.sample("s_nu", dist.HalfNormal(0.3))
    sigma = numpyro.sample("sigma", dist.HalfNormal(0.2))
    tau = numpyro.sample("tau", dist.HalfNormal(0.3))
    g = drift * numpyro.sample("g", dist.Normal(0.0, 0.3))
    with numpyro.plate("sweeps", sweep_ids.shape[0]):
        z = numpyro.sample("z", dist.Normal(0.0, 1.0))
    nu = (m + s_nu * z)[sweep_index]
    scale = jnp.sqrt(sd ** 2 + sigma ** 2 + (tau * d) ** 2)
    with numpyro.handlers.mask(mask=weight > 0):  # a left-out sweep's rows are masked
        numpyro.sample("r", dist.Normal(nu + g * d, scale), obs=r)


def fit_allocation_prior(residuals: Mapping[str, pd.DataFrame], *, exclude: str | None = None,
                         drift: bool = True, seed: int = 0, chains: int = 4, draws: int = 1000, warmup: int = 1000,
                         provenance: Mapping[str, Any] | None = None) -> AllocationFieldPrior:
    """Hierarchical meta-analysis of iso-FLOP vertex residuals of several sweeps (NUTS).

    Parameters
    ----------
    residuals : mapping of sweep name -> DataFrame
        Columns ``r``, ``sd``, ``d`` (:func:`sweep_vertex_residuals`).
    exclude : str, optional
        A sweep whose rows are masked out (leave-one-sweep-out; same shapes, so
        the sampler compiles once for all folds).
    drift : bool, default True
        ``False`` fixes the drift per decade beyond the data at ``g = 0`` (kept for
        comparison).
    seed, chains, draws, warmup
        NUTS settings; every draw flows from ``seed``.
    provenance : mapping, optional
        Extra provenance recorded with the prior.

    Returns
    -------
    AllocationFieldPrior
    """
    import jax
    import jax.numpy as jnp

    names = [k for k, v in residuals.items() if len(v)]
    kept = [k for k in names if k != exclude]
    if len(kept) < 2:
        raise ValueError(f"the allocation field prior needs iso-FLOP vertices of at least 2 "
                         f"sweeps, got {len(kept)}")
    table = pd.concat([residuals[k][["r", "sd", "d"]].assign(sweep=i, weight=float(k != exclude))
                       for i, k in enumerate(names)], ignore_index=True)
    config = SamplerConfig(chains=chains, draws=draws, warmup=warmup, dense_mass=False,
                           target_accept=0.99)
    with jax.enable_x64(True):
        kwargs = {"sweep_index": jnp.asarray(table["sweep"].to_numpy()),
                  **{c: jnp.asarray(table[c].to_numpy(np.float64))
                     for c in ("r", "sd", "d", "weight")},
                  "drift": jnp.asarray(float(drift)), "sweep_ids": jnp.arange(len(names))}
        result = run_nuts(_model, kwargs, config, jax.random.PRNGKey(seed))
    s = {k: np.asarray(v).reshape(chains * draws, *np.shape(v)[2:])
         for k, v in result.samples.items()}
    info = {"sweeps": kept,
            "vertices": {k: {"in_range": int((residuals[k]["d"] == 0).sum()),
                             "held_out": int((residuals[k]["d"] > 0).sum())} for k in kept},
            "sampler": f"NUTS {chains} chains x ({warmup} warm-up + {draws} draws), seed {seed}",
            "divergences": int(np.asarray(result.stats["diverging"]).sum()),
            "model": "ln N_vertex = ln N_opt,law + nu_s + g d + Normal(0, sigma^2 + (tau d)^2), "
                     "nu_s ~ Normal(m, s_nu^2)" + ("" if drift else ", g = 0"),
            **(dict(provenance) if provenance else {})}
    g = s["g"] if drift else np.zeros_like(s["m"])
    reach = float(table.loc[table["weight"] > 0, "d"].max())  # the drift's measured reach
    return AllocationFieldPrior(m=s["m"], s_nu=s["s_nu"], sigma=s["sigma"], tau=s["tau"], g=g,
                                reach=reach if reach > 0 else float("inf"), provenance=info)


def write_allocation_prior(prior: AllocationFieldPrior, path: Any = None) -> str:
    """Write ``prior`` as the package's allocation field prior (or to ``path``)."""
    import json
    from pathlib import Path

    path = (Path(__file__).parent.parent / "data" / ALLOCATION_PRIOR_FILE if path is None
            else Path(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(prior.to_json(), indent=1) + "\n")
    return str(path)
