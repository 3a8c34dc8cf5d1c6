"""On-demand pointwise log-likelihood of a fit (LOO, model comparison, outlier reports).

Fits do not store ``log p(y_i | theta_s)`` (draws x runs values); the mixin's
methods compute it once, in blocks (:mod:`bayes_scaling.inference.pointwise`),
and cache it in the fit's ``_cache`` dict field.
"""

from __future__ import annotations

import numpy as np

from .._lazy import lazy_import
from ..inference.assembly import with_log_likelihood
from ..inference.pointwise import pointwise_log_likelihood

xr = lazy_import("xarray")

__all__ = ["OnDemandLogLikelihood"]


class OnDemandLogLikelihood:
    """Mixin for a results dataclass with ``posterior`` and a ``_cache: dict`` field."""

    def log_likelihood(self) -> np.ndarray:
        """Pointwise log-likelihood, shape ``(chains, draws, runs)``; computed once, then cached.

        Not stored by default (draws x runs values: 6.4 GB at 100,000 runs); it is
        evaluated in blocks on first use (see :mod:`bayes_scaling.inference.pointwise`).
        """
        if "log_likelihood" not in self._cache:
            if "log_likelihood" in self.posterior.children:  # stored (log_likelihood=True, load)
                values = self.posterior["log_likelihood"]["log_loss"]
                values = np.asarray(values.transpose("chain", "draw", "run").values)
            else:
                values = self._pointwise_log_likelihood()
            self._cache["log_likelihood"] = values
        return self._cache["log_likelihood"]

    def _pointwise_log_likelihood(self) -> np.ndarray:
        """Compute the values (a subclass whose model has more than the law's density overrides)."""
        return pointwise_log_likelihood(self)

    def log_likelihood_tree(self) -> xr.DataTree:
        """:attr:`posterior` with the ``log_likelihood`` group, as ArviZ's LOO reads it (cached)."""
        if "log_likelihood" in self.posterior.children:
            return self.posterior
        if "tree" not in self._cache:
            self._cache["tree"] = with_log_likelihood(self.posterior, self.log_likelihood())
        return self._cache["tree"]
