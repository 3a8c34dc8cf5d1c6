"""N_opt backtest of ``benchmarks/extrapolation.py``: held-out iso-FLOP minima against the
plain N_opt interval and the allocation discrepancy (leave-one-sweep-out).

Imported by ``benchmarks/extrapolation.py`` (which writes ``EXTRAPOLATION.md``); kept
apart so the loss and the allocation parts can change independently.
"""

from __future__ import annotations

import pickle
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import bayes_scaling  # noqa: F401  (before JAX starts: host devices)
from bayes_scaling.extrapolation import allocation_field, field
from bayes_scaling.models import allocation_discrepancy as ad


def stage(seed: int, nuts: dict, refit: bool = False) -> dict:
    """Fits of every iso-FLOP sweep on its lower 65%: vertex residuals and N_opt draws.

    Cached next to stage 1 (``bayes_scaling_extrapolation_nopt_s{seed}.pkl``).
    """
    cache = Path(tempfile.gettempdir()) / f"bayes_scaling_extrapolation_nopt_s{seed}.pkl"
    if cache.exists() and not refit:
        return pickle.loads(cache.read_bytes())
    from bayes_scaling import fit as fit_law

    out = {}
    for sweep in field.field_sweeps():
        if not sweep.isoflop:
            continue
        train, test, _ = field.split_sweep(sweep.runs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fitted = fit_law(train[["N", "D", "C", "loss"]], law=sweep.law, seed=seed,
                             warn=False, **nuts)
        res = allocation_field.sweep_vertex_residuals(fitted, train, test)
        held = res[res["held_out"]]
        log_n = np.log(fitted.allocation_draws(held["C"].to_numpy(np.float64))["N_opt"]) \
            if len(held) else np.zeros((0, 0))
        out[sweep.name] = {"residuals": res, "log_n": log_n}
        print(f"{sweep.name}: {len(res)} vertices ({len(held)} held out)", file=sys.stderr)
    cache.write_bytes(pickle.dumps(out))
    return out


NOPT_ROWS = ("plain posterior interval", "field prior", "field prior + own in-range minima",
             "no drift: field prior", "no drift: field prior + own in-range minima")


def score(log_vertex: np.ndarray, draws: np.ndarray) -> dict:
    """Coverage, below/above, median |log10 ratio| and interval score (90%, log10 N)."""
    lo, mid, hi = np.quantile(draws, [0.05, 0.5, 0.95], axis=0) / np.log(10)
    v = log_vertex / np.log(10)
    miss = np.maximum(lo - v, 0) + np.maximum(v - hi, 0)
    return {"cov90": float(np.mean((v >= lo) & (v <= hi))), "below": float(np.mean(v < lo)),
            "above": float(np.mean(v > hi)), "abs_log10": float(np.median(np.abs(mid - v))),
            "width": float(np.median(hi - lo)),
            "interval_score": float(np.mean((hi - lo) + 20.0 * miss))}


def stage2(nopt: dict, seed: int) -> tuple[pd.DataFrame, dict]:
    """Leave-one-sweep-out N_opt backtest: plain, field prior, field prior + own minima."""
    residuals = {k: v["residuals"] for k, v in nopt.items()}
    rows, priors = [], {}
    for name, v in nopt.items():
        res = v["residuals"]
        held, own = res[res["held_out"]], res[~res["held_out"]]
        if not len(held):
            rows.append({"sweep": name, "row": NOPT_ROWS[0], "budgets": 0, "in-range minima":
                         len(own)})
            continue
        prior = allocation_field.fit_allocation_prior(residuals, exclude=name, seed=seed)
        flat = allocation_field.fit_allocation_prior(residuals, exclude=name, seed=seed,
                                                     drift=False)
        priors[name] = prior
        log_v, d = np.log(held["N_vertex"].to_numpy(np.float64)), held["d"].to_numpy()
        base = v["log_n"]
        variants = {NOPT_ROWS[0]: None,
                    NOPT_ROWS[1]: ad.AllocationDiscrepancy.from_field(prior, seed=seed),
                    NOPT_ROWS[2]: ad.update_with_vertices(prior, own, seed=seed) if len(own)
                    else ad.AllocationDiscrepancy.from_field(prior, seed=seed,
                                                             note="no in-range minima"),
                    NOPT_ROWS[3]: ad.AllocationDiscrepancy.from_field(flat, seed=seed),
                    NOPT_ROWS[4]: ad.update_with_vertices(flat, own, seed=seed) if len(own)
                    else ad.AllocationDiscrepancy.from_field(flat, seed=seed,
                                                             note="no in-range minima")}
        for label, disc in variants.items():
            draws = base if disc is None else base + disc.draws(d, base.shape[0], seed + 3)
            rows.append({"sweep": name, "row": label, "budgets": len(held),
                         "in-range minima": len(own), **score(log_v, draws),
                         "note": "" if disc is None else disc.note})
    return pd.DataFrame(rows), priors



def section(nopt: dict | None, nopt_table: pd.DataFrame | None, nopt_priors: dict | None,
            level: float, markdown) -> list[str]:
    """The report's N_opt section (markdown lines), formatted from the computed values."""
    out: list[str] = []
    reach = max((p.reach for p in (nopt_priors or {}).values()), default=float("nan"))
    scored_d = max((float(v["residuals"]["d"].max()) for v in (nopt or {}).values()
                    if len(v["residuals"])), default=float("nan"))
    out += ["", "## N_opt backtest against held-out iso-FLOP minima", "",
            "Iso-FLOP sweeps: "
            + ", ".join(n for n, v in (nopt or {}).items() if len(v["residuals"]))
            + " (no vertex: " + ", ".join(n for n, v in (nopt or {}).items()
                                          if not len(v["residuals"]))
            + "; the other sweeps are not laid out on iso-FLOP budgets). Each budget with at "
            f"least {ad.MIN_VERTEX_RUNS} runs gets an empirical N_opt (vertex of a parabola of "
            "log-loss in log N, kept when inside its runs). The fit on the lower part of the "
            "range (the protocol above) gives N_opt's interval at each held-out budget: the "
            "plain posterior interval (`optimal_allocation(..., extrapolation=\"none\")`), and "
            "with the allocation discrepancy of `bayes_scaling.models.allocation_discrepancy` "
            "learnt leave-one-sweep-out from the other sweeps' vertices (field prior), alone or "
            "updated by the sweep's own vertices inside its fitted range. `no drift` rows fix "
            f"the drift per decade at zero (the drift is held at its value at the farthest "
            f"held-out distance of the field, {reach:.2f} decades; the farthest scored budget "
            f"is at {scored_d:.2f}). Metrics in log10 N for the central interval of mass "
            f"{level}: coverage, share of vertices below/above it, median |log10(median "
            "N_opt / vertex)|, median width, and the interval score (width + 2/alpha x miss, "
            "mean over budgets; lower is better).", ""]
    if nopt_table is None or not len(nopt_table):
        out.append("(no iso-FLOP sweep)")
    else:
        fmt = nopt_table.copy()
        fmt["note"] = fmt["note"].fillna("") if "note" in fmt else ""
        for c in ("cov90", "below", "above"):
            fmt[c] = fmt[c].map(lambda v: "" if not np.isfinite(v) else f"{v:.2f}")
        for c in ("abs_log10", "width", "interval_score"):
            fmt[c] = fmt[c].map(lambda v: "" if not np.isfinite(v) else f"{v:.3f}")
        scored = nopt_table.dropna(subset=["cov90"])
        agg = [{"method": row, "sweeps": int((scored["row"] == row).sum()),
                "held-out budgets": int(scored.loc[scored["row"] == row, "budgets"].sum()),
                "mean 90% cov.": f"{scored.loc[scored['row'] == row, 'cov90'].mean():.2f}",
                "min 90% cov.": f"{scored.loc[scored['row'] == row, 'cov90'].min():.2f}",
                "below / above": f"{scored.loc[scored['row'] == row, 'below'].mean():.2f} / "
                                 f"{scored.loc[scored['row'] == row, 'above'].mean():.2f}",
                "median abs log10 ratio": f"{scored.loc[scored['row'] == row, 'abs_log10'].mean():.3f}",
                "median width (log10)": f"{scored.loc[scored['row'] == row, 'width'].mean():.3f}",
                "interval score": f"{scored.loc[scored['row'] == row, 'interval_score'].mean():.3f}"}
               for row in NOPT_ROWS]
        out += ["Averages over sweeps (each sweep weighs the same):", "",
                markdown(pd.DataFrame(agg)), ""]
        means = scored.groupby("row")["interval_score"].mean()
        best = means.drop(NOPT_ROWS[0]).idxmin()
        shipped = {"field prior": NOPT_ROWS[1], "field + own": NOPT_ROWS[2]}[ad.DEFAULT_VARIANT]
        out += [f"Best interval score among the discrepancy variants: {best} "
                f"({means[best]:.3f}; plain {means[NOPT_ROWS[0]]:.3f}). The shipped default of "
                f"`optimal_allocation(..., extrapolation=\"field\")` is: {shipped}"
                f"{'' if shipped == best else ' (not the best here: see the module docstring)'}. "
                f"A fit without in-range iso-FLOP minima gets the field prior alone (its "
                f"`band` column says so).", "", "Per sweep:", "",
                markdown(fmt.rename(columns={"row": "method", "cov90": "90% cov.",
                                             "abs_log10": "median abs log10 ratio",
                                             "width": "median width (log10)",
                                             "interval_score": "interval score"})), ""]
        rows = []
        for name, p in nopt_priors.items():
            q = {k: np.quantile(getattr(p, k), [0.05, 0.5, 0.95]) for k in
                 ("m", "s_nu", "sigma", "tau", "g")}
            rows.append({"left out": name, **{k: "/".join(f"{x:+.3f}" for x in v)
                                             for k, v in q.items()},
                         "divergences": p.provenance["divergences"]})
        out += ["Allocation field prior, leave-one-sweep-out fits: 5/50/95% posterior "
                "quantiles of the offset mean `m` and SD `s_nu` (ln N), vertex scatter "
                "`sigma`, its growth per decade `tau` and the drift per decade `g`.", "",
                markdown(pd.DataFrame(rows)), ""]
    return out


def write_prior(nopt: dict, seed: int, provenance: dict) -> str:
    """Fit the all-sweeps allocation field prior and write the package data file."""
    prior = allocation_field.fit_allocation_prior(
        {k: v["residuals"] for k, v in nopt.items()}, seed=seed,
        provenance={**provenance,
                    "script": "benchmarks/extrapolation.py --write-allocation-prior",
                    "vertex_rule": "iso-FLOP budgets with >= 5 runs, parabola vertex of log "
                                   "loss in log N inside the budget's runs"})
    return allocation_field.write_allocation_prior(prior)
