r"""Classical (point-estimate) Chinchilla baselines: Approach 3 and Approach 2.

These are the fits the Bayesian models are compared against.

**Approach 3** (Hoffmann et al. 2022, Sec. 3.3; replication by Besiroglu et al.
2024) fits the parametric loss surface

.. math::

    L(N, D) = E + \frac{A}{N^\alpha} + \frac{B}{D^\beta}

by minimising :math:`\sum_i w_i\,\mathrm{Huber}_\delta\big(\log \hat L_i - \log L_i\big)`
with :math:`\delta = 10^{-3}` and

.. math::

    \log \hat L_i = \operatorname{logsumexp}\big(a - \alpha \log N_i,\;
    b - \beta \log D_i,\; e\big), \qquad A = e^a,\; B = e^b,\; E = e^e,

with L-BFGS (optax, zoom line search) from a grid of initialisations, keeping
the best. Intervals come from a non-parametric bootstrap over runs.

**Approach 2** (iso-FLOP profiles) fits, for each compute budget :math:`C`, a
parabola of the loss against :math:`\log N`, takes its vertex as
:math:`N_{opt}(C)` and fits the power laws :math:`N_{opt} = G_N C^a`,
:math:`D_{opt} = G_D C^b` by least squares in log space.

Both fit objects expose ``summary()`` and ``optimal_allocation(C=...)`` with the
same column layout, so the two approaches (and the Bayesian fits) can be put
side by side.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field

import jax
import numpy as np

from .._lazy import lazy_import
from .._predictive import predictive_table
from ..data.runs import RunsTable, RunsTableError, load_runs
from ..data.sizes import complete_sizes
from ..laws.chinchilla import chinchilla_log_allocation_from_logs, chinchilla_log_loss

pd = lazy_import("pandas")

__all__ = ["ClassicalFit"]

logger = logging.getLogger("bayes_scaling")

#: Parameter names of the Chinchilla law, in the order reported.
PARAMETER_NAMES: tuple[str, ...] = ("E", "A", "alpha", "B", "beta")
#: Order of the unconstrained vector the optimiser works on.
THETA_NAMES: tuple[str, ...] = ("a", "b", "e", "alpha", "beta")

_ALLOCATION_QUANTITIES = ("N_opt", "D_opt", "tokens_per_param", "loss_opt")


# ---------------------------------------------------------------------------
# Shared helpers
# ---------------------------------------------------------------------------


def as_runs(runs: pd.DataFrame | RunsTable, flops_factor: float) -> RunsTable:
    """A validated :class:`RunsTable` (``load_runs`` copies, so the caller's frame is safe)."""
    if isinstance(runs, RunsTable):
        return runs
    if isinstance(runs, pd.DataFrame):
        return load_runs(runs, flops_factor=flops_factor)
    raise TypeError(f"expected a pandas DataFrame or a RunsTable, got {type(runs).__name__}")


def select_group(table: RunsTable, group: str | None) -> np.ndarray:
    """Boolean mask of the rows of one group; refuse to pool several groups silently."""
    frame = table.frame
    mask = np.ones(len(frame), dtype=bool)
    if group is not None:
        if not table.has_groups:
            raise RunsTableError(f"group={group!r} given but the table has no group column",
                                 column="group")
        mask = (frame["group"].astype(str) == str(group)).to_numpy()
        if not mask.any():
            raise RunsTableError(
                f"no runs in group {group!r}", column="group",
                fix=f"choose one of {', '.join(table.group_labels)}",
            )
    elif table.has_groups and len(table.group_labels) > 1:
        # One law across data mixtures / architectures is rarely what is meant.
        raise RunsTableError(
            f"the table has {len(table.group_labels)} groups ({', '.join(table.group_labels)})",
            column="group",
            fix="fit one group at a time with group=..., or drop the group column to pool them",
        )
    return mask


def check_level(level: float) -> float:
    level = float(level)
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie strictly between 0 and 1, got {level!r}")
    return level


def percentile_interval(samples: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap interval along axis 0 (NaN replicates ignored)."""
    q = np.array([(1.0 - level) / 2.0, (1.0 + level) / 2.0])
    with warnings.catch_warnings():
        # An all-NaN column yields NaN bounds, which is the honest answer.
        warnings.simplefilter("ignore", RuntimeWarning)
        lo, hi = np.nanquantile(samples, q, axis=0)
    return lo, hi


def as_float_array(values: object, name: str) -> np.ndarray:
    arr = np.atleast_1d(np.asarray(values, dtype=np.float64))
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a scalar or a 1-D array")
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(f"{name} must be positive and finite")
    return arr


def _complete_ndc(N: object, D: object, C: object, k: float) -> tuple[np.ndarray, ...]:  # noqa: N803
    """Two of N, D, C (1-D, broadcast) -> all three: :func:`~bayes_scaling.data.sizes.complete_sizes`."""
    given = {name: as_float_array(v, name) for name, v in (("N", N), ("D", D), ("C", C))
             if v is not None}
    return complete_sizes(given.get("N"), given.get("D"), given.get("C"), k, minimum=2)


def allocation_frame(C: np.ndarray, point: dict[str, np.ndarray],  # noqa: N803
                      draws: dict[str, np.ndarray] | None, level: float) -> pd.DataFrame:
    """The common ``optimal_allocation`` layout: C, then each quantity with _lower/_upper."""
    out = {"C": C}
    for name in _ALLOCATION_QUANTITIES:
        out[name] = point[name]
        if draws is not None and name in draws:
            lo, hi = percentile_interval(draws[name], level)
        else:
            lo = hi = np.full_like(C, np.nan)
        out[f"{name}_lower"] = lo
        out[f"{name}_upper"] = hi
    return pd.DataFrame(out)


# ---------------------------------------------------------------------------
# Approach 3: the Huber fit of the parametric law, in JAX
# ---------------------------------------------------------------------------


def log_predict(theta: jax.Array, log_n: jax.Array, log_d: jax.Array) -> jax.Array:
    """log L(N, D) = logsumexp(a - alpha log N, b - beta log D, e), stable for any theta."""
    a, b, e, alpha, beta = theta
    return chinchilla_log_loss(a, alpha, b, beta, e, log_n, log_d)


def theta_to_params(theta: np.ndarray) -> dict[str, np.ndarray]:
    theta = np.asarray(theta, dtype=np.float64)
    a, b, e, alpha, beta = (theta[..., i] for i in range(5))
    return {"E": np.exp(e), "A": np.exp(a), "alpha": alpha, "B": np.exp(b), "beta": beta}


def _params_to_theta(params: Mapping[str, float] | pd.DataFrame) -> np.ndarray:
    cols = [np.log(np.asarray(params["A"], dtype=np.float64)),
            np.log(np.asarray(params["B"], dtype=np.float64)),
            np.log(np.asarray(params["E"], dtype=np.float64)),
            np.asarray(params["alpha"], dtype=np.float64),
            np.asarray(params["beta"], dtype=np.float64)]
    return np.stack(cols, axis=-1)


def _log_loss_np(theta: np.ndarray, log_n: np.ndarray, log_d: np.ndarray) -> np.ndarray:
    """NumPy twin of :func:`log_predict`; ``theta`` (..., 5) broadcasts against the data."""
    a, b, e, alpha, beta = (theta[..., i, None] for i in range(5))
    return chinchilla_log_loss(a, alpha, b, beta, e, log_n, log_d, xp=np)


def _allocation_np(theta: np.ndarray, log_c_over_k: np.ndarray) -> dict[str, np.ndarray]:
    """Closed-form compute-optimal allocation in log space, theta (..., 5) x C (m,)."""
    a, b, e, alpha, beta = (theta[..., i, None] for i in range(5))
    with np.errstate(invalid="ignore", divide="ignore"):  # undefined unless alpha, beta > 0
        log_n, log_d = chinchilla_log_allocation_from_logs(a, alpha, b, beta, log_c_over_k, xp=np)
        loss = np.exp(chinchilla_log_loss(a, alpha, b, beta, e, log_n, log_d, xp=np))
    return {"N_opt": np.exp(log_n), "D_opt": np.exp(log_d),
            "tokens_per_param": np.exp(log_d - log_n), "loss_opt": loss}


@dataclass(frozen=True)
class ClassicalFit:
    """Result of :func:`fit_approach3` (immutable).

    Attributes
    ----------
    params : dict
        Best fit ``E``, ``A``, ``alpha``, ``B``, ``beta``.
    objective : float
        Sum of Huber losses at the best fit.
    bootstrap : pandas.DataFrame or None
        One row per successful bootstrap replicate (columns ``E``, ``A``,
        ``alpha``, ``B``, ``beta``, ``objective``), ``None`` without bootstrap.
    solutions : pandas.DataFrame
        Final point and objective of every start (``finite`` marks the kept ones):
        several distinct minima with near-equal objective signal weak
        identification.
    level : float
        Default interval level of :meth:`summary`, :meth:`predict`,
        :meth:`optimal_allocation`.
    flops_factor : float
        ``k`` in ``C = k N D``.
    huber_delta : float
    num_runs : int
    num_starts : int
    num_failed_starts : int
        Starts that ended non-finite (discarded, never clipped).
    num_failed_bootstrap : int
        Replicates whose every start ended non-finite (discarded).
    n_iter : int
        L-BFGS iterations of the best start.
    residual_sd : float
        RMS of the best fit's log residuals: the observation noise of
        :meth:`predict`'s ``pred_lower``/``pred_upper``.
    """

    params: dict[str, float]
    objective: float
    bootstrap: pd.DataFrame | None
    solutions: pd.DataFrame = field(repr=False)
    level: float = 0.9
    flops_factor: float = 6.0
    huber_delta: float = 1e-3
    num_runs: int = 0
    num_starts: int = 0
    num_failed_starts: int = 0
    num_failed_bootstrap: int = 0
    n_iter: int = 0
    residual_sd: float = float("nan")

    @property
    def theta(self) -> np.ndarray:
        """Best fit as the optimiser's vector ``(a, b, e, alpha, beta)``."""
        return _params_to_theta(self.params)

    def _boot_theta(self) -> np.ndarray | None:
        if self.bootstrap is None or len(self.bootstrap) == 0:
            return None
        return _params_to_theta(self.bootstrap)

    def summary(self, level: float | None = None) -> pd.DataFrame:
        """Estimates with percentile bootstrap intervals.

        Rows ``E``, ``A``, ``alpha``, ``B``, ``beta`` and the allocation exponents
        ``a = beta/(alpha+beta)`` (``N_opt ~ C^a``) and ``b = alpha/(alpha+beta)``
        (``D_opt ~ C^b``), which line up with :meth:`IsoFlopFit.summary` (these
        are not the optimiser's log-coefficients ``a = log A``, ``b = log B``).

        Parameters
        ----------
        level : float, optional
            Interval level (default: the fit's ``level``). Bounds are NaN without
            bootstrap replicates.

        Returns
        -------
        pandas.DataFrame
            Columns ``parameter``, ``estimate``, ``lower``, ``upper``, ``method``.
        """
        level = check_level(self.level if level is None else level)
        p = self.params
        s = p["alpha"] + p["beta"]
        estimates = [p[name] for name in PARAMETER_NAMES] + [p["beta"] / s, p["alpha"] / s]
        names = [*PARAMETER_NAMES, "a", "b"]
        if self.bootstrap is not None and len(self.bootstrap):
            bs = self.bootstrap
            draws = np.column_stack(
                [bs[name].to_numpy() for name in PARAMETER_NAMES]
                + [bs["beta"] / (bs["alpha"] + bs["beta"]), bs["alpha"] / (bs["alpha"] + bs["beta"])]
            )
            lower, upper = percentile_interval(draws, level)
        else:
            lower = upper = np.full(len(names), np.nan)
        return pd.DataFrame({"parameter": names, "estimate": estimates, "lower": lower,
                             "upper": upper, "method": "approach3"})

    def predict(self, *, N: object = None, D: object = None, C: object = None,  # noqa: N803
                level: float | None = None, seed: int = 0) -> pd.DataFrame:
        """Predicted loss ``E + A/N^alpha + B/D^beta`` with bootstrap bands.

        Parameters
        ----------
        N, D, C : float or array-like, optional
            Two of the three (broadcast against each other); the third follows
            from ``C = k N D``.
        level : float, optional
            Level of the bands.
        seed : int
            Seed of the residual noise draws of the predictive band.

        Returns
        -------
        pandas.DataFrame
            The predictive-table schema of every results type: ``N``, ``D``, ``C``,
            ``median``, ``lower``, ``upper`` (percentiles of the bootstrap replicates'
            curves), ``pred_lower``, ``pred_upper`` (replicates plus log-normal noise
            of SD ``residual_sd``) and ``level``; plus ``loss``, the best fit's
            point prediction (Approach 3's answer). Without bootstrap every band is NaN.
        """
        level = check_level(self.level if level is None else level)
        n, d, c = _complete_ndc(N, D, C, self.flops_factor)
        log_n, log_d = np.log(n), np.log(d)
        point = np.exp(_log_loss_np(self.theta, log_n, log_d))
        boot = self._boot_theta()
        inputs = {"N": n, "D": d, "C": c}
        if boot is None:
            nan = np.full((1, len(point)), np.nan)
            table = predictive_table(inputs, nan, nan, level, mean=False)
        else:
            log_curve = _log_loss_np(boot, log_n, log_d)
            noise = np.random.default_rng(seed).standard_normal(log_curve.shape)
            table = predictive_table(inputs, np.exp(log_curve),
                                     log_curve + self.residual_sd * noise, level,
                                     log_observed=True, mean=False)
        table.insert(3, "loss", point)
        return table

    def optimal_allocation(self, C: object, *, level: float | None = None  # noqa: N803
                           ) -> pd.DataFrame:
        r"""Compute-optimal N and D for budgets ``C`` under ``C = k N D`` (closed form).

        .. math::

            G = \left(\frac{\alpha A}{\beta B}\right)^{1/(\alpha+\beta)},\quad
            N_{opt} = G \left(\frac{C}{k}\right)^{\beta/(\alpha+\beta)},\quad
            D_{opt} = G^{-1} \left(\frac{C}{k}\right)^{\alpha/(\alpha+\beta)}

        evaluated in log space.

        Parameters
        ----------
        C : float or array-like
            Compute budgets in FLOPs.
        level : float, optional
            Bootstrap interval level.

        Returns
        -------
        pandas.DataFrame
            Columns ``C``, ``N_opt``, ``D_opt``, ``tokens_per_param``, ``loss_opt``,
            each quantity followed by ``_lower`` / ``_upper`` (NaN without bootstrap).

        Raises
        ------
        ValueError
            If the best fit has ``alpha <= 0`` or ``beta <= 0`` (no finite optimum).
        """
        level = check_level(self.level if level is None else level)
        if not (self.params["alpha"] > 0 and self.params["beta"] > 0):
            raise ValueError("the fit has alpha <= 0 or beta <= 0: no finite compute-optimal "
                             "allocation exists")
        c = as_float_array(C, "C")
        log_ck = np.log(c / self.flops_factor)
        point = {k: v[0] for k, v in _allocation_np(self.theta[None, :], log_ck).items()}
        boot = self._boot_theta()
        draws = _allocation_np(boot, log_ck) if boot is not None else None
        return allocation_frame(c, point, draws, level)


# ---------------------------------------------------------------------------
# Approach 2: iso-FLOP profiles
# ---------------------------------------------------------------------------


