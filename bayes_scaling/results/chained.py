"""Loss-to-accuracy chaining: loss draws of a ScalingFit through the sigmoid draws of a DownstreamFit."""

from __future__ import annotations

import warnings
from typing import Any

import jax
import numpy as np

from .._lazy import lazy_import
from ..data.sizes import complete_sizes
from ..exceptions import SigmoidExtrapolationWarning
from .base import predictive_table
from .downstream import DownstreamFit
from .scaling_fit import ScalingFit

pd = lazy_import("pandas")

__all__ = ["predict_downstream"]


# --------------------------------------------------------------------------- chaining
def predict_downstream(
    loss_fit: ScalingFit,
    downstream_fit: DownstreamFit,
    C: Any = None,  # noqa: N803 - the field's notation
    *,
    N: Any = None,  # noqa: N803
    D: Any = None,  # noqa: N803
    level: float | None = None,
    seed: int = 0,
    num_draws: int | None = None,
    group: str | None = None,
    num_questions: Any = None,
) -> pd.DataFrame:
    """Accuracy at a compute budget (or at N, D), chaining loss law and sigmoid per draw.

    Step one gives loss draws, ``loss_fit.allocation_draws(C)["loss_opt"]`` at the
    compute-optimal allocation of each budget ``C``, or ``loss_fit.predict_draws(N=,
    D=)``. Step two's sigmoid draws are paired with them at random (without
    replacement, ``numpy.random.default_rng(seed)``; ``num_draws`` pairs, by default
    as many as the smaller posterior has), so each accuracy draw carries one draw of
    each step and the band carries both steps' uncertainty. Both fits must use the
    same loss (e.g. the same evaluation set).

    Parameters
    ----------
    loss_fit : ScalingFit
        Step one (:func:`bayes_scaling.fit` or
        :func:`bayes_scaling.learning_curves.fit_learning_curves`).
    downstream_fit : DownstreamFit
        Step two (:func:`fit_downstream`).
    C : array-like, optional
        Compute budgets (FLOPs); the loss is taken at the compute-optimal allocation.
    N, D : array-like, optional
        Instead of ``C``: model size and tokens (arrays broadcast).
    level : float, optional
        Interval mass (default: the downstream fit's).
    seed : int
        Seed of the pairing and of the predictive noise.
    num_draws : int, optional
        Number of paired draws.
    group : str, optional
        Group of a loss fit with groups.
    num_questions : int, optional
        Benchmark size for the predictive band of a binomial noise model.

    Returns
    -------
    pandas.DataFrame
        One row per point: ``C`` (and ``N_opt``, ``D_opt`` medians) or ``N``, ``D``,
        ``C``; the loss median and band (``loss``, ``loss_lower``, ``loss_upper``);
        the accuracy median and band from both steps (``accuracy``,
        ``accuracy_lower``, ``accuracy_upper``); the band with the loss fixed at its
        median (step two alone: ``fixed_loss_lower``/``_upper``) and with the sigmoid
        fixed at its posterior-median parameters (step one alone:
        ``fixed_sigmoid_lower``/``_upper``); the predictive band of one new model's
        measured accuracy (``pred_lower``/``pred_upper``: adds the loss noise of a
        new run and the benchmark noise); ``level``; and, as in every predictive
        table (``bayes_scaling._predictive.predictive_table``), ``median``,
        ``lower``, ``upper`` (the same values as the ``accuracy`` band).

    Examples
    --------
    >>> # loss_fit: from bs.fit(runs); acc_fit: from bs.fit_downstream(evals, ...)
    >>> table = predict_downstream(loss_fit, acc_fit, C=[1e22, 1e24])
    >>> table[["C", "N_opt", "loss", "accuracy", "accuracy_lower", "accuracy_upper"]].shape
    (2, 6)
    """
    level = downstream_fit.level if level is None else level
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    if C is not None and (N is not None or D is not None):
        raise ValueError("give C (loss at the compute-optimal allocation) or N and D, not both")
    if C is not None:
        alloc = loss_fit.allocation_draws(C, group=group)
        loss_draws = alloc["loss_opt"]
        head = {"C": np.atleast_1d(np.asarray(C, dtype=np.float64)).ravel(),
                "N_opt": np.median(alloc["N_opt"], axis=0),
                "D_opt": np.median(alloc["D_opt"], axis=0)}
    else:
        if N is None or D is None:
            raise ValueError("give C, or both N and D")
        n, d, c = complete_sizes(N, D, None, loss_fit.runs.flops_factor)
        loss_draws = loss_fit.predict_draws(N=n, D=d, group=group)
        head = {"N": np.ravel(n), "D": np.ravel(d), "C": np.ravel(c)}
    num_loss, num_acc = loss_draws.shape[0], downstream_fit.num_draws
    size = min(num_loss, num_acc) if num_draws is None else int(num_draws)
    if not 1 <= size <= min(num_loss, num_acc):
        raise ValueError(f"num_draws must be between 1 and {min(num_loss, num_acc)} (the "
                         f"smaller posterior), got {num_draws!r}")
    rng = np.random.default_rng(seed)
    pick_loss = rng.permutation(num_loss)[:size]
    pick_acc = rng.permutation(num_acc)[:size]
    loss = loss_draws[pick_loss]
    params = {k: v[pick_acc] for k, v in downstream_fit.param_draws().items()}
    acc = downstream_fit.accuracy_draws(loss, params)  # params broadcast over points
    loss_median = np.median(loss, axis=0)
    fitted = downstream_fit.data["loss"]
    outside = (loss_median < fitted.min()) | (loss_median > fitted.max())
    if outside.any():
        warnings.warn(
            f"predicted loss {loss_median[outside][0]:.3g} lies outside the losses the sigmoid "
            f"was fitted to ({fitted.min():.3g} to {fitted.max():.3g}): the accuracy band "
            "extrapolates step two and assumes the sigmoid's form (and ceiling) holds there",
            SigmoidExtrapolationWarning, stacklevel=2)
    fixed_loss = downstream_fit.accuracy_draws(loss_median, params)
    medians = {k: np.full(size, np.median(v)) for k, v in downstream_fit.param_draws().items()}
    fixed_sigmoid = downstream_fit.accuracy_draws(loss, medians)

    key_loss, key_acc = jax.random.split(jax.random.PRNGKey(seed))
    log_noise = loss_fit.noise_draws(loss_draws.shape, key_loss)[pick_loss]
    observed = downstream_fit.observe_draws(
        downstream_fit.accuracy_draws(loss * np.exp(log_noise), params), key_acc,
        sigma=params.get("sigma"), num_questions=num_questions)

    # The one predictive schema (median/lower/upper: accuracy from both steps;
    # pred_lower/pred_upper: a new model's measured accuracy), then the per-step bands.
    out = predictive_table(head, acc, observed, level, mean=False)
    tail = (1.0 - level) / 2.0
    q = [tail, 0.5, 1.0 - tail]
    out["loss_lower"], out["loss"], out["loss_upper"] = np.quantile(loss, q, axis=0)
    out["accuracy_lower"], out["accuracy"], out["accuracy_upper"] = np.quantile(acc, q, axis=0)
    out["fixed_loss_lower"], _, out["fixed_loss_upper"] = np.quantile(fixed_loss, q, axis=0)
    out["fixed_sigmoid_lower"], _, out["fixed_sigmoid_upper"] = np.quantile(fixed_sigmoid, q,
                                                                            axis=0)
    out.attrs["num_draws"] = size
    return out
