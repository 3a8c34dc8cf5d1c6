"""NUTS settings: :class:`SamplerConfig` and how a ``fit_*`` call's keywords become one."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import precision as mixed_precision
from .progress import progress_enabled

__all__ = ["SamplerConfig", "resolve_sampler"]


@dataclass(frozen=True)
class SamplerConfig:
    """NUTS settings.

    Attributes
    ----------
    chains, draws, warmup : int
        Number of chains, kept draws per chain and warm-up (adaptation) steps.
    dense_mass : bool
        Adapt a dense mass matrix (cheap here: a handful of parameters), which
        absorbs the remaining offset-exponent correlation.
    target_accept : float
        Target acceptance probability of the step-size adaptation.
    max_tree_depth : int
        Cap on NUTS tree depth (``2**depth`` leapfrog steps).
    chain_method : str or None
        ``"parallel"``, ``"sequential"`` or ``"vectorized"``; ``None`` chooses.
    progress : bool
        Show a progress bar (compilation, chains) on stderr: see
        :mod:`bayes_scaling.inference.progress`.
    laplace : bool
        Sample in coordinates standardised by a Laplace approximation at the
        mode (found per chain by damped Newton steps from its initial point),
        so leapfrog steps per draw do not grow with the number of runs. An
        affine change of variables: the posterior is the same. Falls back to
        the original coordinates where the Hessian there is not positive definite.
    precision : str
        ``"mixed"``: NUTS evaluates the potential with float32 data and per-run
        log-densities, summed in float64, about 2.5x faster on CPU; checked against
        float64 at draws of every chain, and run again in float64 (with a
        :class:`~bayes_scaling.PrecisionWarning`) where they differ.
        ``"float64"``: float64 throughout. ``"auto"`` (default): mixed for tables of
        more than 1,024 runs (built-in scaling-law models), where it saves more than its
        check costs to compile; see
        :mod:`bayes_scaling.inference.precision`.
    """

    chains: int = 4
    draws: int = 1000
    warmup: int = 1000
    dense_mass: bool = True
    target_accept: float = 0.9
    max_tree_depth: int = 10
    chain_method: str | None = None
    progress: bool = False
    laplace: bool = True
    precision: str = "auto"

    def __post_init__(self) -> None:
        for name in ("chains", "draws", "warmup"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < (0 if name == "warmup" else 1):
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not 0.5 <= self.target_accept < 1:
            raise ValueError(f"target_accept must be in [0.5, 1), got {self.target_accept!r}")
        if self.chain_method not in (None, "parallel", "sequential", "vectorized"):
            raise ValueError("chain_method must be 'parallel', 'sequential', 'vectorized' or None")
        if self.precision not in mixed_precision.PRECISIONS:
            raise ValueError(f"precision must be one of {mixed_precision.PRECISIONS}, "
                             f"got {self.precision!r}")

    def compile_key(self) -> tuple:
        """Settings that change the compiled program (progress does not)."""
        return (self.draws, self.warmup, self.dense_mass, self.target_accept, self.max_tree_depth,
                self.laplace, self.precision)


def resolve_sampler(sampler: SamplerConfig | None, fit_function: Callable,
                    **settings: Any) -> SamplerConfig:
    """The sampler settings of a ``fit_*`` call: ``sampler=`` or the separate keywords.

    Every ``fit_*`` accepts ``sampler=SamplerConfig(...)``; its separate keywords
    (``chains=``, ``draws=``, ...) stay for convenience. Giving both a sampler and
    a separate keyword that differs from ``fit_function``'s default raises.
    """
    if sampler is None:
        if "progress" in settings:  # None: environment and context decide (inference.progress)
            settings["progress"] = progress_enabled(settings["progress"])
        return SamplerConfig(**settings)
    if not isinstance(sampler, SamplerConfig):
        raise TypeError(f"sampler must be a SamplerConfig, got {type(sampler).__name__}")
    defaults = inspect.signature(fit_function).parameters
    clash = [name for name, value in settings.items()
             if name in defaults and value != defaults[name].default]
    if clash:
        raise TypeError(f"give sampler= or {', '.join(f'{n}=' for n in clash)}, not both")
    return sampler
