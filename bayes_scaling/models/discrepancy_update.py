"""Updating the field discrepancy prior with a sweep's own fold errors.

The model is in :mod:`bayes_scaling.models.discrepancy`. A sweep's leave-future-out fold
errors reweight draws of its discrepancy parameters ``(mu, tau, a_s, b)`` from the field
prior (importance sampling); where few draws carry the weight, the resampled draws are
moved by Metropolis steps that leave the posterior invariant (resample-move).
A fold's errors are jointly normal, with the fold fit's predictive correlation kept as
low rank plus diagonal (:func:`correlation_factor`) so the exact Gaussian density of
each draw costs ``O(n k^2)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .discrepancy import SD_REF, Discrepancy, FieldPrior

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["correlation_factor", "update_with_errors"]

#: Importance-sampling candidates drawn from the field prior per kept draw.
_CANDIDATES = 4
#: Metropolis sweeps over the resampled draws when the importance weights are uneven.
_MOVES = 5


def correlation_factor(curve: np.ndarray, noise: np.ndarray, *, tol: float = 1e-8,
                       max_rank: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Correlation of plain predictive draws as low rank plus diagonal: ``R = W W' + diag(g)``.

    A predictive draw is a curve draw plus observation noise that is independent
    across runs, so its covariance is the curves' covariance plus a diagonal. The
    curves vary through the law's few parameters: their covariance is kept to the
    eigen-directions holding all but ``tol`` of its trace (at most ``max_rank``; the
    rest of its diagonal joins ``g``). Splitting the two parts also drops the
    spurious off-diagonal noise that a correlation of the summed draws carries.

    Parameters
    ----------
    curve, noise : numpy.ndarray
        Draws ``(draws, runs)`` of the curve's log-loss and of the observation noise.
    tol : float
        Share of the curves' covariance trace that the low-rank part may leave out.
    max_rank : int
        Most eigen-directions kept.

    Returns
    -------
    W, g : numpy.ndarray
        ``(runs, k)`` and ``(runs,)``; ``W W' + diag(g)`` has a unit diagonal.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> theta = rng.standard_normal((4000, 2))
    >>> curve = theta @ np.array([[1.0, 0.5, 0.2], [0.0, 0.3, 0.6]])
    >>> W, g = correlation_factor(curve, 0.1 * rng.standard_normal((4000, 3)))
    >>> W.shape, bool(np.allclose(np.sum(W ** 2, axis=1) + g, 1.0))
    ((3, 2), True)
    """
    curve = np.asarray(curve, dtype=np.float64)
    noise = np.asarray(noise, dtype=np.float64)
    cov = np.atleast_2d(np.cov(curve, rowvar=False))
    total = np.diag(cov) + np.var(noise, axis=0, ddof=1)
    values, vectors = np.linalg.eigh(cov)
    values, vectors = values[::-1], vectors[:, ::-1]
    kept = np.cumsum(np.maximum(values, 0.0)) >= (1.0 - tol) * max(values.sum(), 0.0)
    k = int(min(np.argmax(kept) + 1 if kept.any() else len(values), max_rank))
    scale = np.sqrt(np.maximum(total, np.finfo(float).tiny))
    W = vectors[:, :k] * np.sqrt(np.maximum(values[:k], 0.0)) / scale[:, None]
    # The remainder of the diagonal: noise plus the dropped curve directions (>= 0 up
    # to rounding, since W W' is a part of the covariance).
    g = np.maximum(1.0 - np.sum(W ** 2, axis=1), 0.0)
    return W, g


def _fold_loglik(e, sd, d, lam, tau, mu, factor):
    """Log-likelihood per draw of one fold's errors, correlated through ``factor``.

    ``e ~ MVN(mu d, S R S + diag(tau^2 d^2))`` with ``S = diag(lambda sd)`` and
    ``R = W W' + diag(g)`` (:func:`correlation_factor`). Each draw's covariance is a
    diagonal plus rank ``k``, so the Woodbury identity and the matrix determinant
    lemma give the exact Gaussian density in ``O(n k^2)`` per draw instead of a
    Cholesky factor's ``O(n^3)``.
    """
    W, g = (np.asarray(x, dtype=np.float64) for x in factor)
    out = np.empty(lam.shape[0])
    eye = np.eye(W.shape[1])
    chunk = int(max(64, min(2048, 2e7 // (W.shape[0] * W.shape[1] + 1))))  # bounded memory
    for start in range(0, lam.shape[0], chunk):
        sl = slice(start, start + chunk)
        scale = lam[sl] * sd[None, :]
        diag = scale ** 2 * g[None, :] + (tau[sl, None] * d[None, :]) ** 2 + 1e-12
        resid = e[None, :] - mu[sl, None] * d[None, :]
        inner = eye[None] + np.einsum("jn,nk,nl->jkl", scale ** 2 / diag, W, W, optimize=True)
        proj = np.einsum("jn,nk->jk", scale * resid / diag, W)
        chol = np.linalg.cholesky(inner)
        white = np.linalg.solve(chol, proj[:, :, None])[:, :, 0]
        logdet = (np.sum(np.log(diag), axis=1)
                  + 2.0 * np.sum(np.log(np.diagonal(chol, axis1=1, axis2=2)), axis=1))
        quad = np.sum(resid ** 2 / diag, axis=1) - np.sum(white ** 2, axis=1)
        out[sl] = -0.5 * (logdet + quad)
    return out


def _check_factor(corr: dict, f: object, rows: int) -> tuple[np.ndarray, np.ndarray]:
    factor = corr[f]
    if (not isinstance(factor, tuple) or len(factor) != 2
            or np.shape(factor[0])[0] != rows or np.shape(factor[1]) != (rows,)):
        raise ValueError(f"errors.attrs['corr'][{f!r}] must be a pair (W, g) from "
                         f"correlation_factor with {rows} rows, fold {f!r}'s count")
    return factor


def _log_likelihood(errors: pd.DataFrame, mu: np.ndarray, tau: np.ndarray, a: np.ndarray,
                    b: np.ndarray) -> np.ndarray:
    """Log-likelihood of the fold errors for each draw of ``(mu, tau, a, b)``."""
    e, sd, d = (errors[c].to_numpy(np.float64)[None, :] for c in ("e", "sd", "d"))
    wt = (errors["w"].to_numpy(np.float64) if "w" in errors.columns
          else np.ones(e.shape[1]))[None, :]
    if np.any(~np.isfinite(wt)) or np.any(wt < 0):
        raise ValueError("errors column 'w' must hold finite weights >= 0")
    lam = np.exp((a[:, None] + b[:, None] * np.log(sd / SD_REF)) * np.minimum(d, 1.0))
    corr = errors.attrs.get("corr")
    if corr is None or "fold" not in errors.columns:
        var = (lam * sd) ** 2 + (tau[:, None] * d) ** 2
        return -0.5 * np.sum(wt * (np.log(var) + (e - mu[:, None] * d) ** 2 / var), axis=1)
    folds = errors["fold"].to_numpy()
    out = np.zeros(len(mu))
    for f in np.unique(folds):
        rows = folds == f
        factor = _check_factor(corr, f, int(rows.sum()))
        out += np.mean(wt[0, rows]) * _fold_loglik(
            e[0, rows], sd[0, rows], d[0, rows], lam[:, rows], tau, mu, factor)
    return out


def _ess(logw: np.ndarray) -> tuple[np.ndarray, float]:
    w = np.exp(logw - np.max(logw))
    w /= w.sum()
    return w, float(1.0 / np.sum(w ** 2))


def _log_prior(prior: FieldPrior, z: np.ndarray, k: np.ndarray, spread_a: bool) -> np.ndarray:
    """Log density of ``z = (mu, log tau[, a_s])`` given hyperdraws ``k`` (constants dropped)."""
    mean = np.stack([prior.m[k], prior.ell[k]] + ([prior.a[k]] if spread_a else []), axis=1)
    sd = np.stack([prior.s_mu[k], prior.s_tau[k]] + ([prior.s_a[k]] if spread_a else []), axis=1)
    return np.sum(-0.5 * ((z - mean) / sd) ** 2 - np.log(sd), axis=1)


def _move(prior: FieldPrior, errors: pd.DataFrame, state: dict[str, np.ndarray],
          spread_a: bool, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """One Metropolis sweep that leaves the posterior invariant: a random-walk step in
    ``z = (mu, log tau[, a_s])`` given the hyperdraw, then a new hyperdraw ``k`` from the
    prior (uniform) given ``z``, each accepted by the posterior ratio."""
    def unpack(z, k):
        a = z[:, 2] if spread_a else prior.a[k]
        return {"mu": z[:, 0], "tau": np.exp(z[:, 1]), "a": a, "b": prior.b[k], "k": k}

    def log_post(z, k):
        draw = unpack(z, k)
        logl = _log_likelihood(errors, draw["mu"], draw["tau"], draw["a"], draw["b"])
        return logl, logl + _log_prior(prior, z, k, spread_a)

    z = np.stack([state["mu"], np.log(state["tau"])] + ([state["a"]] if spread_a else []), 1)
    k, logl = state["k"], state["logl"]
    current = logl + _log_prior(prior, z, k, spread_a)
    dim = z.shape[1]
    chol = np.linalg.cholesky(np.cov(z, rowvar=False) + 1e-12 * np.eye(dim))
    jump = (2.38 / np.sqrt(dim)) * rng.standard_normal(z.shape) @ chol.T
    hyper = rng.integers(0, len(prior.m), len(k))
    for move_z in (True, False):  # the step in z, then the new hyperdraw
        new_z, new_k = (z + jump, k) if move_z else (z, hyper)
        new_logl, proposed = log_post(new_z, new_k)
        accept = np.log(rng.random(len(k))) < proposed - current
        z, k = np.where(accept[:, None], new_z, z), np.where(accept, new_k, k)
        logl, current = np.where(accept, new_logl, logl), np.where(accept, proposed, current)
    return {**unpack(z, k), "logl": logl}


def update_with_errors(prior: FieldPrior, errors: pd.DataFrame, *, num: int = 4000,
                       seed: int = 0) -> Discrepancy:
    """Field prior updated by a sweep's own fold errors (adaptive importance sampling).

    ``errors`` has columns ``e`` (observed minus predicted log-loss), ``sd``
    (plain predictive SD) and ``d`` (decades beyond the fold's data), and
    optionally ``w`` (a weight per error, default 1); the log-likelihood of draw
    ``j`` is ``sum_i w_i log Normal(e_i; mu_j d_i, (lambda_ij sd_i)^2 + tau_j^2 d_i^2)``.
    Weights ``w_i = 1 / k_i`` for a run held out by ``k_i`` nested folds count each
    run once (a composite likelihood: the folds' errors are correlated, so the
    pooled likelihood is an approximation, not the exact one).

    Where ``errors.attrs["corr"]`` maps each value of column ``fold`` to the
    correlation of that fold fit's plain predictive draws as a pair ``(W, g)``,
    ``R = W W' + diag(g)`` (:func:`correlation_factor`; what
    :func:`bayes_scaling.extrapolation.discrepancy.fold_errors` returns), the errors
    of a fold are jointly normal, ``MVN(mu d, L R L + diag(tau^2 d^2))`` with
    ``L = diag(lambda sd)``: the same joint scaling of a plain draw as
    :meth:`Discrepancy.apply`. Each fold then weighs by the mean of its rows'
    ``w``. Without it the errors are independent, as above: a fit's parameter
    error, shared by all its predictions, would then count once per run.

    The sampler (resample-move, Gilks and Berzuini 2001): ``4 num`` draws from the
    field prior, weighted by the likelihood and resampled to ``num``; when their
    effective sample size (ESS, ``.ess``; below 100 ``.note`` says so) is below
    ``num``, the repeated draws are moved by five Metropolis sweeps that leave the
    posterior invariant (a random walk in ``(mu, log tau, a_s)`` scaled by the draws'
    covariance, and a new hyperdraw from the prior), so the draws are distinct.

    Examples
    --------
    >>> import pandas as pd
    >>> prior = FieldPrior(m=np.full(4, -0.01), s_mu=np.full(4, 0.01),
    ...                    ell=np.full(4, np.log(0.01)), s_tau=np.full(4, 0.5))
    >>> rng = np.random.default_rng(0)
    >>> d = rng.uniform(0.2, 2.0, 400)
    >>> errors = pd.DataFrame({"e": -0.02 * d + 0.01 * d * rng.standard_normal(400),
    ...                        "sd": 0.005, "d": d})
    >>> disc = update_with_errors(prior, errors, seed=0)
    >>> bool(abs(np.median(disc.mu) + 0.02) < 0.005), len(disc.mu), disc.source
    (True, 4000, 'field + own folds')
    """
    draws = prior.sample_all(_CANDIDATES * num, seed)
    logl = _log_likelihood(errors, draws["mu"], draws["tau"], draws["a"], draws["b"])
    w, ess = _ess(logl)
    rng = np.random.default_rng(seed + 1)
    pick = rng.choice(len(w), size=num, p=w)
    state = {**{key: v[pick] for key, v in draws.items()}, "logl": logl[pick]}
    if ess < num:  # resampled draws repeat: move them (resample-move)
        spread_a = bool(np.all(prior.s_a > 0))
        for _ in range(_MOVES):
            state = _move(prior, errors, state, spread_a, rng)
    note = "" if ess >= 100 else (f"importance update has an effective sample size of "
                                  f"{ess:.0f}: the sweep's folds disagree with the field prior")
    return Discrepancy(mu=state["mu"], tau=state["tau"], a=state["a"], b=state["b"],
                       source="field + own folds", note=note, ess=ess)
