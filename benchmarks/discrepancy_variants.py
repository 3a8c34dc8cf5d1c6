"""Two discrepancy forms not shipped, measured leave-one-sweep-out (issue #15, item 1).

The shipped discrepancy (:mod:`bayes_scaling.models.discrepancy`) uses one distance ``d``
(decades of compute beyond the largest fitted run), a drift ``mu d`` and an independent
scale ``tau d``. This benchmark-only measurement compares it with

* **separate distances**: ``d_N = max(0, log10(N / max train N))`` and ``d_D`` likewise;
  drift ``mu_N d_N + mu_D d_D`` and scale variance ``tau_N^2 d_N^2 + tau_D^2 d_D^2``, each
  sweep's ``(mu_N, mu_D, tau_N, tau_D)`` drawn from field-level hyperpriors as in
  :func:`bayes_scaling.extrapolation.field.fit_field_prior` (one pair ``m``, ``s_mu`` and
  ``ell``, ``s_tau`` per input, the same priors); the band calibration as shipped (its
  ``min(d, 1)`` uses the compute distance). For a single-input law (Pythia: a power law in
  ``N``, every run on the same tokens) ``d_N`` is the law's one distance and ``d_D = 0``;
* **a Gaussian-process discrepancy** (Kennedy and O'Hagan 2001): within a sweep the
  held-out discrepancies are correlated,
  ``Cov(delta_i, delta_j) = tau^2 d_i d_j exp(-|x_i - x_j|^2 / (2 l^2))`` with
  ``x = (log10 N, log10 D)`` (``log10 C`` for a single-input law) and a field-level length
  scale ``l ~ LogNormal(0, 1)`` decades; the drift stays ``mu d`` and the observation part
  ``(lambda sd)^2`` stays on the diagonal. A sweep's errors are then jointly normal in the
  meta-analysis. A new run's marginal band has the shipped form, so the GP row is the
  shipped predictive with the hyperparameters learnt under the correlation.

Protocol (``benchmarks/extrapolation.py``): for each sweep the variant's field prior is
fitted on the other 11 sweeps' held-out errors (stage-1 cache of that script, read only),
a new sweep's parameters are drawn from the population and applied to the sweep's plain
predictive draws as :meth:`bayes_scaling.models.discrepancy.Discrepancy.apply` does, and
the bands are scored with that script's ``score``. The reference row is the shipped field
prior fitted and applied the same way. The GP likelihood (a Cholesky factor per sweep and
gradient) is too slow on CPU for twelve refits, so its folds come from one all-sweeps fit
importance-weighted by ``1 / p(errors of the left-out sweep)``; the same approximation on
the shipped form (row ``SHIPPED_IS``) measures what it costs. The models live in
``discrepancy_variant_models.py``.

Usage::

    nice -n 10 python benchmarks/discrepancy_variants.py [--seed 0] [--refit]

The leave-one-sweep-out fits are cached in ``$TMPDIR/bayes_scaling_variants_s<seed>.pkl``
(refitted when the stage-1 errors change); ``section(seed)`` returns the markdown lines
for ``benchmarks/EXTRAPOLATION.md``.
"""

from __future__ import annotations

import argparse
import hashlib
import pickle
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

import extrapolation as ex  # benchmarks/extrapolation.py (it imports bayes_scaling first)
import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from discrepancy_variant_models import (
    HYPER,
    _mvn_one,
    apply_separate,
    as_field_prior,
    global_x64,
    gp_covariance,
    gp_model,
    population_separate,
    separate_model,
    squared_distances,
)

from bayes_scaling.extrapolation import discrepancy as dsc
from bayes_scaling.extrapolation import field
from bayes_scaling.inference.nuts import SamplerConfig, run_nuts
from bayes_scaling.models.discrepancy import SD_REF, FieldPrior

#: NUTS settings of every meta-analysis here (those of ``field.fit_field_prior``).
CHAINS, DRAWS, WARMUP = 4, 1000, 1000
SHIPPED, SEPARATE, GP = ("shipped field prior (one distance, independent)",
                         "separate distances in log N and log D", "Gaussian-process discrepancy")
SHIPPED_IS = "shipped form, importance-sampled leave-one-sweep-out (check of the GP row)"
#: The GP fits' NUTS settings: each gradient costs ~100 times the independent one's.
GP_NUTS = {"chains": 4, "draws": 300, "warmup": 300}
#: The two forms, for the report (method, not results).
SEPARATE_FORM = ("drift `mu_N d_N + mu_D d_D`, scale `sqrt(tau_N^2 d_N^2 + tau_D^2 d_D^2)`")
GP_FORM = ("`tau^2 d_i d_j exp(-|x_i - x_j|^2 / (2 l^2))`, `x = (log10 N, log10 D)` (`log10 C` "
           "for a law of N alone), `l ~ LogNormal(0, 1)` decades")
#: Fresh draws of a left-out sweep's (z, w, v) per hyperparameter draw (importance rows).
LATENTS = 256
#: Population draws of a new sweep's parameters (as ``Discrepancy.from_field``).
NUM = 4000


# ---------------------------------------------------------------- data


def sweep_geometry(results: list[dict]) -> dict[str, pd.DataFrame]:
    """Per sweep: the stage-1 errors (``e``, ``sd``, ``d``) with ``d_N``, ``d_D`` and the
    GP inputs ``x1``, ``x2`` of its held-out runs, in the stage-1 order."""
    sweeps = {s.name: s for s in field.field_sweeps()}
    out = {}
    for r in results:
        sweep = sweeps[r["name"]]
        train, test, _ = field.split_sweep(sweep.runs)
        if len(test) != len(r["loss"]) or not np.allclose(test["loss"], r["loss"]):
            raise ValueError(f"sweep {r['name']!r}: the held-out runs of the shared data "
                             f"({len(test)}) do not match the stage-1 cache "
                             f"({len(r['loss'])}); rerun benchmarks/extrapolation.py --refit")
        size = {k: test[k].to_numpy(np.float64) for k in ("N", "D", "C")}
        reach = {k: float(train[k].max()) for k in ("N", "D")}
        d_n = np.maximum(np.log10(size["N"] / reach["N"]), 0.0)
        d_d = np.maximum(np.log10(size["D"] / reach["D"]), 0.0)
        two = sweep.law != "power_law_N"
        if not two:  # one input: its distance is the shipped d; D is one value (Pythia)
            d_n, d_d = np.asarray(r["d"], dtype=np.float64), np.zeros(len(test))
        x1 = np.log10(size["N"] if two else size["C"])
        x2 = np.log10(size["D"]) if two else np.zeros(len(test))
        out[r["name"]] = r["errors"][["e", "sd", "d"]].reset_index(drop=True).assign(
            d_N=d_n, d_D=d_d, x1=x1, x2=x2)
    return out


def fingerprint(results: list[dict]) -> str:
    """Hash of the stage-1 errors: a cache of fits made from other errors is stale."""
    h = hashlib.sha256()
    for r in results:
        h.update(r["name"].encode())
        h.update(np.ascontiguousarray(r["errors"][["e", "sd", "d"]].to_numpy(np.float64)))
    return h.hexdigest()[:16]


# ---------------------------------------------------------------- fits


def _nuts(model, kwargs: Mapping, seed: int, **settings) -> tuple[dict, int]:
    config = SamplerConfig(**{"chains": CHAINS, "draws": DRAWS, "warmup": WARMUP,
                              "dense_mass": False, "target_accept": 0.95, "progress": False,
                              **settings})
    with jax.enable_x64(True):
        result = run_nuts(model, jax.tree_util.tree_map(jnp.asarray, dict(kwargs)), config,
                          jax.random.PRNGKey(seed))
    s = {k: np.asarray(v).reshape(-1, *np.shape(v)[2:])
         for k, v in result.samples.items()}
    return s, int(np.asarray(result.stats["diverging"]).sum())


def fit_separate(tables: Mapping[str, pd.DataFrame], exclude: str, seed: int) -> dict:
    """Separate-distance field prior without ``exclude`` (its rows masked: one compile)."""
    names = list(tables)
    table = pd.concat([tables[k].assign(sweep=i, weight=float(k != exclude))
                       for i, k in enumerate(names)], ignore_index=True)
    kwargs = {"sweep_index": table["sweep"].to_numpy(), "sweep_ids": np.arange(len(names)),
              **{k: table[c].to_numpy(np.float64) for k, c in
                 (("e", "e"), ("sd", "sd"), ("d", "d"), ("d_n", "d_N"), ("d_d", "d_D"),
                  ("weight", "weight"))}}
    s, div = _nuts(separate_model, kwargs, seed)
    keep = [f"{p}{x}" for x in ("_N", "_D") for p in ("m", "s_mu", "ell", "s_tau")]
    return {"draws": {k: s[k] for k in keep + ["a", "b", "s_a"]}, "divergences": div}


def gp_inputs(tables: Mapping[str, pd.DataFrame], exclude: str) -> dict:
    """The GP model's arguments: sweeps grouped by their number of held-out runs."""
    names = list(tables)
    groups = []
    for n in sorted({len(t) for t in tables.values()}):
        idx = [i for i, k in enumerate(names) if len(tables[k]) == n]
        groups.append({"index": np.asarray(idx),
                       **{c: np.stack([tables[names[i]][c].to_numpy(np.float64) for i in idx])
                          for c in ("e", "sd", "d")},
                       "sq": np.stack([squared_distances(tables[names[i]]) for i in idx])})
    return {"groups": tuple(groups), "weight": np.array([float(k != exclude) for k in names]),
            "sweep_ids": np.arange(len(names))}


def fit_gp(tables: Mapping[str, pd.DataFrame], exclude: str, seed: int) -> dict:
    """GP field prior without ``exclude``."""
    # Laplace standardisation needs forward-mode derivatives, which mvn_logpdf lacks.
    with global_x64():
        s, div = _nuts(gp_model, gp_inputs(tables, exclude), seed, laplace=False, **GP_NUTS)
    return {"draws": s, "divergences": div}  # with each sweep's z, w, v


def _fit(label: str, tables: Mapping[str, pd.DataFrame], errors: Mapping[str, pd.DataFrame],
         exclude: str, seed: int):
    if label == SHIPPED:
        return field.fit_field_prior(errors, exclude=exclude, seed=seed)
    return fit_separate(tables, exclude, seed)


def fit_shipped_all(tables: Mapping[str, pd.DataFrame], seed: int) -> dict:
    """``field._model`` on every sweep, keeping each sweep's ``z``, ``w``, ``v``."""
    table = pd.concat([t.assign(sweep=i) for i, t in enumerate(tables.values())],
                      ignore_index=True)
    kwargs = {"sweep_index": table["sweep"].to_numpy(), "weight": np.ones(len(table)),
              **{c: table[c].to_numpy(np.float64) for c in ("e", "sd", "d")},
              "drift": 1.0, "calibrate": 1.0, "spread": 1.0,
              "sweep_ids": np.arange(len(tables))}
    s, div = _nuts(field._model, kwargs, seed)
    return {"draws": s, "divergences": div}


def _loglik(label: str, t: pd.DataFrame, mu, tau, a_s, b, length) -> np.ndarray:
    """Log-likelihood of one sweep's errors for each row of the parameter arrays."""
    e, sd, d = (t[c].to_numpy(np.float64)[None, :] for c in ("e", "sd", "d"))
    lam = np.exp((a_s[:, None] + b[:, None] * np.log(sd / SD_REF)) * np.minimum(d, 1.0))
    resid = e - mu[:, None] * d
    if label == GP:
        cov = gp_covariance(d, squared_distances(t)[None], lam * sd, tau,
                            length[:, None, None], xp=np)
        return _mvn_one(resid, cov)[0]
    var = (lam * sd) ** 2 + (tau[:, None] * d) ** 2
    return -0.5 * np.sum(np.log(2 * np.pi * var) + resid ** 2 / var, axis=1)


def sweep_loglik(label: str, draws: Mapping[str, np.ndarray],
                 tables: Mapping[str, pd.DataFrame], latents: int, seed: int) -> np.ndarray:
    """``(draws, sweeps)`` ``log p(errors of sweep s | hyperparameters)``: the sweep's own
    ``(z, w, v)`` integrated out by ``latents`` fresh standard-normal draws (the same for
    every hyperparameter draw), so the weights do not hinge on one sweep's latent draws."""
    num = len(draws["m"])
    zs = np.random.default_rng(seed).standard_normal((3, latents))
    out = np.empty((num, len(tables)))
    chunk = max(1, 2 ** 22 // (latents * max(len(t) for t in tables.values()) ** 2))
    for j, t in enumerate(tables.values()):
        for start in range(0, num, chunk):
            sl = slice(start, min(start + chunk, num))
            h = {k: np.repeat(draws[k][sl], latents) for k in HYPER + (("l",) if label == GP
                                                                    else ())}
            z, w, v = (np.tile(x, sl.stop - sl.start) for x in zs)
            ll = _loglik(label, t, h["m"] + h["s_mu"] * z, np.exp(h["ell"] + h["s_tau"] * w),
                         h["a"] + h["s_a"] * v, h["b"], h.get("l"))
            ll = ll.reshape(sl.stop - sl.start, latents)
            top = ll.max(axis=1, keepdims=True)
            out[sl, j] = (top[:, 0] + np.log(np.mean(np.exp(ll - top), axis=1)))
    return out


def max_rhat(fit: dict, chains: int, keys: tuple[str, ...]) -> float:
    """Largest split R-hat over the hyperparameters ``keys`` (draws stored chain-major)."""
    from numpyro.diagnostics import split_gelman_rubin

    return max(float(split_gelman_rubin(fit["draws"][k].reshape(chains, -1))) for k in keys)


def importance_loso(label: str, fit: dict, tables: Mapping[str, pd.DataFrame], seed: int
                    ) -> dict[str, dict]:
    """Leave-one-sweep-out posteriors from one all-sweeps fit: weights
    ``1 / p(e_s | hyperparameters)`` (:func:`sweep_loglik`, integrated importance sampling),
    truncated at ``sqrt(S)`` times their mean (Ionides 2008), then resampled."""
    loglik = sweep_loglik(label, fit["draws"], tables, LATENTS, seed)
    keep = HYPER + (("l",) if label == GP else ())
    out = {}
    for j, name in enumerate(tables):
        w = np.exp(-(loglik[:, j] - loglik[:, j].min()))
        w = np.minimum(w, w.mean() * np.sqrt(len(w)))
        w /= w.sum()
        k = np.random.default_rng(seed + j).choice(len(w), size=len(w), p=w)
        out[name] = {"draws": {c: fit["draws"][c][k] for c in keep},
                     "divergences": fit["divergences"], "ess": float(1.0 / np.sum(w ** 2))}
    return out


def loso_fits(results: list[dict], seed: int, refit: bool = False,
              labels: tuple[str, ...] = (SHIPPED, SEPARATE, SHIPPED_IS, GP),
              shipped: Mapping[str, FieldPrior] | None = None) -> dict:
    """Every leave-one-sweep-out fit of the rows ``labels``, cached in ``$TMPDIR`` (one
    entry per fold and row, written as soon as it is done). ``shipped``: the shipped
    form's folds where the caller has them (``extrapolation.stage2``'s priors: the same
    call), so they are not fitted twice."""
    cache = Path(tempfile.gettempdir()) / f"bayes_scaling_variants_s{seed}.pkl"
    key = fingerprint(results)
    stored = pickle.loads(cache.read_bytes()) if cache.exists() and not refit else {}
    if stored.get("fingerprint") != key:
        stored = {"fingerprint": key, "fits": {}, "seconds": {}}
    tables = sweep_geometry(results)
    errors = {r["name"]: r["errors"] for r in results}
    for name, prior in (shipped or {}).items():
        if (name, SHIPPED) not in stored["fits"]:
            stored["fits"][name, SHIPPED] = prior
            stored["seconds"][name, SHIPPED] = float("nan")  # timed by the caller
    stored.setdefault("all", {})
    for label in [x for x in labels if x in (GP, SHIPPED_IS)]:
        if label not in stored["all"]:
            start = time.perf_counter()
            stored["all"][label] = (fit_gp(tables, "", seed) if label == GP
                                    else fit_shipped_all(tables, seed))
            stored["all"][label]["seconds"] = time.perf_counter() - start
            cache.write_bytes(pickle.dumps(stored))
        fit = stored["all"][label]
        for name, row in importance_loso(label, fit, tables, seed).items():
            stored["fits"][name, label] = row
            stored["seconds"][name, label] = fit["seconds"] / len(tables)  # one fit for all
    for label in [x for x in labels if x not in (GP, SHIPPED_IS)]:
        for name in tables:
            if (name, label) in stored["fits"]:
                continue
            start = time.perf_counter()
            stored["fits"][name, label] = _fit(label, tables, errors, name, seed)
            stored["seconds"][name, label] = time.perf_counter() - start
            cache.write_bytes(pickle.dumps(stored))
            print(f"{name}, {label}: {stored['seconds'][name, label]:.0f} s", file=sys.stderr)
    return stored


# ---------------------------------------------------------------- scores


def band_draws(label: str, fit, r: dict, t: pd.DataFrame, seed: int) -> np.ndarray:
    """The sweep's plain predictive draws with row ``label``'s discrepancy."""
    base, d = r["log_draws"], np.asarray(r["d"], dtype=np.float64)
    if label == SEPARATE:
        return apply_separate(population_separate(fit["draws"], NUM, seed), base, d,
                              t["d_N"].to_numpy(), t["d_D"].to_numpy(), seed + 3)
    prior = fit if isinstance(fit, FieldPrior) else as_field_prior(fit["draws"])
    return dsc.Discrepancy.from_field(prior, seed=seed).apply(base, d, seed + 3)


def scores(results: list[dict], stored: dict, seed: int) -> pd.DataFrame:
    """Per sweep and row: ``extrapolation.score`` of the leave-one-sweep-out bands."""
    tables = sweep_geometry(results)
    rows = []
    for r in results:
        for (name, label), fit in stored["fits"].items():
            if name != r["name"]:
                continue
            div = fit.provenance["divergences"] if isinstance(fit, FieldPrior) \
                else fit["divergences"]
            rows.append({"sweep": name, "row": label,
                         **ex.score(r["loss"], *ex.bands_from_log_draws(
                             band_draws(label, fit, r, tables[name], seed))),
                         "divergences": div, "seconds": stored["seconds"][name, label],
                         "ess": np.nan if isinstance(fit, FieldPrior) else fit.get("ess",
                                                                                   np.nan)})
    return pd.DataFrame(rows)


def inside_coverage(results: list[dict], stored: dict, seed: int) -> dict[str, float]:
    """Pooled 90% coverage of the held-out runs with ``d_N = d_D = 0`` (more compute than
    every fitted run, but neither more parameters nor more tokens) and of the others."""
    tables = sweep_geometry(results)
    hits = {(lab, z): [] for lab in (SHIPPED, SEPARATE) for z in (True, False)}
    for r in results:
        t = tables[r["name"]]
        zero = ((t["d_N"] == 0) & (t["d_D"] == 0)).to_numpy()
        for lab in (SHIPPED, SEPARATE):
            _, bands = ex.bands_from_log_draws(band_draws(lab, stored["fits"][r["name"], lab],
                                                          r, t, seed))
            covered = (r["loss"] >= bands[0.9][0]) & (r["loss"] <= bands[0.9][1])
            for z in (True, False):
                hits[lab, z].extend(covered[zero == z])
    return {"runs inside": len(hits[SHIPPED, True]), "runs beyond": len(hits[SHIPPED, False]),
            **{f"{'shipped' if lab == SHIPPED else 'separate'} {'inside' if z else 'beyond'}":
               float(np.mean(v)) for (lab, z), v in hits.items()}}


# ---------------------------------------------------------------- report


def _stage1(seed: int) -> list[dict]:
    cache = Path(tempfile.gettempdir()) / f"bayes_scaling_extrapolation_s{seed}.pkl"
    if not cache.exists():
        raise FileNotFoundError(f"{cache} not found: run benchmarks/extrapolation.py first "
                                f"(its stage 1 is the input here)")
    return pickle.loads(cache.read_bytes())


def _agg(sub: pd.DataFrame, ref: pd.Series | None, label: str) -> dict:
    ess = sub["ess"].dropna()
    return {"model": label, "mean 50% cov.": f"{sub['cov50'].mean():.3f}",
            "mean 90% cov.": f"{sub['cov90'].mean():.3f}",
            "lowest 90% cov.": f"{sub['cov90'].min():.2f}",
            "below / above": f"{sub['below'].mean():.3f} / {sub['above'].mean():.3f}",
            "interval score": f"{sub['interval_score'].mean():.4f}",
            "interval score better than the reference on": "" if ref is None else
            f"{int(np.sum(sub['interval_score'] < ref.loc[sub.index]))} of {len(sub)}",
            "divergences": int(sub["divergences"].iloc[0]) if len(ess) else
            int(sub["divergences"].sum()),
            "importance ESS (lowest fold)": f"{ess.min():.0f}" if len(ess) else "",
            "fit time": f"{sub['seconds'].sum():.0f} s" if sub["seconds"].notna().all()
            else "(stage 2 above)"}


def section(seed: int, results: list[dict] | None = None, refit: bool = False,
            labels: tuple[str, ...] = (SHIPPED, SEPARATE, SHIPPED_IS, GP),
            shipped: Mapping[str, FieldPrior] | None = None) -> list[str]:
    """Markdown lines of the measurement (fits from the cache, else computed).

    ``results``: ``extrapolation.py``'s stage 1 (default: its cache); ``shipped``: its
    leave-one-sweep-out field priors, if at hand (see :func:`loso_fits`).
    """
    results = _stage1(seed) if results is None else results
    stored = loso_fits(results, seed, refit, labels, shipped)
    table = scores(results, stored, seed)
    table = table[table["row"].isin(labels)]
    wide = table.set_index(["sweep", "row"])
    # Each row against the shipped form under the same approximation: the exact refits for
    # the separate distances, the importance-sampled folds for the GP.
    refs = {SEPARATE: SHIPPED, GP: SHIPPED_IS if SHIPPED_IS in labels else SHIPPED}
    agg = [_agg(wide.xs(label, level="row"),
                wide.xs(refs[label], level="row")["interval_score"] if label in refs else None,
                label) for label in labels]
    gp = stored.get("all", {}).get(GP) if GP in labels else None
    shipped_all = stored.get("all", {}).get(SHIPPED_IS) if SHIPPED_IS in labels else None
    out = ["", "## Discrepancy forms not shipped: separate distances and a Gaussian process",
           "", f"`python benchmarks/discrepancy_variants.py` (issue #15, item 1). Each form's "
           f"field prior is learnt leave-one-sweep-out from the stage-1 errors above, a new "
           f"sweep's parameters drawn from its population and applied to the plain predictive "
           f"draws; the first row is the shipped form fitted the same way (NUTS {CHAINS} "
           f"chains x ({WARMUP} + {DRAWS}) per fold, seed {seed}), as is the separate-distance "
           f"form: {SEPARATE_FORM} (decades of N and of D beyond the largest fitted run; a "
           f"held-out run with more compute but neither more parameters nor more tokens than "
           f"every fitted run has no distance in either). Gaussian process: a sweep's "
           f"held-out discrepancies correlated as {GP_FORM}; a new run's marginal band has "
           f"the shipped form. Its likelihood (a Cholesky factor per sweep and gradient) is "
           f"too slow here for a refit per fold, so it is fitted once on all sweeps"
           + (f" (NUTS {GP_NUTS['chains']} chains x ({GP_NUTS['warmup']} + "
              f"{GP_NUTS['draws']}), {gp['seconds']:.0f} s, largest split R-hat of its "
              f"hyperparameters {max_rhat(gp, GP_NUTS['chains'], HYPER + ('l',)):.3f})"
              if gp else "")
           + " and each fold's posterior is that fit importance-weighted by `1 / p(errors of "
           "the left-out sweep)` (truncated at sqrt(S) times the mean weight); the row "
           "`shipped form, importance-sampled` applies the same approximation to the shipped "
           "form"
           + (f" (its all-sweeps fit: NUTS {CHAINS} chains x ({WARMUP} + {DRAWS}), largest "
              f"split R-hat {max_rhat(shipped_all, CHAINS, HYPER):.3f})" if shipped_all else "")
           + ", so its distance from the first row is the approximation's error (the "
           "separate-distance row's reference is the first row). Averages weigh each sweep "
           "the same.", "", ex.markdown(pd.DataFrame(agg)), ""]
    per = table.pivot(index="sweep", columns="row")
    names = [r["name"] for r in results]
    short = {SHIPPED: "shipped", SEPARATE: "separate", SHIPPED_IS: "shipped (imp.)",
             GP: "GP (imp.)"}
    rows = []
    for name in names:
        row = {"sweep": name}
        for label in labels:
            row[f"{short[label]} 90% / 50% cov."] = (f"{per.loc[name, ('cov90', label)]:.2f}"
                                                     f" / {per.loc[name, ('cov50', label)]:.2f}")
            row[f"{short[label]} int. score"] = \
                f"{per.loc[name, ('interval_score', label)]:.4f}"
        rows.append(row)
    if SEPARATE in labels:
        c = inside_coverage(results, stored, seed)
        out += [f"Separate distances, where they differ: {c['runs inside']} of the "
                f"{c['runs inside'] + c['runs beyond']} held-out runs have more compute than "
                f"every fitted run of their sweep but neither more parameters nor more tokens "
                f"(`d_N = d_D = 0`: no drift and no scale there). Pooled 90% coverage on them: "
                f"separate {c['separate inside']:.2f}, shipped {c['shipped inside']:.2f}; on the "
                f"other runs separate {c['separate beyond']:.2f}, shipped "
                f"{c['shipped beyond']:.2f}.", ""]
    out += ["Per sweep (int. score: interval score of the 90% band, relative to the loss; "
            "imp.: importance-sampled folds):", "",
            ex.markdown(pd.DataFrame(rows)), ""]
    hyper = []
    for name in names:
        f = {label: stored["fits"][name, label] for label in labels}
        row = {"left out": name}
        if SHIPPED in f:
            row["m / exp(ell) (shipped)"] = (f"{np.median(f[SHIPPED].m):+.4f} / "
                                             f"{np.exp(np.median(f[SHIPPED].ell)):.4f}")
        if SEPARATE in f:
            med = {k: float(np.median(v)) for k, v in f[SEPARATE]["draws"].items()}
            row["m_N / m_D"] = f"{med['m_N']:+.4f} / {med['m_D']:+.4f}"
            row["exp(ell_N) / exp(ell_D)"] = (f"{np.exp(med['ell_N']):.4f} / "
                                              f"{np.exp(med['ell_D']):.4f}")
        for label in (SHIPPED_IS, GP):
            if label in f:
                row[f"{short[label]} ESS"] = f"{f[label]['ess']:.0f}"
        if GP in f:
            g = f[GP]["draws"]
            row["GP m / exp(ell)"] = (f"{np.median(g['m']):+.4f} / "
                                      f"{np.exp(np.median(g['ell'])):.4f}")
            row["GP l 5/50/95%"] = "/".join(f"{v:.2f}" for v in
                                            np.quantile(g["l"], [.05, .5, .95]))
        hyper.append(row)
    out += ["Posterior medians of the hyperparameters (drift means `m` per decade, scales "
            "`exp(ell)` per decade; the GP length scale `l` in decades of `x`, quantiles) and "
            "the importance folds' effective sample sizes:",
            "", ex.markdown(pd.DataFrame(hyper)), ""]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--refit", action="store_true", help="ignore the cached fits")
    parser.add_argument("--no-gp", action="store_true", help="skip the two importance rows")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    labels = (SHIPPED, SEPARATE) if args.no_gp else (SHIPPED, SEPARATE, SHIPPED_IS, GP)
    print("\n".join(section(args.seed, refit=args.refit, labels=labels)))
    print(f"({time.perf_counter() - start:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
