"""Conformance of every registered law, driven by the registry ``bayes_scaling.laws.LAWS``.

A law added to the registry is checked here without editing this file: its
parameters are drawn from its own default priors (seeded), and each draw must
give finite log-losses that jit, vmap and differentiate; the law must rebuild
from its spec; its model must sample its prior; a closed-form allocation must
agree with numerical minimisation along ``C = k N D`` and satisfy the constraint.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from numpyro import handlers
from numpyro.infer import Predictive

import bayes_scaling as bs  # noqa: F401  (host devices before JAX starts)
from bayes_scaling.laws import LAWS, Design, Law, get_law
from bayes_scaling.laws.allocation import numeric_log_allocation
from bayes_scaling.models.scaling import build_model

NUM_DRAWS = 8
#: A design like a small sweep: 1e8-1e10 parameters, 2e9-2e11 tokens, 1e10 unique.
_RANGE = {"N": (1e8, 1e10), "D": (2e9, 2e11), "U": (1e10, 1e10)}
_RANGE["C"] = (6 * _RANGE["N"][0] * _RANGE["D"][0], 6 * _RANGE["N"][1] * _RANGE["D"][1])
DESIGN = Design(
    log_centre={k: 0.5 * (math.log(lo) + math.log(hi)) for k, (lo, hi) in _RANGE.items()},
    log_loss_centre=math.log(3.0), min_loss=2.5,
    log_range={k: (math.log(lo), math.log(hi)) for k, (lo, hi) in _RANGE.items()})


def _registered_laws() -> list[Law]:
    """Every registry entry; single-axis laws once per axis they take."""
    laws = []
    for name in sorted(LAWS):
        law = get_law(name)
        if "x" in law.spec():
            laws += [get_law({**law.spec(), "x": axis}) for axis in ("N", "D", "C")]
        else:
            laws.append(law)
    return laws


LAW_CASES = _registered_laws()


def _ids(law: Law) -> str:
    spec = law.spec()
    return spec["name"] + (f"_{spec['x']}" if "x" in spec else "")


def _log_inputs(law: Law, num: int = 40) -> dict[str, jax.Array]:
    n = np.geomspace(1e7, 1e12, num)
    d = np.geomspace(1e9, 1e13, num)
    values = {"N": n, "D": d, "C": 6 * n * d, "U": np.full(num, 1e10)}
    return {k: jnp.log(jnp.asarray(values[k])) for k in law.inputs}


def _prior_params(law: Law, seed: int = 0) -> dict[str, jax.Array]:
    """NUM_DRAWS parameter sets from the law's own default priors."""
    design = DESIGN.as_arrays()

    def one(key):
        with handlers.seed(rng_seed=key):
            return law.sample_params(design, {})

    keys = jax.random.split(jax.random.PRNGKey(seed), NUM_DRAWS)
    return jax.vmap(one)(keys)


def test_registry_lists_every_law_class():
    classes = {cls for cls in vars(bs).values() if isinstance(cls, type) and issubclass(cls, Law)
               and cls is not Law}
    assert classes <= set(LAWS.values())
    assert len(LAW_CASES) >= len(LAWS)


@pytest.mark.parametrize("law", LAW_CASES, ids=_ids)
def test_law_conformance_from_registry(law):
    assert set(law.inputs) <= {"N", "D", "C", "U"} and len(law.param_names) == law.num_params
    assert get_law(law.spec()) == law and hash(get_law(law.spec())) == hash(law)
    with jax.enable_x64(True):
        params = _prior_params(law)
        assert set(law.param_names) <= set(params)
        assert all(params[k].shape == (NUM_DRAWS,) for k in law.param_names)
        assert all(bool(jnp.all(jnp.isfinite(params[k]))) for k in law.param_names)
        log_inputs = _log_inputs(law)
        values = jax.vmap(law.log_mean, in_axes=(0, None))(params, log_inputs)
        assert values.shape == (NUM_DRAWS, 40) and bool(jnp.all(jnp.isfinite(values)))
        first = {k: v[0] for k, v in params.items()}
        np.testing.assert_allclose(jax.jit(law.log_mean)(first, log_inputs), values[0],
                                   rtol=1e-12)
        grads = jax.grad(lambda p: law.log_mean(p, log_inputs).sum())(
            {k: first[k] for k in law.param_names})
        assert all(bool(jnp.all(jnp.isfinite(g))) for g in grads.values())


@pytest.mark.parametrize("law", LAW_CASES, ids=_ids)
def test_law_model_samples_its_prior(law):
    model = build_model(law, "normal")
    with jax.enable_x64(True):
        draws = Predictive(model, num_samples=16)(
            jax.random.PRNGKey(1), log_inputs=_log_inputs(law, 12), log_loss=None,
            design=DESIGN.as_arrays(), priors={})
    assert draws["log_loss"].shape == (16, 12)
    assert bool(jnp.all(jnp.isfinite(draws["log_loss"])))


@pytest.mark.parametrize("law", [law for law in LAW_CASES if law.has_closed_form_allocation],
                         ids=_ids)
def test_closed_form_allocation_is_the_iso_flop_minimum(law):
    log_k = math.log(6.0)
    with jax.enable_x64(True):
        log_c = jnp.log(jnp.asarray([1e20, 1e22, 1e24]))
        params = _prior_params(law, seed=2)
        p = {k: v[:, None] for k, v in params.items()}
        log_n, log_d = law.log_optimal_allocation(p, log_c[None, :], log_k)
        np.testing.assert_allclose(log_n + log_d + log_k, jnp.broadcast_to(log_c, log_n.shape),
                                   rtol=1e-10)
        num_n, num_d, at_edge = numeric_log_allocation(law, params, log_c, log_k)
        inside = ~np.asarray(at_edge)
        assert inside.mean() > 0.5
        np.testing.assert_allclose(np.asarray(log_n)[inside], np.asarray(num_n)[inside],
                                   atol=1e-3)
