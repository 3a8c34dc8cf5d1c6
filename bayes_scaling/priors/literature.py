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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np
import numpyro.distributions as dist

from .._lazy import lazy_import
from ..laws import Design, Law, get_law

pd = lazy_import("pandas")


if TYPE_CHECKING:
    pass


__all__ = [
    "LiteraturePrior", "LITERATURE_PRIORS", "SPREAD_FLOORS", "INFLATION",
    "literature_priors", "list_literature_priors", "resolve_priors",
    "trace_params",
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


def trace_params(law: Law, design: Mapping[str, Any], priors: Mapping[str, Any]) -> dict:
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
    trace = trace_params(law, _probe_design(law), {param: prior})
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


