"""The simulation side of SBC: the design, the priors and the prior draws of the simulated tables."""

from __future__ import annotations

from collections.abc import Mapping

import jax
import numpy as np
import numpyro.distributions as dist
from numpyro.infer import Predictive

from .._lazy import lazy_import
from ..laws import Law, get_law
from ..models.likelihood import noise_priors
from ..models.scaling import build_model
from ..models.setup import prepare
from ..models.simulation import EXAMPLE_TRUTH, iso_flop_design, simulate

pd = lazy_import("pandas")


# --------------------------------------------------------------------- design
def sbc_design(law: str | Law) -> pd.DataFrame:
    """A fixed, realistic design of runs for calibration, with reference losses.

    * Laws of ``N`` and ``D`` (Chinchilla, Kaplan): 5 iso-FLOP lines from 1e18 to
      1e20 FLOPs, 10 model sizes each spanning 2 to 400 tokens per parameter
      (50 runs).
    * Single-axis laws: 20 runs on the compute-optimal frontier of
      :data:`~bayes_scaling.EXAMPLE_TRUTH` from 1e18 to 1e21 FLOPs.

    The ``loss`` column holds the noise-free losses of ``EXAMPLE_TRUTH`` at these
    runs. It only sets the scale of the default priors (:func:`sbc_priors`: ``E``
    below the smallest loss, offsets around the typical loss); simulated tables
    replace it with prior predictive draws.

    Returns
    -------
    pandas.DataFrame
        The law's input columns and ``loss``.
    """
    law = get_law(law)
    if set(law.inputs) >= {"N", "D"}:
        grid = iso_flop_design(np.geomspace(1e18, 1e20, 5), runs_per_budget=10,
                               tokens_per_param=(2.0, 400.0))
        n, d = grid["N"].to_numpy(), grid["D"].to_numpy()
    else:
        t = EXAMPLE_TRUTH
        s = t["alpha"] + t["beta"]
        g = (t["alpha"] * t["A"] / (t["beta"] * t["B"])) ** (1.0 / s)
        c = np.geomspace(1e18, 1e21, 20)
        n = g * (c / 6.0) ** (t["beta"] / s)
        d = c / (6.0 * n)
    reference = simulate("chinchilla", EXAMPLE_TRUTH, N=n, D=d, noise=0.0)
    table = reference[list(law.inputs)].copy()
    table["loss"] = reference["loss"].to_numpy()
    return table


def sbc_priors(
    law: str | Law,
    design: pd.DataFrame | None = None,
    *,
    likelihood: str = "normal",
    priors: Mapping[str, dist.Distribution] | None = None,
) -> dict[str, dist.Distribution]:
    """Explicit priors of every sampled site: the defaults evaluated for ``design``.

    Parameters
    ----------
    law : str or Law
    design : DataFrame, optional
        Runs with the law's inputs and reference ``loss`` (default:
        :func:`sbc_design`). The centres and loss scale of the default priors
        come from it.
    likelihood : {"normal", "student_t"}
    priors : mapping, optional
        Overrides of sampled sites (``"E"``, ``"alpha"``, ``"log_A_c"``,
        ``"sigma"``, ...). Priors on derived offsets (``"A"``, ``"B"``) are not
        accepted: prior simulation needs a proper distribution on each site.

    Returns
    -------
    dict
        ``{site: distribution}`` for every sampled site of the model.
    """
    law = get_law(law)
    design = sbc_design(law) if design is None else design
    _, fixed, _ = prepare(design, law, likelihood, {}, 6.0, None)
    out: dict[str, dist.Distribution] = {**law.default_priors(fixed.as_arrays()),
                                         **noise_priors(likelihood)}
    for name, prior in dict(priors or {}).items():
        if name not in out:
            raise ValueError(
                f"SBC priors must be on sampled sites; got {name!r}, the {law.name} model with "
                f"a {likelihood} likelihood samples {sorted(out)} (give 'log_A_c' rather than 'A')"
            )
        out[name] = prior
    return out


def draw_prior_tables(
    law: str | Law,
    num_tables: int,
    *,
    design: pd.DataFrame | None = None,
    likelihood: str = "normal",
    priors: Mapping[str, dist.Distribution] | None = None,
    max_loss: float = 20.0,
    seed: int = 0,
) -> tuple[list[pd.DataFrame], pd.DataFrame, int]:
    """Prior predictive runs tables, rejecting absurd ones.

    Parameters
    ----------
    law : str or Law
    num_tables : int
        Tables to return (after rejection).
    design : DataFrame, optional
        Inputs of the runs (default :func:`sbc_design`); its ``loss`` is ignored
        except through the default ``priors``.
    likelihood : {"normal", "student_t"}
    priors : mapping, optional
        Explicit priors of every site (default :func:`sbc_priors`).
    max_loss : float
        Tables with any loss above it, or a non-finite loss, are rejected.
    seed : int

    Returns
    -------
    tables : list of DataFrame
        The law's input columns and simulated ``loss``.
    truths : DataFrame
        One row per table: the user-facing parameters and noise parameters
        that generated it.
    num_rejected : int
        Prior draws rejected on the way.
    """
    law = get_law(law)
    design = sbc_design(law) if design is None else design
    priors = sbc_priors(law, design, likelihood=likelihood) if priors is None else dict(priors)
    _, _, kwargs = prepare(design, law, likelihood, priors, 6.0, None)
    kwargs = {**kwargs, "log_loss": None}
    model = build_model(law, likelihood)
    names = list(law.param_names) + list(noise_priors(likelihood))
    key = jax.random.PRNGKey(seed)
    tables: list[pd.DataFrame] = []
    truths: list[dict[str, float]] = []
    rejected = 0
    inputs = design[list(law.inputs)].reset_index(drop=True)
    for _ in range(100):
        if len(tables) >= num_tables:
            break
        key, sub = jax.random.split(key)
        wanted = max(16, 2 * (num_tables - len(tables)))
        with jax.enable_x64(True):
            draws = Predictive(model, num_samples=wanted)(sub, **kwargs)
        loss = np.exp(np.asarray(draws["log_loss"], dtype=np.float64))
        values = {n: np.asarray(draws[n], dtype=np.float64) for n in names}
        good = np.all(np.isfinite(loss), axis=1) & (loss.max(axis=1) <= max_loss)
        good &= np.all([np.isfinite(v) for v in values.values()], axis=0)
        for i in range(wanted):
            if len(tables) >= num_tables:
                break
            if not good[i]:
                rejected += 1
                continue
            table = inputs.copy()
            table["loss"] = loss[i]
            tables.append(table)
            truths.append({n: float(values[n][i]) for n in names})
    if len(tables) < num_tables:
        raise RuntimeError(
            f"only {len(tables)} of {num_tables} prior draws gave tables with losses below "
            f"{max_loss}: the priors are far from the design's scale"
        )
    return tables, pd.DataFrame(truths), rejected
