"""The field's sweeps and the hierarchical meta-analysis behind the field prior.

:func:`field_sweeps` lists every public sweep of the shared data folder with
the law fitted to it; :func:`split_sweep` is the protocol (fit the runs in the
lower 65% of the sweep's log-compute range, hold out every larger run);
:func:`fit_field_prior` fits the hierarchical model of
:mod:`bayes_scaling.extrapolation.discrepancy` to the held-out errors of several sweeps:

.. code-block:: text

    m ~ Normal(0, 0.05)        s_mu ~ HalfNormal(0.05)
    ell ~ Normal(log 0.01, 1.5) s_tau ~ HalfNormal(1)
    a ~ Normal(0, 0.5)          b = exp(c) - 1,  c ~ Normal(0, 1)
    s_a ~ HalfNormal(0.5)
    mu_s = m + s_mu z_s,        log tau_s = ell + s_tau w_s,   a_s = a + s_a v_s,
    z_s, w_s, v_s ~ Normal(0, 1)
    log lambda_si = (a_s + b log(sd_si / 0.02)) min(d_si, 1)
    e_si ~ Normal(mu_s d_si, (lambda_si sd_si)^2 + tau_s^2 d_si^2)

with ``e_si`` the observed minus predicted log-loss of held-out run ``i`` of
sweep ``s``, ``sd_si`` its plain predictive SD and ``d_si`` its decades beyond
the fitted runs; ``lambda`` is the band calibration of
:mod:`bayes_scaling.models.discrepancy`. Each sweep weighs through its own
``(mu_s, tau_s, a_s)``, so a large sweep cannot dominate the population;
``sweep_calibration=False`` shares ``a`` across sweeps (``s_a = 0``, the earlier
model, kept for comparison). The held-out errors of one sweep are treated as
independent here (their plain SDs already hold the fit's parameter
uncertainty; the own-fold update of a single sweep models their correlation).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._lazy import lazy_import
from ..data import datasets
from ..inference.nuts import SamplerConfig, run_nuts
from ..models.discrepancy import FIELD_PRIOR_FILE, SD_REF, FieldPrior
from ..results.scaling_fit import fit as fit_law
from .discrepancy import errors_table

pd = lazy_import("pandas")

__all__ = ["Sweep", "field_sweeps", "fit_field_prior", "holdout_errors", "split_sweep"]


@dataclass(frozen=True)
class Sweep:
    """One public sweep: its runs (``N``, ``D``, ``C``, ``loss``), law and source."""

    name: str
    runs: pd.DataFrame
    law: str
    source: str
    isoflop: bool = False


def _only(frame: pd.DataFrame, keep: Any = None) -> pd.DataFrame:
    frame = frame if keep is None else frame[keep]
    return frame.reset_index(drop=True)


def _specs() -> list[tuple[str, Callable[[Any], pd.DataFrame], str, bool]]:
    def marin(mix):
        return lambda r: (lambda f: _only(f, f["group"] == mix))(datasets.load_marin_isoflops(r))

    def gadre(name):
        return lambda r: (lambda f: _only(f, f["group"] == name))(datasets.load_gadre2024(r))

    def pythia(r):
        f = datasets.load_pythia(r)
        return _only(f, f["step"] == f["step"].max())

    def datablations(r):
        f = datasets.load_datablations(r)
        return _only(f, np.isclose(f["epochs"], 1.0))

    return [
        ("chinchilla", lambda r: datasets.load_chinchilla(r), "chinchilla", True),
        ("marin comma", marin("comma"), "chinchilla", True),
        ("marin dclm", marin("dclm"), "chinchilla", True),
        ("marin nemotron", marin("nemotron"), "chinchilla", True),
        ("datablations 1 epoch", datablations, "chinchilla", False),
        ("gadre c4", gadre("c4_original"), "chinchilla", False),
        ("gadre rpj", gadre("rpj"), "chinchilla", False),
        ("gadre rw", gadre("rw_original"), "chinchilla", False),
        ("pythia final", pythia, "power_law_N", False),
        ("gemstones cooldown", lambda r: datasets.load_gemstones(r), "chinchilla", False),
        ("porian rw", lambda r: datasets.load_porian2024(r, dataset="rw"), "chinchilla", True),
        ("porian owt2", lambda r: datasets.load_porian2024(r, dataset="owt2"), "chinchilla",
         True),
    ]


def field_sweeps(root: Any = None) -> list[Sweep]:
    """Every public sweep of the shared data folder, with the law fitted to it.

    Pythia's final checkpoints all saw the same tokens, so their law is a power
    law in ``N``; every other sweep gets the Chinchilla law.
    """
    out = []
    for name, loader, law, isoflop in _specs():
        frame = loader(root)
        keep = [c for c in ("N", "D", "C", "loss", "budget", "N_no_embed")
                if c in frame.columns]
        out.append(Sweep(name, frame[keep].reset_index(drop=True), law,
                         str(frame.attrs.get("source", "")), isoflop))
    return out


def split_sweep(runs: pd.DataFrame, fraction: float = 0.65
                ) -> tuple[pd.DataFrame, pd.DataFrame, float]:
    """Runs in the lower ``fraction`` of the log-compute range, the rest, and the cut."""
    x = np.log10(runs["C"].to_numpy(np.float64))
    cut = x.min() + fraction * (x.max() - x.min())
    return (runs[x <= cut].reset_index(drop=True), runs[x > cut].reset_index(drop=True),
            float(10 ** cut))


def _model(sweep_index, e, sd, d, weight, drift, calibrate, spread, sweep_ids):
    """The meta-analysis (module docstring); every argument is traced, shapes static."""
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist

    m = numpyro.sample("m", dist.Normal(0.0, 0.05))
    s_mu = numpyro.sample("s_mu", dist.HalfNormal(0.05))
    ell = numpyro.sample("ell", dist.Normal(jnp.log(0.01), 1.5))
    s_tau = numpyro.sample("s_tau", dist.HalfNormal(1.0))
    # Band calibration (models.discrepancy): weakly informative around lambda = 1; b > -1
    # keeps the calibrated band's width increasing with the plain band's.
    a = calibrate * numpyro.sample("a", dist.Normal(0.0, 0.5))
    b = numpyro.deterministic("b", calibrate * (jnp.exp(numpyro.sample("c", dist.Normal(0.0,
                                                                                    1.0))) - 1.0))
    # Sweep-specific calibration level a_s ~ Normal(a, s_a^2); spread = 0: a shared.
    s_a = calibrate * spread * numpyro.sample("s_a", dist.HalfNormal(0.5))
    with numpyro.plate("sweeps", sweep_ids.shape[0]):  # a shape: static under jit
        z = numpyro.sample("z", dist.Normal(0.0, 1.0))
        w = numpyro.sample("w", dist.Normal(0.0, 1.0))
        v = numpyro.sample("v", dist.Normal(0.0, 1.0))
    mu = drift * (m + s_mu * z)[sweep_index]  # drift = 0: the scale-only model
    tau = jnp.exp(ell + s_tau * w)[sweep_index]
    a_s = (a + s_a * v)[sweep_index]
    lam = jnp.exp((a_s + b * jnp.log(sd / SD_REF)) * jnp.minimum(d, 1.0))
    with numpyro.handlers.mask(mask=weight > 0):  # a left-out sweep's rows are masked
        numpyro.sample("e", dist.Normal(mu * d, jnp.sqrt((lam * sd) ** 2 + (tau * d) ** 2)),
                       obs=e)


def fit_field_prior(errors: Mapping[str, pd.DataFrame], *, exclude: str | None = None,
                    drift: bool = True, calibrate: bool = True, sweep_calibration: bool = True,
                    seed: int = 0, chains: int = 4,
                    draws: int = 1000, warmup: int = 1000, provenance: Mapping[str, Any] | None = None) -> FieldPrior:
    """Hierarchical meta-analysis of held-out errors of several sweeps (NUTS).

    Parameters
    ----------
    errors : mapping of sweep name -> DataFrame
        Columns ``e``, ``sd``, ``d`` (see :func:`bayes_scaling.extrapolation.discrepancy.errors_table`).
    exclude : str, optional
        A sweep whose errors are masked out (leave-one-sweep-out; same data
        shapes, so the sampler is compiled once for all folds).
    drift : bool, default True
        ``False`` fits the scale-only model (``mu = 0``), kept for comparison.
    calibrate : bool, default True
        ``False`` fixes the band calibration at ``lambda = 1`` (``a = b = 0``), kept
        for comparison.
    sweep_calibration : bool, default True
        ``True``: each sweep has its own calibration level ``a_s ~ Normal(a, s_a^2)``;
        ``False``: ``a`` is shared by the field (``s_a = 0``, the earlier model), kept for
        comparison.
    seed, chains, draws, warmup
        NUTS settings; every draw flows from ``seed``.
    provenance : mapping, optional
        Extra provenance recorded with the prior.

    Returns
    -------
    FieldPrior
    """
    import jax
    import jax.numpy as jnp

    names = [k for k, v in errors.items() if len(v)]
    if len([k for k in names if k != exclude]) < 2:
        raise ValueError(f"the field prior needs held-out errors of at least 2 sweeps, got "
                         f"{len([k for k in names if k != exclude])}")
    table = pd.concat([errors[k].assign(sweep=i, weight=float(k != exclude))
                       for i, k in enumerate(names)], ignore_index=True)
    # The library's NUTS driver compiles once per shape and setting: every fold and
    # model variant reuses it (a fresh numpyro MCMC per call recompiled every time).
    config = SamplerConfig(chains=chains, draws=draws, warmup=warmup, dense_mass=False,
                           target_accept=0.95)
    with jax.enable_x64(True):
        kwargs = {"sweep_index": jnp.asarray(table["sweep"].to_numpy()),
                  **{c: jnp.asarray(table[c].to_numpy(np.float64))
                     for c in ("e", "sd", "d", "weight")},
                  "drift": jnp.asarray(float(drift)), "calibrate": jnp.asarray(float(calibrate)),
                  "spread": jnp.asarray(float(sweep_calibration)),
                  "sweep_ids": jnp.arange(len(names))}
        result = run_nuts(_model, kwargs, config, jax.random.PRNGKey(seed))
    s = {k: np.asarray(v).reshape(chains * draws, *np.shape(v)[2:])
         for k, v in result.samples.items()}
    if not drift:
        s["m"], s["s_mu"] = np.zeros_like(s["m"]), np.zeros_like(s["s_mu"])
    if not calibrate:
        s["a"], s["b"] = np.zeros_like(s["a"]), np.zeros_like(s["b"])
    if not (calibrate and sweep_calibration):
        s["s_a"] = np.zeros_like(s["a"])
    divergences = int(np.asarray(result.stats["diverging"]).sum())
    names = [k for k in names if k != exclude]
    info = {"sweeps": names, "held_out_runs": {k: int(len(errors[k])) for k in names},
            "sampler": f"NUTS {chains} chains x ({warmup} warm-up + {draws} draws), seed {seed}",
            "divergences": divergences,
            "model": ("drift + scale" if drift else "scale only")
                     + ((" + sweep-specific band calibration" if sweep_calibration
                         else " + shared band calibration") if calibrate else ""),
            **(dict(provenance) if provenance else {})}
    return FieldPrior(m=s["m"], s_mu=s["s_mu"], ell=s["ell"], s_tau=s["s_tau"], a=s["a"],
                      b=s["b"], s_a=s["s_a"], provenance=info)


def holdout_errors(sweep: Sweep, *, fraction: float = 0.65, seed: int = 0, chains: int = 4,
                   draws: int = 500, warmup: int = 500, **fit_kwargs: Any
                   ) -> tuple[Any, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Fit a sweep's lower ``fraction`` of log compute; errors on the larger runs.

    Returns
    -------
    fit, train, test, errors
        The plain fit (normal likelihood unless ``fit_kwargs`` say otherwise),
        the two halves and :func:`bayes_scaling.extrapolation.discrepancy.errors_table` of the
        held-out runs.
    """

    train, test, _ = split_sweep(sweep.runs, fraction)
    fitted = fit_law(train[["N", "D", "C", "loss"]], law=sweep.law, seed=seed, chains=chains,
                     draws=draws, warmup=warmup, warn=False, **fit_kwargs)
    return fitted, train, test, errors_table(fitted, test, seed + 7)


def protocol_provenance(nuts: Mapping[str, int], seed: int) -> dict[str, Any]:
    """What a field prior was learnt from, recorded in its data file."""
    import datetime

    return {"protocol": "each sweep fitted (Bayesian, normal likelihood, default priors) on "
                        "the runs in the lower 65% of its log-compute range; errors of every "
                        "larger run; distance in decades of C (of N for single-input laws) "
                        "beyond the largest fitted run",
            "fits": f"NUTS {nuts['chains']} chains x ({nuts['warmup']} + {nuts['draws']}), "
                    f"seed {seed}",
            "sources": {s.name: s.source for s in field_sweeps()},
            "created": datetime.date.today().isoformat(),
            "script": "tools/field_prior.py or benchmarks/extrapolation.py --write-prior"}


def write_field_prior(prior: FieldPrior, path: Any = None) -> str:
    """Write ``prior`` as the package's field prior (or to ``path``); returns the path."""
    import json
    from pathlib import Path


    # The package data folder: bayes_scaling/data, one level above this package.
    path = Path(__file__).parent.parent / "data" / FIELD_PRIOR_FILE if path is None else Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(prior.to_json(), indent=1) + "\n")
    return str(path)
