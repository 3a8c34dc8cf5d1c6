"""Priors from published fits, prior predictive checks and prior-data conflict.

A *literature prior* turns a published fit into NumPyro distributions for the
parameters of a law, selectable by name::

    bs.fit(runs, law="chinchilla", priors="literature:chinchilla")
    bs.fit(runs, priors=("literature:chinchilla", {"E": dist.LogNormal(0.5, 0.3)}))

==========================  ===============================================================
``literature:chinchilla``    Besiroglu et al. (2024) refit of Chinchilla Approach 3
``literature:kaplan``        Kaplan et al. (2020) exponents (critical scales not applied)
``literature:datablations``  Muennighoff et al. (2023), C4: Chinchilla form and R_D*, R_N*
``literature:deepseek``      DeepSeek LLM (2024) hyperparameter laws (plain numbers)
``literature:porian``        Porian et al. (2024) allocation exponent (plain numbers)
==========================  ===============================================================

:func:`list_literature_priors` prints the whole catalogue as a table.

Inflation rule
--------------
Published standard errors describe the authors' own runs. A new setup differs
in tokeniser, data mixture, loss definition (nats per token of *which*
tokeniser, train or validation loss), parameter counting (embeddings or not)
and FLOP accounting, and every published interval of this literature that was
checked turned out too narrow (Besiroglu et al. 2024 on Hoffmann et al. 2022).
These differences shift the irreducible loss ``E`` and the offsets (``A``,
``B``, critical scales) much more than the exponents, which are properties of
the scaling itself. So every positive parameter ``theta`` with published value
``v`` and standard error ``se`` gets

.. math:: \\log\\theta \\sim \\mathcal N\\big(\\log v,\\; s^2\\big), \\qquad
          s = \\max\\big(k\\, se / v,\\; s_{\\min}(\\text{kind})\\big), \\quad k = 3

(a LogNormal with median ``v``): three times the published relative error, but
never narrower than a floor by kind (:data:`SPREAD_FLOORS`): exponents 0.15
(90% of the mass within a factor 1.28 of ``v``: moderately informative), the
irreducible loss 0.25 (factor 1.5), offsets and critical scales 1.0 (factor
5.2: wide, they carry the unit conventions), data-repetition constants 1.0
(weakly identified even in the original fit). Signed numbers (the DeepSeek
learning-rate exponent) get ``Normal(v, max(k se, floor))``.

Prior predictive and conflict
-----------------------------
:func:`prior_predictive` draws the loss curves a prior implies at a table's
runs (or any N/D/C points) before seeing their losses;
:func:`bayes_scaling.plotting_priors.plot_prior_predictive` draws them.
:func:`prior_data_conflict` checks, after a fit, whether the data contradict
an informative prior; :func:`bayes_scaling.fit` calls it whenever ``priors=``
was given and emits :class:`~bayes_scaling.diagnostics.PriorDataConflictWarning`.

References
----------
Besiroglu, Erdil, Barnett & You (2024), "Chinchilla Scaling: A replication
attempt", arXiv:2404.10102.
Kaplan et al. (2020), "Scaling Laws for Neural Language Models", arXiv:2001.08361.
Muennighoff et al. (2023), "Scaling Data-Constrained Language Models", NeurIPS.
DeepSeek-AI (2024), "DeepSeek LLM: Scaling Open-Source Language Models with
Longtermism", arXiv:2401.02954.
Porian, Wortsman, Jitsev, Schmidt & Carmon (2024), "Resolving Discrepancies in
Compute-Optimal Scaling of Language Models", NeurIPS, arXiv:2406.19146.
Evans & Moshonov (2006), "Checking for Prior-Data Conflict", Bayesian Analysis 1(4).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist

from ._lazy import lazy_import
from .laws import Design, Law, get_law

pd = lazy_import("pandas")

if TYPE_CHECKING:
    from .fit import ScalingFit

__all__ = [
    "LiteraturePrior", "LITERATURE_PRIORS", "SPREAD_FLOORS", "INFLATION",
    "literature_priors", "list_literature_priors", "resolve_priors",
    "PriorPredictive", "prior_predictive", "prior_data_conflict", "check_prior_data_conflict",
]

#: Multiplier of the published (relative) standard error.
INFLATION = 3.0
#: Smallest log-scale spread by kind of parameter (see the module docstring).
SPREAD_FLOORS: Mapping[str, float] = MappingProxyType({
    "exponent": 0.15,
    "irreducible": 0.25,
    "offset": 1.0,
    "repetition": 1.0,
    "signed": 0.05,  # absolute SD of a Normal, for signed exponents
})
_PREFIX = "literature:"


@dataclass(frozen=True)
class LiteraturePrior:
    """One catalogue entry: published numbers, their source and the prior built from them.

    Attributes
    ----------
    name : str
        Catalogue key, e.g. ``"literature:chinchilla"``.
    citation : str
        Where the numbers come from (table, equation or data release).
    values : mapping
        Published point estimates, keyed by parameter name.
    std_errors : mapping
        Published standard errors (``None`` where none was published).
    kinds : mapping
        ``"exponent"``, ``"irreducible"``, ``"offset"``, ``"repetition"`` or
        ``"signed"``: chooses the floor of the spread (:data:`SPREAD_FLOORS`).
    laws : tuple of str
        Registry names of the laws whose parameters the entry sets.
    conventions : str
        Units and conventions of the published fit (what a new setup must match).
    notes : str
        Caveats.
    extra : mapping
        Structured numbers that are not law parameters (hyperparameter laws).
    """

    name: str
    citation: str
    values: Mapping[str, float]
    std_errors: Mapping[str, float | None]
    kinds: Mapping[str, str]
    laws: tuple[str, ...] = ()
    conventions: str = ""
    notes: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    def spread(self, param: str) -> float:
        """Log-scale SD (absolute SD for ``"signed"``) of the prior of ``param``."""
        value, se, kind = self.values[param], self.std_errors.get(param), self.kinds[param]
        floor = SPREAD_FLOORS[kind]
        if se is None:
            return floor
        scaled = INFLATION * se if kind == "signed" else INFLATION * se / abs(value)
        return max(scaled, floor)

    def distribution(self, param: str) -> dist.Distribution:
        """The prior of ``param``: LogNormal with median at the published value (Normal if signed)."""
        value, scale = self.values[param], self.spread(param)
        if self.kinds[param] == "signed":
            return dist.Normal(value, scale)
        return dist.LogNormal(math.log(value), scale)

    def distributions(self) -> dict[str, dist.Distribution]:
        """Priors of every parameter of the entry, whatever law uses them."""
        return {name: self.distribution(name) for name in self.values}


def _entry(name, citation, rows, **kwargs) -> LiteraturePrior:
    """Build an entry from ``{param: (value, se, kind)}``."""
    return LiteraturePrior(
        name=name, citation=citation,
        values=MappingProxyType({k: v[0] for k, v in rows.items()}),
        std_errors=MappingProxyType({k: v[1] for k, v in rows.items()}),
        kinds=MappingProxyType({k: v[2] for k, v in rows.items()}), **kwargs)


#: The catalogue: name -> :class:`LiteraturePrior`.
LITERATURE_PRIORS: Mapping[str, LiteraturePrior] = MappingProxyType({e.name: e for e in (
    _entry(
        "literature:chinchilla",
        "Besiroglu et al. (2024), Chinchilla Scaling: A replication attempt, Table 1: Huber "
        "(delta 1e-3) fit of log-loss on the 240 runs digitised from Hoffmann et al. (2022) "
        "Fig. 4; standard errors from their bootstrap.",
        {"E": (1.817, 0.026, "irreducible"), "A": (482.01, 124.52, "offset"),
         "alpha": (0.348, 0.015, "exponent"), "B": (2085.43, 1293.28, "offset"),
         "beta": (0.366, 0.021, "exponent")},
        laws=("chinchilla", "data_constrained"),
        conventions="N: total parameters; D: training tokens; C = 6ND; loss: final training "
                    "loss in nats per token (MassiveText, SentencePiece tokeniser).",
        notes="Never use Hoffmann et al.'s own intervals: Besiroglu et al. show they are "
              "implausibly narrow. Allocation exponent a = beta/(alpha+beta) = 0.513 (SE 0.020).",
    ),
    _entry(
        "literature:kaplan",
        "Kaplan et al. (2020), Scaling Laws for Neural Language Models, Table 2 / Eq. 1.5: "
        "L(N, D) = ((N_c/N)^(alpha_N/alpha_D) + D_c/D)^alpha_D; no standard errors published.",
        {"alpha_N": (0.076, None, "exponent"), "N_c": (8.8e13, None, "offset"),
         "alpha_D": (0.095, None, "exponent"), "D_c": (5.4e13, None, "offset")},
        laws=("kaplan",),
        conventions="N: non-embedding parameters; D: tokens (WebText2, byte-level BPE); "
                    "loss in nats per token; C ~ 6N per token, attention term dropped.",
        notes="The kaplan law samples each term's log-loss at the design centre and does not "
              "accept priors on N_c or D_c, so only alpha_N and alpha_D are applied.",
    ),
    _entry(
        "literature:datablations",
        "Muennighoff et al. (2023), Scaling Data-Constrained Language Models, Sec. 3 / App.: "
        "Chinchilla-form fit on C4 (alpha = beta tied) and the repetition constants fitted "
        "with those coefficients fixed; no standard errors published.",
        {"E": (1.869, None, "irreducible"), "A": (520.8, None, "offset"),
         "alpha": (0.3527, None, "exponent"), "B": (1487.7, None, "offset"),
         "beta": (0.3527, None, "exponent"), "R_D_star": (15.39, None, "repetition"),
         "R_N_star": (5.31, None, "repetition")},
        laws=("chinchilla", "data_constrained"),
        conventions="N: parameters including embeddings; D: total tokens; U: unique tokens; "
                    "loss: final validation loss on C4 (GPT-2 tokeniser), nats per token.",
        notes="R_D* and R_N* are weakly identified (another optimum near R_D* ~ 95, "
              "R_N* ~ 1.7); their wide prior does not rule it out.",
    ),
    _entry(
        "literature:deepseek",
        "DeepSeek-AI (2024), DeepSeek LLM, Sec. 3.1, Eq. 1: eta_opt = 0.3118 C^-0.1250, "
        "B_opt = 0.2920 C^0.3271; no standard errors published.",
        {"lr_coefficient": (0.3118, None, "offset"), "lr_exponent": (-0.125, None, "signed"),
         "batch_coefficient": (0.2920, None, "offset"),
         "batch_exponent": (0.3271, None, "signed")},
        conventions="C = M D with M the non-embedding FLOPs per token (attention included) "
                    "and D tokens; batch size in tokens; AdamW with a multi-step schedule.",
        notes="Hyperparameter laws, not loss laws: no law of the registry has these "
              "parameters. Use .extra['hyperparameter_laws'] or literature_priors(name) "
              "(law=None) for the distributions.",
        extra=MappingProxyType({"hyperparameter_laws": MappingProxyType({
            "lr_opt": MappingProxyType({"coefficient": 0.3118, "exponent": -0.125,
                                        "input": "C", "params": ("lr_coefficient",
                                                                 "lr_exponent")}),
            "batch_opt": MappingProxyType({"coefficient": 0.2920, "exponent": 0.3271,
                                           "input": "C", "params": ("batch_coefficient",
                                                                    "batch_exponent")}),
        })}),
    ),
    _entry(
        "literature:porian",
        "Porian et al. (2024), Resolving Discrepancies in Compute-Optimal Scaling of Language "
        "Models (NeurIPS 2024): with last-layer FLOPs counted, short warm-up and size-tuned "
        "AdamW, N_opt ~ C^a agrees with Hoffmann et al.'s a ~ 0.5; their reproduction of "
        "Kaplan et al.'s setup gives a ~ 0.88.",
        {"a": (0.5, None, "exponent")},
        conventions="a: exponent of the compute-optimal model size, N_opt proportional to C^a.",
        notes="Only the rounded headline values (a ~ 0.5 corrected, ~0.88 in the Kaplan "
              "setup) could be verified from the paper's abstract and summaries; the exact "
              "per-dataset exponents, their intervals and the paper's learning-rate and "
              "batch-size laws were NOT verified and are not included. a is a derived "
              "quantity (beta/(alpha+beta) in the Chinchilla form), not a law parameter.",
        extra=MappingProxyType({"a_kaplan_setup": 0.88}),
    ),
)})


def _entry_named(name: str) -> LiteraturePrior:
    if not isinstance(name, str) or name not in LITERATURE_PRIORS:
        raise ValueError(f"unknown literature prior {name!r}; choose one of "
                         f"{sorted(LITERATURE_PRIORS)} (see bs.priors.list_literature_priors())")
    return LITERATURE_PRIORS[name]


def _probe_design(law: Law) -> dict[str, Any]:
    log_centre = {k: 20.0 for k in ("N", "D", "C", "U")}
    return Design(log_centre=log_centre, log_loss_centre=1.0, min_loss=2.0).as_arrays()


def _trace_params(law: Law, design: Mapping[str, Any], priors: Mapping[str, Any]) -> dict:
    """Trace ``law.sample_params`` once (flat sites pinned at 0: they cannot be sampled)."""
    from numpyro import handlers

    def pin_flat(site: dict) -> Any:
        return 0.0 if isinstance(site["fn"], dist.ImproperUniform) else None

    with handlers.trace() as tr, handlers.seed(rng_seed=0), \
            handlers.substitute(substitute_fn=pin_flat):
        law.sample_params(design, priors)
    return tr


def _honoured(law: Law, param: str, prior: dist.Distribution) -> bool:
    """Does ``law.sample_params`` use a prior given under ``param``? (traced once, no data)."""
    trace = _trace_params(law, _probe_design(law), {param: prior})
    return any(site.get("fn") is prior or name == f"{param}_prior" for name, site in trace.items())


def literature_priors(name: str, law: str | Law | None = None) -> dict[str, dist.Distribution]:
    """Priors of catalogue entry ``name`` for the parameters ``law`` has.

    Parameters
    ----------
    name : str
        A key of :data:`LITERATURE_PRIORS`, e.g. ``"literature:chinchilla"``.
    law : str, Law or None
        Keep only parameters this law has *and* accepts priors on (a parameter
        of the entry that the law lacks, such as ``R_D_star`` for the
        chinchilla law, is left out). ``None``: every parameter of the entry.

    Returns
    -------
    dict
        ``{parameter: numpyro distribution}`` (see the inflation rule in the
        module docstring).

    Raises
    ------
    ValueError
        Unknown name (the message lists the catalogue), or an entry that sets
        none of the law's parameters.

    Examples
    --------
    >>> priors = literature_priors("literature:chinchilla", "chinchilla")
    >>> sorted(priors)
    ['A', 'B', 'E', 'alpha', 'beta']
    """
    entry = _entry_named(name)
    all_priors = entry.distributions()
    if law is None:
        return all_priors
    law = get_law(law)
    known = set(law.param_names)
    out = {p: d for p, d in all_priors.items() if p in known and _honoured(law, p, d)}
    if not out:
        raise ValueError(
            f"{name} sets none of the {law.name} law's parameters {list(law.param_names)} "
            f"(it has {list(entry.values)}; made for laws {list(entry.laws) or 'none'}). "
            f"Pass law=None for its distributions, or choose another entry.")
    return out


def list_literature_priors() -> pd.DataFrame:
    """The catalogue as a table: one row per (entry, parameter).

    Columns: ``name``, ``parameter``, ``value`` (published), ``std_error``
    (published, NaN if none), ``kind``, ``spread`` (log-scale SD, absolute for
    signed), ``prior``, ``lower_90``/``upper_90`` (the prior's 90% interval),
    ``laws`` and ``citation``.
    """
    rows = []
    for entry in LITERATURE_PRIORS.values():
        for param, value in entry.values.items():
            scale = entry.spread(param)
            if entry.kinds[param] == "signed":
                text = f"Normal({value:g}, {scale:.3g})"
                lo, hi = value - 1.6449 * scale, value + 1.6449 * scale
            else:
                text = f"LogNormal(log {value:g}, {scale:.3g})"
                lo, hi = value * math.exp(-1.6449 * scale), value * math.exp(1.6449 * scale)
            se = entry.std_errors.get(param)
            rows.append({"name": entry.name, "parameter": param, "value": value,
                         "std_error": np.nan if se is None else se, "kind": entry.kinds[param],
                         "spread": scale, "prior": text, "lower_90": lo, "upper_90": hi,
                         "laws": ", ".join(entry.laws), "citation": entry.citation})
    return pd.DataFrame(rows)


def resolve_priors(law: Law, priors: Any) -> dict[str, dist.Distribution]:
    """``priors=`` as given to :func:`bayes_scaling.fit` -> ``{param: distribution}``.

    Accepts ``None``, a mapping, a catalogue name (``"literature:chinchilla"``)
    or a tuple/list of these, merged left to right (later ones win), e.g.
    ``("literature:chinchilla", {"E": dist.LogNormal(0.4, 0.3)})``.
    """
    if priors is None:
        return {}
    if isinstance(priors, str):
        return literature_priors(priors, law)
    if isinstance(priors, Mapping):
        return dict(priors)
    if isinstance(priors, Sequence):
        merged: dict[str, dist.Distribution] = {}
        for part in priors:
            if not isinstance(part, (str, Mapping)):
                raise TypeError("priors=(...) must hold catalogue names and mappings, got "
                                f"{type(part).__name__}")
            merged.update(resolve_priors(law, part))
        return merged
    raise TypeError("priors must be a mapping {parameter: distribution}, a catalogue name "
                    f"such as 'literature:chinchilla' or a tuple of these, got "
                    f"{type(priors).__name__}")


# ---------------------------------------------------------------- prior predictive
@dataclass(frozen=True, eq=False)
class PriorPredictive:
    """Loss curves implied by a prior at given points, before their losses are seen.

    Attributes
    ----------
    law : Law
    points : pandas.DataFrame
        ``N``, ``D``, ``C`` (where known) of the points, plus ``loss`` when the
        points are runs with observed losses.
    curve_draws : ndarray, shape (num_draws, num_points)
        Loss curve ``L(N, D)`` per prior draw (no observation noise).
    loss_draws : ndarray, shape (num_draws, num_points)
        A new run's loss per draw (observation noise added).
    params : dict
        Prior draws of the law's parameters and the noise parameters.
    level : float
    """

    law: Law
    points: pd.DataFrame
    curve_draws: np.ndarray
    loss_draws: np.ndarray
    params: dict[str, np.ndarray]
    level: float

    def bands(self, level: float | None = None) -> pd.DataFrame:
        """One row per point: ``median``, ``lower``/``upper`` of the curve and
        ``pred_lower``/``pred_upper`` of a new run's loss (equal-tailed), and,
        where losses were given, ``inside`` (the observed loss is in the predictive band)."""
        level = self.level if level is None else level
        tail = (1 - level) / 2
        out = self.points.copy()
        lower, median, upper = np.quantile(self.curve_draws, [tail, 0.5, 1 - tail], axis=0)
        out["median"], out["lower"], out["upper"] = median, lower, upper
        out["pred_lower"], out["pred_upper"] = np.quantile(self.loss_draws, [tail, 1 - tail],
                                                           axis=0)
        if "loss" in out:
            out["inside"] = (out["pred_lower"] <= out["loss"]) & (out["loss"] <= out["pred_upper"])
        out["level"] = level
        return out


def _points_and_design(law: Law, data: Any, flops_factor: float, typical_loss: float | None):
    from .data import RunsTable, load_runs
    from .fit import _design_for, _law_inputs

    has_loss = isinstance(data, RunsTable) or (
        isinstance(data, pd.DataFrame) and "loss" in data.columns) or isinstance(data, str)
    if has_loss:
        runs = data if isinstance(data, RunsTable) else load_runs(data, flops_factor=flops_factor)
        runs.require(law.inputs, min_runs=1, law=f"{law.name} law")
        design = _design_for(runs, law)
        if typical_loss is not None:
            design = Design(design.log_centre, math.log(typical_loss), typical_loss)
        points = pd.DataFrame({k: runs.column(k) for k in ("N", "D", "C")
                               if k in runs.frame.columns})
        points["loss"] = runs.loss
        return points, design
    if not isinstance(data, pd.DataFrame):
        raise TypeError("data must be a runs table (with a loss column) or a DataFrame of "
                        f"N/D/C points, got {type(data).__name__}")
    if typical_loss is None or not typical_loss > 0:
        raise ValueError("points without a loss column need typical_loss= (a positive loss "
                         "of the order the runs will reach): the default priors of E and of "
                         "the offsets are scaled by it")
    sizes = {k: data[k].to_numpy(dtype=float) if k in data else None for k in ("N", "D", "C")}
    flat = _law_inputs(law, sizes["N"], sizes["D"], sizes["C"], flops_factor)
    points = pd.DataFrame(flat)
    log_centre = {k: float(np.mean(np.log(v))) for k, v in flat.items()}
    return points, Design(log_centre, math.log(typical_loss), typical_loss)


def prior_predictive(
    law: str | Law,
    data: Any,
    *,
    priors: Any = None,
    num_draws: int = 1000,
    seed: int = 0,
    level: float = 0.9,
    likelihood: str = "normal",
    flops_factor: float = 6.0,
    typical_loss: float | None = None,
) -> PriorPredictive:
    """Loss curves a prior implies at a table's runs (or given points), before seeing data.

    A prior predictive check (Gabry et al. 2019): if the bands do not cover
    plausible losses (e.g. they allow losses of 100 nats, or exclude the
    range the runs are known to reach), the prior is wrong for this setup.

    Parameters
    ----------
    law : str or Law
    data : DataFrame, path or RunsTable
        Runs (with ``loss``: the default priors are scaled by the observed
        losses exactly as in :func:`bayes_scaling.fit`, and the bands can be
        set against them) or a DataFrame of ``N``/``D``/``C`` points without
        losses (then give ``typical_loss``).
    priors : mapping, str or tuple, optional
        As ``priors=`` of :func:`bayes_scaling.fit` (e.g. ``"literature:chinchilla"``);
        default: the law's default priors.
    num_draws, seed : int
        Number of prior draws; every draw flows from ``seed``.
    level : float
        Mass of the equal-tailed bands.
    likelihood : {"normal", "student_t"}
    flops_factor : float
        ``k`` in ``C = k N D``.
    typical_loss : float, optional
        Scale of the default priors when ``data`` has no losses (overrides the
        observed losses' scale when given with runs).

    Returns
    -------
    PriorPredictive
        ``.bands()`` gives the table; see also
        :func:`bayes_scaling.plotting_priors.plot_prior_predictive`.

    Examples
    --------
    >>> pp = prior_predictive("chinchilla", bs.example_runs(),           # doctest: +SKIP
    ...                       priors="literature:chinchilla")
    >>> pp.bands()[["C", "loss", "lower", "upper"]]                    # doctest: +SKIP
    """
    from numpyro import handlers
    from numpyro.infer import Predictive

    from .fit import _check_options, _check_priors
    from .model import build_model

    law = get_law(law)
    _check_options(likelihood, level)
    if not isinstance(num_draws, (int, np.integer)) or num_draws < 2:
        raise ValueError(f"num_draws must be an integer >= 2, got {num_draws!r}")
    priors = _check_priors(law, likelihood, priors)
    points, design = _points_and_design(law, data, flops_factor, typical_loss)
    arrays = design.as_arrays()
    # A prior on a derived offset (A) is a factor on a flat site, which cannot be
    # sampled forward. Under that prior the offset is independent of the other
    # parameters (log A is a shift of the flat site), so: pin the flat site and
    # draw the offset from its prior directly.
    probe = _trace_params(law, arrays, priors)
    direct = {p: d for p, d in priors.items() if f"{p}_prior" in probe}
    flat_sites = {n: 0.0 for n, s in probe.items() if s["type"] == "sample"
                  and isinstance(s["fn"], dist.ImproperUniform)}
    model = handlers.substitute(build_model(law, likelihood), data=flat_sites)
    key_model, key_direct, key_noise = jax.random.split(jax.random.PRNGKey(seed), 3)
    with jax.enable_x64(True):
        log_inputs = {k: jnp.log(jnp.asarray(points[k].to_numpy(dtype=float)))
                      for k in law.inputs}
        draws = Predictive(model, num_samples=num_draws)(
            key_model, log_inputs=log_inputs, log_loss=None, design=arrays, priors=priors)
        params = {k: jnp.asarray(draws[k]) for k in law.param_names}
        for i, (name, prior) in enumerate(direct.items()):
            params[name] = prior.sample(jax.random.fold_in(key_direct, i), (num_draws,))
        log_mean = law.log_mean({k: v[:, None] for k, v in params.items()},
                                {k: v[None, :] for k, v in log_inputs.items()})
        sigma = jnp.asarray(draws["sigma"])[:, None]
        if likelihood == "student_t":
            eps = jax.random.t(key_noise, jnp.asarray(draws["nu"])[:, None], log_mean.shape)
        else:
            eps = jax.random.normal(key_noise, log_mean.shape)
        log_obs = log_mean + sigma * eps
    noise = {k: np.asarray(draws[k]) for k in ("sigma", "nu") if k in draws}
    return PriorPredictive(law=law, points=points, curve_draws=np.exp(np.asarray(log_mean)),
                           loss_draws=np.exp(np.asarray(log_obs)),
                           params={**{k: np.asarray(v) for k, v in params.items()}, **noise},
                           level=level)


# ------------------------------------------------------------- prior-data conflict
def _gaussian_scale(prior: dist.Distribution) -> tuple[float, float, bool] | None:
    """(location, scale, log?) of a Normal or LogNormal scalar prior; None for other families."""
    if isinstance(prior, dist.LogNormal):
        base = prior.base_dist
        log = True
    elif isinstance(prior, dist.Normal):
        base, log = prior, False
    else:
        return None
    loc, scale = np.asarray(base.loc, dtype=float), np.asarray(base.scale, dtype=float)
    if loc.size != 1 or scale.size != 1:
        return None
    return float(loc), float(scale), log


def prior_data_conflict(fit: ScalingFit, priors: Any, *, prob: float = 0.01) -> pd.DataFrame:
    """Do the data contradict the informative priors? One row per checked parameter.

    The check is Evans & Moshonov's (2006) prior predictive test of a
    sufficient statistic, in its Gaussian form. On the prior's own scale
    (``log theta`` for a LogNormal, ``theta`` for a Normal prior
    ``N(m0, s0^2)``), approximate the posterior marginal by ``N(m, s^2)`` (draw
    mean and variance) and recover what the data alone say by removing the
    prior's precision:

    .. math:: \\lambda_y = s^{-2} - s_0^{-2}, \\qquad
              \\hat\\theta_y = (m s^{-2} - m_0 s_0^{-2}) / \\lambda_y .

    Under the prior, the data's estimate is distributed as
    ``N(m0, s0^2 + 1/lambda_y)``, so

    .. math:: z = (\\hat\\theta_y - m_0) / \\sqrt{s_0^2 + 1/\\lambda_y}

    and the two-sided tail probability ``p`` is the prior predictive p-value.
    A parameter is flagged when ``p < prob / k`` (Bonferroni over the ``k``
    checked parameters). This is exact for a Gaussian likelihood that is
    locally independent across parameters, and an approximation otherwise;
    a parameter the data say almost nothing about (``lambda_y`` below a tenth
    of the prior precision) cannot conflict and is reported with ``p = 1``.
    Only Normal and LogNormal priors are checked (flat or bounded priors do
    not carry information to conflict with).

    Parameters
    ----------
    fit : ScalingFit
    priors : mapping, str or tuple
        The ``priors=`` the fit was made with (a ScalingFit does not store them).
    prob : float
        Family-wise false-alarm rate when the prior is right.

    Returns
    -------
    pandas.DataFrame
        ``parameter``, ``prior_median``, ``prior_lower``/``prior_upper``
        (99% prior interval), ``posterior_median``, ``data_estimate``
        (``theta_y`` back on the parameter's scale), ``z``, ``p_value``,
        ``conflict``.
    """
    priors = resolve_priors(fit.law, priors)
    posterior = fit.posterior["posterior"]
    draws = {}
    for name in priors:
        if name in posterior:
            values = fit.draws(name)
            if values.ndim == 1:
                draws[name] = values
            else:  # per-group parameter: one check per group
                for g, label in enumerate(fit.group_labels):
                    draws[f"{name}[{label}]"] = values[:, g]
    return _conflict_table(draws, priors, prob)


def _conflict_table(draws: Mapping[str, np.ndarray], priors: Mapping[str, dist.Distribution],
                    prob: float) -> pd.DataFrame:
    """The test of :func:`prior_data_conflict` on flat draws ``{label: (num_draws,)}``."""
    rows = []
    for label, x in draws.items():
        gauss = _gaussian_scale(priors[label.split("[")[0]])
        if gauss is None:
            continue
        m0, s0, log = gauss
        t = np.log(x) if log else np.asarray(x, dtype=float)
        m, s2 = float(np.mean(t)), float(np.var(t))
        lam_y = 1.0 / s2 - 1.0 / s0**2 if s2 > 0 else 0.0
        if lam_y > 0.1 / s0**2:
            estimate = (m / s2 - m0 / s0**2) / lam_y
            z = (estimate - m0) / math.sqrt(s0**2 + 1.0 / lam_y)
        else:
            estimate, z = float("nan"), 0.0

        def back(v: float, log: bool = log) -> float:
            return math.exp(v) if log else v

        rows.append({"parameter": label, "prior_median": back(m0),
                     "prior_lower": back(m0 - 2.5758 * s0),
                     "prior_upper": back(m0 + 2.5758 * s0),
                     "posterior_median": float(np.median(x)),
                     "data_estimate": back(estimate) if np.isfinite(estimate) else np.nan,
                     "z": z, "p_value": math.erfc(abs(z) / math.sqrt(2.0))})
    table = pd.DataFrame(rows, columns=["parameter", "prior_median", "prior_lower",
                                        "prior_upper", "posterior_median", "data_estimate",
                                        "z", "p_value"])
    table["conflict"] = table["p_value"] < prob / max(len(table), 1)
    return table


def check_prior_data_conflict(fit: ScalingFit, priors: Any, *, prob: float = 0.01
                              ) -> pd.DataFrame:
    """Run :func:`prior_data_conflict` and warn (:class:`PriorDataConflictWarning`) on conflict."""
    from .diagnostics import PriorDataConflictWarning

    table = prior_data_conflict(fit, priors, prob=prob)
    flagged = table[table["conflict"]]
    if len(flagged):
        parts = [f"{r.parameter}: prior median {r.prior_median:.4g} (99% {r.prior_lower:.4g}"
                 f"-{r.prior_upper:.4g}), data alone say {r.data_estimate:.4g}, posterior "
                 f"median {r.posterior_median:.4g} (p = {r.p_value:.1g})"
                 for r in flagged.itertuples()]
        warnings.warn(
            "the runs contradict the informative prior — " + "; ".join(parts) + ". The "
            "posterior is a compromise that neither source supports. Loosen the prior, or "
            "check that your conventions match the published fit's (tokeniser and loss "
            "definition shift E and the offsets; parameter counting with or without "
            "embeddings and the FLOPs factor shift the offsets and exponents).",
            PriorDataConflictWarning, stacklevel=3)
    return table
