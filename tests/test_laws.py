"""Conformance suite every law must pass, plus allocation against brute force."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import bayes_scaling as bs
from bayes_scaling.laws import LAWS, get_law
from bayes_scaling.laws.allocation import log_optimal_allocation, numeric_log_allocation

PARAMS = {
    "chinchilla": {"E": 1.8, "A": 480.0, "alpha": 0.35, "B": 2000.0, "beta": 0.37},
    "kaplan": {"N_c": 8.8e13, "alpha_N": 0.076, "D_c": 5.4e13, "alpha_D": 0.095},
    "power_law_N": {"E": 1.8, "A": 480.0, "alpha": 0.35},
    "power_law_C": {"E": 1.7, "A": 60.0, "alpha": 0.08},
}


SIZES_N, SIZES_D = np.geomspace(1e6, 1e13, 50), np.geomspace(1e8, 1e15, 50)


def _inputs(law, n=SIZES_N, d=SIZES_D):
    c = 6 * n * d
    return {k: jnp.log(jnp.asarray(v)) for k, v in {"N": n, "D": d, "C": c}.items()
            if k in law.inputs}


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_law_conformance(name):
    law = get_law(name)
    with jax.enable_x64(True):
        params = {k: jnp.asarray(v) for k, v in PARAMS[name].items()}
        log_inputs = _inputs(law)
        values = law.log_mean(params, log_inputs)
        assert values.shape == (50,) and bool(jnp.all(jnp.isfinite(values)))
        # Monotone decreasing in every input.
        assert bool(jnp.all(jnp.diff(values) < 0))
        for axis in law.inputs:
            bumped = dict(log_inputs)
            bumped[axis] = bumped[axis] + 1.0
            assert bool(jnp.all(law.log_mean(params, bumped) < values))
        # Tends to E at huge scale (when the law has one).
        if "E" in params:
            huge = {k: jnp.full(1, 2000.0) for k in law.inputs}
            np.testing.assert_allclose(jnp.exp(law.log_mean(params, huge)), params["E"], rtol=1e-9)
        # No overflow at N ~ 1e12 and tiny sizes.
        extreme = {k: jnp.log(jnp.asarray([1.0, 1e12, 1e25])) for k in law.inputs}
        assert bool(jnp.all(jnp.isfinite(law.log_mean(params, extreme))))
        # jit, vmap and grad.
        jitted = jax.jit(law.log_mean)(params, log_inputs)
        np.testing.assert_allclose(jitted, values, rtol=1e-12)
        batched = {k: jnp.stack([v, v * 1.01]) for k, v in params.items()}
        out = jax.vmap(law.log_mean, in_axes=(0, None))(batched, log_inputs)
        assert out.shape == (2, 50)
        grads = jax.grad(lambda p: law.log_mean(p, log_inputs).sum())(params)
        assert all(bool(jnp.isfinite(g)) for g in grads.values())
    # Registry round trip.
    assert get_law(law.spec()) == law


def test_closed_form_agrees_with_numeric_minimisation():
    law = get_law("chinchilla")
    rng = np.random.default_rng(0)
    draws = {"E": rng.uniform(1.5, 2.0, 64), "A": rng.uniform(200, 800, 64),
             "alpha": rng.uniform(0.25, 0.45, 64), "B": rng.uniform(400, 4000, 64),
             "beta": rng.uniform(0.25, 0.45, 64)}
    with jax.enable_x64(True):
        log_c = jnp.log(jnp.asarray([1e19, 1e22, 1e24, 1e26]))
        draws = {k: jnp.asarray(v) for k, v in draws.items()}
        n_closed, d_closed, _ = log_optimal_allocation(law, draws, log_c, float(np.log(6.0)))
        n_num, d_num, edge = numeric_log_allocation(law, draws, log_c, float(np.log(6.0)))
    assert not bool(edge.any())
    np.testing.assert_allclose(n_num, n_closed, atol=1e-6)
    np.testing.assert_allclose(d_num, d_closed, atol=1e-6)
    # C = k N D holds exactly.
    expected = np.log([1e19, 1e22, 1e24, 1e26]) - np.log(6.0)
    np.testing.assert_allclose(np.asarray(n_closed + d_closed), np.broadcast_to(expected, (64, 4)), atol=1e-10)


def test_closed_form_against_brute_force_grid():
    """The loss at the closed-form optimum is the minimum over a fine grid on the iso-FLOP line."""
    law = get_law("chinchilla")
    for c in (1e20, 1e24):
        with jax.enable_x64(True):
            p = {k: jnp.asarray(v) for k, v in PARAMS["chinchilla"].items()}
            log_n = jnp.linspace(np.log(1e6), np.log(c / 6 / 1e6), 200_001)
            losses = law.log_mean(p, {"N": log_n, "D": np.log(c / 6) - log_n})
            best = float(log_n[jnp.argmin(losses)])
            n_opt, _ = law.log_optimal_allocation(p, jnp.log(c), float(np.log(6.0)))
        assert abs(best - float(n_opt)) < 2e-4


def test_kaplan_allocation_grows_n_faster_than_d():
    law = get_law("kaplan")
    with jax.enable_x64(True):
        p = {k: jnp.asarray([v]) for k, v in PARAMS["kaplan"].items()}
        log_n, log_d, edge = log_optimal_allocation(law, p, jnp.log(jnp.asarray([1e20, 1e24])),
                                                    float(np.log(6.0)))
    slope_n = float(log_n[0, 1] - log_n[0, 0]) / np.log(1e4)
    assert not bool(edge.any())
    assert slope_n > 0.5  # Kaplan: N grows faster than D with compute


def test_single_axis_law_has_no_allocation():
    law = bs.PowerLaw("C")
    with pytest.raises(ValueError, match="allocation needs a law of both N and D"):
        log_optimal_allocation(law, {k: jnp.ones(2) for k in law.param_names},
                               jnp.zeros(1), 0.0)


def test_registry_and_errors():
    assert {"chinchilla", "kaplan", "power_law", "data_constrained", "broken_power_law",
            "saturating"} <= set(LAWS)
    assert get_law("power_law_N").inputs == ("N",)
    with pytest.raises(ValueError, match="unknown law"):
        get_law("nope")


def test_kaplan_honours_a_prior_on_the_critical_scales(seed):
    """A tight prior on N_c (not a sampled site) pulls its posterior onto the prior."""
    import numpyro.distributions as dist

    runs = bs.example_runs(seed=0)
    fit = bs.fit(runs, law="kaplan", chains=2, draws=300, warmup=300, seed=seed, warn=False,
                 priors={"N_c": dist.LogNormal(jnp.log(8.8e13), 0.05)})
    n_c = fit.draws("N_c")
    assert np.quantile(n_c, 0.05) > 8.8e13 * 0.85 and np.quantile(n_c, 0.95) < 8.8e13 * 1.15


@pytest.mark.parametrize("k", [2, 3])
def test_log_add_equals_logsumexp_in_value_and_gradient(k):
    """Exact arithmetic identity, checked far apart (no overflow), with ties and far below."""
    from jax.scipy.special import logsumexp

    from bayes_scaling.laws.base import log_add

    rng = np.random.default_rng(0)
    with jax.enable_x64(True):
        terms = [jnp.asarray(rng.normal(0.0, 300.0, 200)) for _ in range(k)]
        terms[0] = terms[0].at[:20].set(terms[1][:20])  # ties
        terms[-1] = terms[-1].at[20:40].set(-1e4)  # a term that underflows
        np.testing.assert_allclose(log_add(*terms), logsumexp(jnp.stack(terms), axis=0),
                                   rtol=1e-14, atol=1e-12)
        grads = jax.grad(lambda *t: jnp.sum(log_add(*t)), argnums=tuple(range(k)))(*terms)
        expected = jax.grad(lambda *t: jnp.sum(logsumexp(jnp.stack(t), axis=0)),
                            argnums=tuple(range(k)))(*terms)
        for got, want in zip(grads, expected, strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
        # Second derivatives too (the sampler's Laplace step takes a Hessian, forward
        # over reverse): the held-constant shift must not drop any term of them.
        point = jnp.asarray(rng.normal(0.0, 2.0, k))

        def hessian(f):
            return jax.jacfwd(jax.grad(lambda z: f(*z)))(point)

        np.testing.assert_allclose(hessian(log_add),
                                   hessian(lambda *t: logsumexp(jnp.stack(t))),
                                   rtol=1e-12, atol=1e-14)
    with pytest.raises(ValueError, match="two or three"):
        log_add(jnp.zeros(2))
