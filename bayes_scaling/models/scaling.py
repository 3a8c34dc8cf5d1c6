"""The NumPyro model: a law, its priors and a log-space likelihood.

The observation model is on log-loss, where the noise of final losses is close
to multiplicative and homoscedastic:

``log loss_i ~ Normal(log L(N_i, D_i), sigma)`` or, robust to outlying runs
(the Bayesian counterpart of the Huber loss of Approach 3),
``log loss_i ~ StudentT(nu, log L(N_i, D_i), sigma)``.

Default noise priors: ``sigma ~ HalfNormal(0.05)`` (observed residual SDs of
log-loss are ~0.006-0.0075 on the Chinchilla data and a few per cent on noisy
sweeps) and ``nu ~ Gamma(2, 0.1)`` (Juárez & Steel 2010: mean 20, mass on
heavy tails as well as near-normal).

Every data-dependent quantity (inputs, centres, priors) is a model *argument*,
so one compiled sampler serves every data set of the same shape.

Groups (architectures, optimisers, data mixtures) fit one joint model whose
parameters are shared, per group or partially pooled: see
:mod:`bayes_scaling.groups`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import numpyro
import numpyro.distributions as dist

from ..laws import Law
from .groups import GroupStructure, build_grouped_model
from .likelihood import LIKELIHOODS, noise_priors, observe

__all__ = ["LIKELIHOODS", "build_model", "noise_priors", "observe"]


def build_model(
    law: Law, likelihood: str = "normal", groups: GroupStructure | None = None
) -> Callable[..., None]:
    """Return the NumPyro model function for ``law`` and ``likelihood`` (cached).

    With ``groups`` (a hashable :class:`bayes_scaling.groups.GroupStructure`)
    the joint model over groups of :func:`bayes_scaling.groups.build_grouped_model`
    is returned instead; it takes one more argument, ``groups`` (run-to-group
    index and per-group run counts).

    The returned ``model(log_inputs, log_loss, design, priors)`` takes

    * ``log_inputs``: dict of ``log N``/``log D``/``log C`` arrays (law's inputs);
    * ``log_loss``: observed log-loss, or ``None`` for prior/posterior prediction;
    * ``design``: :meth:`bayes_scaling.laws.Design.as_arrays`;
    * ``priors``: dict of user prior overrides (may be empty);
    * ``mask``: optional boolean per run, ``False`` for padding rows
      (:mod:`bayes_scaling.inference.buckets`).

    The same function object is returned for the same ``(law, likelihood)``,
    which lets compiled samplers be reused.
    """
    if groups is not None:
        return build_grouped_model(law, likelihood, groups)
    return _build_model(law, likelihood)


@functools.cache
def _build_model(law: Law, likelihood: str) -> Callable[..., None]:
    if likelihood not in LIKELIHOODS:
        raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {likelihood!r}")

    def model(
        log_inputs: Mapping[str, Any],
        log_loss: Any,
        design: Mapping[str, Any],
        priors: Mapping[str, dist.Distribution],
        mask: Any = None,
    ) -> None:
        params = law.sample_params(design, priors)
        sampled = law.default_priors(design)
        for name in law.param_names:
            if name not in sampled:  # derived (e.g. A from log_A_c): record it too
                numpyro.deterministic(name, params[name])
        mean = law.log_mean(params, log_inputs)
        observe(likelihood, mean, log_loss, priors, mask)

    model.__name__ = f"{law.name}_{likelihood}_model"
    model.mixed_precision = True  # its likelihood is observe(): see inference.precision
    if type(law).__module__.startswith("bayes_scaling."):
        # Names the program for samplers stored across processes (inference.exported);
        # a user-defined law has code the stored program cannot vouch for.
        model.export_key = f"{type(law).__module__}.{type(law).__qualname__}{law.cache_key()}:{likelihood}"
    return model
