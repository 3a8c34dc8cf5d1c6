"""Groups: one joint model over architectures, optimisers or data mixtures.

A runs table with a ``group`` column (see :func:`bayes_scaling.data.load_runs`)
fits one joint model in which each law parameter is, by the user's choice,

``"shared"``
    one value for every group;
``"separate"``
    one value per group, each with the law's default (or the user's) prior,
    independently;
``"pooled"``
    one value per group drawn from a population distribution whose location
    and spread are learnt (partial pooling): small groups borrow strength from
    the others. Non-centred:

    .. math:: \\theta_g = \\mu + \\tau z_g, \\quad z_g \\sim \\mathcal N(0, 1),
              \\quad \\tau \\sim \\text{HalfNormal}(0.5)

    for parameters on the real line (the centred log-offsets ``log_A_c``), and
    :math:`\\theta_g = \\mu\\, e^{\\tau z_g}` (the same on the log scale) for
    positive parameters (exponents, ``E``). ``mu`` has the law's default prior of
    the parameter (or the user's prior on it); ``tau``'s prior can be replaced
    with ``priors={"<site>_tau": ...}``.

**Default** (when the table has a ``group`` column and ``groups=`` is not
given): the exponents and ``E`` are shared and the offsets (``A``, ``B`` of the
Chinchilla law; ``N_c``, ``D_c`` of Kaplan's) are separate per group. This is the
usual finding when architectures are compared at scale (e.g. Kaplan et al.
2020, Fig. 7; Hoffmann et al. 2022, App. D): architectures differ mostly by a
constant factor in the reducible loss while exponents agree within error, and
it leaves one offset per group to estimate, which small groups can afford. Test
the assumption with :func:`bayes_scaling.compare_models` (PSIS-LOO) against a
fit with ``groups="separate"`` or pooled exponents.

Offsets stay in the centred parameterisation of the laws: the sampled site is
``log_A_c``, the log of the term at the data's central model size ``N0``
(one per group when ``A`` is not shared), so per-group offsets stay nearly
uncorrelated with (shared or per-group) exponents.

Inside the model per-group parameters have shape ``(num_groups,)`` and are
gathered per run with the table's ``group_index`` before ``law.log_mean``; in
the posterior ``DataTree`` they carry a ``group`` dimension whose coordinates
are the group labels.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist

from ..data.runs import RunsTable, RunsTableError
from ..laws import Law
from .likelihood import LIKELIHOODS, observe

__all__ = [
    "MODES", "POOL_SCALE", "GroupStructure", "resolve_groups", "default_structure",
    "build_grouped_model", "group_model_kwargs",
]

#: How a law parameter may vary across groups.
MODES = ("shared", "separate", "pooled")
#: Scale of the HalfNormal prior of the population spread ``tau`` of pooled
#: parameters (log scale): groups differing by more than a factor ~e from the
#: population are possible but not expected.
POOL_SCALE = 0.5


@dataclass(frozen=True)
class GroupStructure:
    """Which law parameters are shared, separate per group or partially pooled.

    Immutable and hashable: it is part of the cached model function's identity
    (one compiled sampler per law, likelihood, structure and data shape).

    Attributes
    ----------
    modes : tuple of (parameter, mode) pairs
        One pair per user-facing law parameter, in the law's order.
    """

    modes: tuple[tuple[str, str], ...]

    def __post_init__(self) -> None:
        for name, mode in self.modes:
            if mode not in MODES:
                raise ValueError(f"group mode of {name!r} must be one of {MODES}, got {mode!r}")

    def mode(self, param: str) -> str:
        """Mode of user-facing parameter ``param``."""
        return dict(self.modes)[param]

    def as_dict(self) -> dict[str, str]:
        return dict(self.modes)

    @property
    def per_group(self) -> tuple[str, ...]:
        """Parameters that take one value per group (separate or pooled)."""
        return tuple(name for name, mode in self.modes if mode != "shared")

    def site_modes(self, law: Law) -> dict[str, str]:
        """Mode of each sampled site of ``law`` (``A`` is carried by ``log_A_c``)."""
        return {law.site_of(name): mode for name, mode in self.modes}

    def group_var_names(self, law: Law) -> tuple[str, ...]:
        """Posterior variables with a ``group`` dimension."""
        names: list[str] = []
        for name, mode in self.modes:
            if mode == "shared":
                continue
            site = law.site_of(name)
            names += [name] if site == name else [name, site]
            if mode == "pooled":
                names.append(f"{site}_z")
        return tuple(names)

    def hyper_names(self, law: Law) -> tuple[str, ...]:
        """Population sites of pooled parameters: ``<site>_mu`` and ``<site>_tau``."""
        out: list[str] = []
        for name, mode in self.modes:
            if mode == "pooled":
                site = law.site_of(name)
                out += [f"{site}_mu", f"{site}_tau"]
        return tuple(out)

    def num_free(self, num_groups: int) -> int:
        """Number of sampled law parameters (hyper-parameters included)."""
        count = {"shared": 1, "separate": num_groups, "pooled": num_groups + 2}
        return sum(count[mode] for _, mode in self.modes)

    def describe(self) -> str:
        by_mode = {m: [n for n, mode in self.modes if mode == m] for m in MODES}
        return "; ".join(f"{m}: {', '.join(names)}" for m, names in by_mode.items() if names)


def default_structure(law: Law) -> GroupStructure:
    """Exponents and ``E`` shared, offsets separate per group (see module docstring)."""
    return GroupStructure(tuple(
        (name, "separate" if name in law.offset_sites else "shared") for name in law.param_names
    ))


def resolve_groups(
    law: Law, groups: Any, *, has_groups: bool
) -> GroupStructure | None:
    """Turn the ``groups=`` argument of :func:`bayes_scaling.fit` into a structure.

    Parameters
    ----------
    law : Law
    groups : None, False, str, mapping or GroupStructure
        ``None``: the default structure when the table has a ``group`` column,
        else no groups. ``False``: ignore the ``group`` column (one curve for
        all runs). A mode (``"shared"``, ``"separate"``, ``"pooled"``): every
        parameter in that mode. A mapping ``{parameter: mode}``: those
        parameters in those modes, the others as in the default. Parameters are
        the law's user-facing names (``"A"``) or their sampled sites
        (``"log_A_c"``).
    has_groups : bool
        Whether the runs table has a ``group`` column.
    """
    if groups is None:
        return default_structure(law) if has_groups else None
    if groups is False:
        return None
    if not has_groups:
        raise RunsTableError(
            "groups= was given but the runs table has no group column",
            fix="add a column 'group' (or 'arch', 'architecture', 'family', 'experiment') "
                "labelling each run, or drop groups=",
        )
    if isinstance(groups, GroupStructure):
        names = tuple(name for name, _ in groups.modes)
        if names != tuple(law.param_names):
            raise ValueError(f"group structure is for parameters {names}, the {law.name} law has "
                             f"{tuple(law.param_names)}")
        return groups
    if isinstance(groups, str):
        if groups not in MODES:
            raise ValueError(f"groups= as a string must be one of {MODES}, got {groups!r}")
        return GroupStructure(tuple((name, groups) for name in law.param_names))
    if not isinstance(groups, Mapping):
        raise TypeError("groups= must be None, False, a mode string or a {parameter: mode} "
                        f"mapping, got {type(groups).__name__}")
    by_site = {law.site_of(name): name for name in law.param_names}
    modes = default_structure(law).as_dict()
    for key, mode in groups.items():
        name = by_site.get(key, key)
        if name not in modes:
            raise ValueError(f"groups= names unknown parameter {key!r}; the {law.name} law has "
                             f"{list(law.param_names)}")
        if mode not in MODES:
            raise ValueError(f"groups[{key!r}] must be one of {MODES}, got {mode!r}")
        modes[name] = mode
    return GroupStructure(tuple((name, modes[name]) for name in law.param_names))


def check_group_priors(law: Law, structure: GroupStructure, priors: Mapping[str, Any]) -> None:
    """Refuse prior combinations the grouped model cannot honour exactly."""
    for name in law.param_names:
        if name in priors and law.site_of(name) != name and structure.mode(name) == "pooled":
            raise ValueError(
                f"a prior on {name!r} cannot be combined with a pooled {name}: the population "
                f"location of a pooled offset is sampled as {law.site_of(name)!r}_mu; give the "
                f"prior of that location as priors[{law.site_of(name)!r}] instead")


def group_model_kwargs(runs: RunsTable) -> dict[str, Any]:
    """The grouped model's extra argument: run -> group index and runs per group."""
    index = runs.group_index
    counts = np.bincount(index, minlength=len(runs.group_labels)).astype(np.float64)
    # device_put of NumPy arrays: jnp.asarray compiles a program per new shape.
    return {"index": jax.device_put(np.asarray(index, dtype=np.int32)),
            "counts": jax.device_put(counts)}


def _site_sampler(site_modes: Mapping[str, str], num_groups: int) -> Callable[..., Any]:
    """A :class:`bayes_scaling.laws.base.SiteSampler` giving per-group sites their shape."""

    def site(name: str, default: dist.Distribution, priors: Mapping[str, Any]) -> Any:
        prior = priors.get(name, default)
        mode = site_modes.get(name, "shared")
        if mode == "shared":
            return numpyro.sample(name, prior)
        if mode == "separate":
            with numpyro.plate("group", num_groups):
                return numpyro.sample(name, prior)
        # pooled, non-centred: theta_g = mu + tau z_g (real line) or mu exp(tau z_g)
        loc = numpyro.sample(f"{name}_mu", prior)
        tau = numpyro.sample(f"{name}_tau",
                             priors.get(f"{name}_tau", dist.HalfNormal(POOL_SCALE)))
        with numpyro.plate("group", num_groups):
            z = numpyro.sample(f"{name}_z", dist.Normal(0.0, 1.0))
        if prior.support is dist.constraints.real:
            value = loc + tau * z
        else:
            value = loc * jnp.exp(tau * z)
        return numpyro.deterministic(name, value)

    return site


@functools.cache
def build_grouped_model(
    law: Law, likelihood: str, structure: GroupStructure
) -> Callable[..., None]:
    """The NumPyro model of ``law`` over groups (cached per law, likelihood and structure).

    ``model(log_inputs, log_loss, design, priors, groups)``: the arguments of
    :func:`bayes_scaling.model.build_model`'s model plus ``groups`` from
    :func:`group_model_kwargs`. The number of groups is read from the (static)
    shape of ``groups["counts"]``, so one compiled sampler serves every data set
    with the same numbers of runs and groups.
    """
    if likelihood not in LIKELIHOODS:
        raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {likelihood!r}")
    site_modes = structure.site_modes(law)

    def model(
        log_inputs: Mapping[str, Any],
        log_loss: Any,
        design: Mapping[str, Any],
        priors: Mapping[str, dist.Distribution],
        groups: Mapping[str, Any],
        mask: Any = None,
    ) -> None:
        num_groups = int(jnp.shape(groups["counts"])[0])
        site = _site_sampler(site_modes, num_groups)
        params = law.sample_params(design, priors, site=site)
        sampled = law.default_priors(design)
        for name in law.param_names:
            if name not in sampled:  # derived (e.g. A from log_A_c): record it too
                numpyro.deterministic(name, params[name])
        index = groups["index"]
        per_run = {k: v[index] if jnp.ndim(v) else v for k, v in params.items()}
        observe(likelihood, law.log_mean(per_run, log_inputs), log_loss, priors, mask)

    model.__name__ = f"{law.name}_{likelihood}_grouped_model"
    model.mixed_precision = True  # its likelihood is observe(): see inference.precision
    return model
