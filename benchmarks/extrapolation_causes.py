"""Two more candidate causes of the one-sided extrapolation misses (issue #15, item 4).

Same leave-one-sweep-out protocol as ``benchmarks/extrapolation.py``: every sweep of
:func:`bayes_scaling.extrapolation.field.field_sweeps` is split by
:func:`~bayes_scaling.extrapolation.field.split_sweep` (train: the lower 65% of its
log-compute range) and each option changes only the fit:

``broken law``
    ``law="broken_power_law"``: a smoothly broken power law of compute ``C`` with one
    break, placed inside the training runs' range (``BrokenPowerLaw``, BNSL form).
``stacking across law forms``
    the sweep's default law, the Kaplan law (where the default is Chinchilla), a power
    law of ``C`` and the broken law, all fitted to the same training runs, mixed with
    the stacking weights of :func:`bayes_scaling.compare_laws` (PSIS-LOO): the draws are
    split among the fits by a multinomial draw with those weights.

Each option's entry per sweep is ``{"log_draws": (draws, n_test), "d": decades beyond}``
like ``causes()`` of ``extrapolation.py``; ``extrapolation.py`` merges them into its
stage-1 results (:func:`add_to`), so its stage 2 scores them with the plain band and with
the field prior. Cached in ``$TMPDIR/bayes_scaling_extrapolation_causes2_s{seed}.pkl``.

Standalone::

    nice -n 10 python benchmarks/extrapolation_causes.py [--seed 0] [--refit]

fills the cache and prints the plain band of each option next to the default fit's plain
band (read from the stage-1 cache of ``extrapolation.py``, when it exists).
"""

from __future__ import annotations

import argparse
import pickle
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import bayes_scaling  # noqa: F401  (before JAX starts: host devices)
from bayes_scaling import compare_laws
from bayes_scaling import fit as fit_law
from bayes_scaling.data.datasets import shared_data_available
from bayes_scaling.extrapolation import discrepancy as dsc
from bayes_scaling.extrapolation import field

BROKEN = "broken law (one break in C)"
STACKED = "stacking across law forms (PSIS-LOO weights)"
#: The options of this module, in the order ``extrapolation.py`` lists them.
CAUSES2 = (BROKEN, STACKED)


def cache_path(seed: int) -> Path:
    """Where :func:`entries` keeps its fits' draws (one file per seed)."""
    return Path(tempfile.gettempdir()) / f"bayes_scaling_extrapolation_causes2_s{seed}.pkl"


def stack_laws(sweep: field.Sweep) -> tuple[str, ...]:
    """Laws stacked on a sweep: its default, Kaplan (Chinchilla sweeps), power law and
    broken law of C."""
    laws = [sweep.law] + (["kaplan"] if sweep.law == "chinchilla" else [])
    return tuple(laws + [law for law in ("power_law_C", "broken_power_law") if law not in laws])


def mixture_draws(draws: dict[str, np.ndarray], weights: dict[str, float], seed: int
                  ) -> np.ndarray:
    """Stacked predictive draws: ``S`` draws split among the fits by a multinomial draw
    with ``weights``; each fit gives that many of its own draws (without replacement
    when it has enough). ``S`` is the smallest number of draws among the fits."""
    names = list(draws)
    w = np.array([max(float(weights.get(n, 0.0)), 0.0) for n in names])
    total = min(v.shape[0] for v in draws.values())
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(total, w / w.sum())
    parts = [draws[n][rng.choice(draws[n].shape[0], size=c, replace=c > draws[n].shape[0])]
             for n, c in zip(names, counts, strict=True) if c]
    return np.concatenate(parts, axis=0)


def sweep_entries(sweep: field.Sweep, seed: int, nuts: dict) -> dict:
    """Fits of one sweep's training runs under every stacked law; the options' entries.

    Returns ``{"causes": {option: {"log_draws", "d"}}, "weights": {law: weight},
    "pareto_k_high": {law: runs}, "law_draws": {law: (draws, n_test)}, "default": law,
    "seconds": float}``.
    """
    start = time.perf_counter()
    train, test, _ = field.split_sweep(sweep.runs)
    sizes = {k: test[k].to_numpy(np.float64) for k in ("N", "D", "C")}
    fits, draws = {}, {}
    for law in stack_laws(sweep):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fits[law] = fit_law(train[["N", "D", "C", "loss"]], law=law, seed=seed,
                                warn=False, **nuts)
        draws[law] = dsc.log_predictive_draws(fits[law], sizes, seed + 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # high Pareto k is recorded below instead
        table = compare_laws(fits)
    weights = {law: float(table.loc[law, "weight"]) for law in fits}
    # Distance as the default fit measures it (C, or N for a single-input default), so the
    # field prior is applied on the scale it was learnt on.
    d_default = dsc.distance(fits[sweep.law], sizes)
    out = {BROKEN: {"log_draws": draws["broken_power_law"],
                    "d": dsc.distance(fits["broken_power_law"], sizes)},
           STACKED: {"log_draws": mixture_draws(draws, weights, seed + 2), "d": d_default}}
    return {"causes": out, "weights": weights,
            "pareto_k_high": {law: int(table.loc[law, "pareto_k_high"]) for law in fits},
            "law_draws": draws, "default": sweep.law, "seconds": time.perf_counter() - start}


def entries(seed: int, nuts: dict, refit: bool = False, verbose: bool = True) -> dict:
    """Every sweep's :func:`sweep_entries`, by sweep name; cached after each sweep."""
    cache = cache_path(seed)
    stored = pickle.loads(cache.read_bytes()) if cache.exists() and not refit else {}
    for sweep in field.field_sweeps():
        if sweep.name in stored:
            continue
        stored[sweep.name] = sweep_entries(sweep, seed, nuts)
        cache.write_bytes(pickle.dumps(stored))
        if verbose:
            print(f"{sweep.name}: causes2 {stored[sweep.name]['seconds']:.0f} s",
                  file=sys.stderr)
    return stored


def add_to(results: list[dict], seed: int, nuts: dict, refit: bool = False) -> list[str]:
    """Merge the options' entries into each stage-1 result's ``causes``; the section text
    that says what each option is (with the mean stacking weights computed here).
    ``refit`` ignores the cache."""
    stored = entries(seed, nuts, refit=refit)
    for r in results:
        r.setdefault("causes", {}).update(stored[r["name"]]["causes"])
    return describe(stored)


def mean_weights(stored: dict) -> pd.DataFrame:
    """Stacking weight of each law per sweep (0 where it was not stacked) and its mean."""
    frame = pd.DataFrame({name: v["weights"] for name, v in stored.items()}).T
    return frame.fillna(0.0)


def describe(stored: dict) -> list[str]:
    """Markdown lines that say what the two options are, from the computed weights."""
    w = mean_weights(stored)
    used = {law: int(sum(law in v["weights"] for v in stored.values())) for law in w.columns}
    high = {law: int(sum(v["pareto_k_high"].get(law, 0) for v in stored.values()))
            for law in w.columns}
    return ["", f"- `{BROKEN}`: `law=\"broken_power_law\"`, a smoothly broken power law of C "
            "(Caballero et al. 2022) with one break whose position is inside the training "
            "runs' range; every sweep.",
            f"- `{STACKED}`: per sweep, fits of the same training runs under "
            + ", ".join(f"{law} ({used[law]} of {len(w)} sweeps)" for law in w.columns)
            + ", mixed by `bayes_scaling.compare_laws` stacking weights (draws split by a "
            "multinomial draw); mean weight over the "
            f"{len(w)} sweeps (0 where a law was not stacked): "
            + ", ".join(f"{law} {w[law].mean():.2f}" for law in w.columns)
            + "; runs with high Pareto k summed over sweeps: "
            + ", ".join(f"{law} {high[law]}" for law in w.columns) + ".", ""]


def compare(stored: dict, stage1: list[dict] | None) -> pd.DataFrame:
    """Plain-band scores per sweep of each option and, where cached, the default fit."""
    import extrapolation as ex  # benchmarks/extrapolation.py (imports this module)

    rows = []
    reference = {r["name"]: r for r in stage1 or []}
    for name, v in stored.items():
        ref = reference.get(name)
        if ref is None:
            continue
        loss = ref["loss"]
        for cause, entry in v["causes"].items():
            rows.append({"sweep": name, "option": cause,
                         **ex.score(loss, *ex.bands_from_log_draws(entry["log_draws"]))})
        rows.append({"sweep": name, "option": "default fit",
                     **ex.score(loss, *ex.bands_from_log_draws(ref["log_draws"]))})
        for law, draws in v.get("law_draws", {}).items():  # each stacked law alone
            rows.append({"sweep": name, "option": f"law alone: {law}",
                         **ex.score(loss, *ex.bands_from_log_draws(draws))})
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    import extrapolation as ex  # benchmarks/extrapolation.py: NUTS settings and scores

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--refit", action="store_true")
    args = parser.parse_args(argv)
    if not shared_data_available():
        print("shared data folder not found (../shared/data or $BAYES_SCALING_DATA)",
              file=sys.stderr)
        return 1
    stored = entries(args.seed, ex.NUTS, refit=args.refit)
    print("\n".join(describe(stored)))
    print(mean_weights(stored).round(3).to_string())
    stage1_cache = Path(tempfile.gettempdir()) / f"bayes_scaling_extrapolation_s{args.seed}.pkl"
    if not stage1_cache.exists():
        print(f"no stage-1 cache {stage1_cache}: no scores", file=sys.stderr)
        return 0
    table = compare(stored, pickle.loads(stage1_cache.read_bytes()))
    cols = ["cov90", "cov50", "below", "above", "interval_score", "rel_error"]
    pd.set_option("display.width", 200)
    print("\nPer sweep (plain bands):")
    print(table.set_index(["sweep", "option"])[cols].round(4).to_string())
    print("\nAverages (each sweep the same weight; default fit on the same sweeps):")
    laws = sorted(o for o in table["option"].unique() if o.startswith("law alone: "))
    for cause in CAUSES2 + tuple(laws):
        sub = table[table["option"] == cause].set_index("sweep")
        ref = table[table["option"] == "default fit"].set_index("sweep").loc[sub.index]
        print(f"{cause}: sweeps {len(sub)}; mean 90% cov. {sub['cov90'].mean():.3f} "
              f"({ref['cov90'].mean():.3f}); min {sub['cov90'].min():.2f} "
              f"({ref['cov90'].min():.2f}); mean 50% cov. {sub['cov50'].mean():.3f} "
              f"({ref['cov50'].mean():.3f}); below/above {sub['below'].mean():.2f}/"
              f"{sub['above'].mean():.2f} ({ref['below'].mean():.2f}/"
              f"{ref['above'].mean():.2f}); interval score {sub['interval_score'].mean():.4f} "
              f"({ref['interval_score'].mean():.4f}); rel. error "
              f"{100 * sub['rel_error'].mean():.2f}% ({100 * ref['rel_error'].mean():.2f}%); "
              f"interval score below the default's on "
              f"{int(np.sum(sub['interval_score'] < ref['interval_score']))} of {len(sub)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
