"""Loaders for the public scaling-law tables kept outside the project.

The tables are *not* shipped with the package: they live in a shared data folder
(see its ``README.md`` for provenance and licences). The folder is found as

1. the ``root`` argument, if given;
2. else the environment variable ``BAYES_SCALING_DATA``;
3. else ``<project root>/../shared/data``, where the project root is the parent
   of the ``bayes_scaling`` package directory.

Every loader returns a new pandas DataFrame in the canonical runs layout of
:func:`bayes_scaling.data.load_runs` (float64 ``N``, ``D``, ``C``, ``loss``; a
``group`` label where the data have groups) plus the source columns that matter,
and records its conventions in ``df.attrs``:

``source``            where the table comes from
``path``              the file read
``parameter_count``   which parameter count ``N`` is
``flops_convention``  how ``C`` relates to ``N`` and ``D``
``loss``              what the loss measures
``license``           the source's licence as stated in the data README
``notes``             anything a fit should know (rows dropped, caveats)
"""

from __future__ import annotations

import ast
import os
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np

from .._lazy import lazy_import

pd = lazy_import("pandas")

__all__ = [
    "DATA_ENV_VAR",
    "LOADERS",
    "data_root",
    "load_chinchilla",
    "load_datablations",
    "load_gadre2024",
    "load_gemstones",
    "load_porian2024",
    "load_marin_isoflops",
    "load_pythia",
    "shared_data_available",
]

#: Environment variable naming the data folder.
DATA_ENV_VAR = "BAYES_SCALING_DATA"

_PROJECT_ROOT = Path(__file__).resolve().parents[2]  # bayes_scaling/data/datasets.py
_DEFAULT_ROOT = _PROJECT_ROOT.parent / "shared" / "data"

_CANONICAL = ("N", "D", "C", "loss")


def _candidate_root(root: str | os.PathLike | None) -> Path:
    if root is not None:
        return Path(root)
    env = os.environ.get(DATA_ENV_VAR)
    if env:
        return Path(env)
    return _DEFAULT_ROOT


def data_root(root: str | os.PathLike | None = None, *, check: bool = True) -> Path:
    """The shared data folder.

    Parameters
    ----------
    root : path, optional
        Explicit folder; otherwise ``$BAYES_SCALING_DATA``, otherwise
        ``<project root>/../shared/data``.
    check : bool, default True
        Raise if the folder does not exist.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    FileNotFoundError
        Naming the folder looked for and how to point the library elsewhere.
    """
    path = _candidate_root(root)
    if check and not path.is_dir():
        how = ("the `root` argument" if root is not None
               else f"${DATA_ENV_VAR}" if os.environ.get(DATA_ENV_VAR) else "the default location")
        raise FileNotFoundError(
            f"scaling-law data folder not found: {str(path)!r} (from {how}). Pass root=..., or set "
            f"the environment variable {DATA_ENV_VAR} to the folder holding chinchilla_epoch/, "
            "marin_isoflops/, ... (default: <project root>/../shared/data)"
        )
    return path


def shared_data_available(root: str | os.PathLike | None = None) -> bool:
    """Whether the data folder (resolved as in :func:`data_root`) exists."""
    return _candidate_root(root).is_dir()


def _read(root: str | os.PathLike | None, relative: str) -> tuple[pd.DataFrame, Path]:
    path = data_root(root) / relative
    if not path.is_file():
        raise FileNotFoundError(
            f"data file not found: {str(path)!r}; the data folder exists but lacks {relative!r} "
            f"(set {DATA_ENV_VAR} or pass root=... to use another copy)"
        )
    return pd.read_csv(path), path


def _finish(frame: pd.DataFrame, path: Path, **attrs: str) -> pd.DataFrame:
    """Canonical dtypes, fresh index, attrs; checks the canonical columns."""
    frame = frame.reset_index(drop=True)
    for name in _CANONICAL:
        frame[name] = frame[name].astype(np.float64)
        values = frame[name].to_numpy()
        if not (np.all(np.isfinite(values)) and np.all(values > 0)):
            bad = int(np.argmax(~(np.isfinite(values) & (values > 0))))
            raise ValueError(f"{path}: canonical column {name!r} has a non-positive or non-finite "
                             f"value at row {bad}")
    if "group" in frame.columns:
        frame["group"] = frame["group"].astype(str)
    frame.attrs.update({"path": str(path), **attrs})
    return frame


def load_chinchilla(root: str | os.PathLike | None = None, *, drop_high_loss: int = 5
                    ) -> pd.DataFrame:
    """Digitised Chinchilla runs (Hoffmann et al. 2022, Fig. 4; Besiroglu et al. 2024).

    ``N`` = ``Model Size``, ``C`` = ``Training FLOP``, ``D = C / (6 N)``, ``loss``
    = final training loss. Digitisation columns (``x``, ``y``, colours) are dropped.

    Parameters
    ----------
    root : path, optional
        Data folder (see :func:`data_root`).
    drop_high_loss : int, default 5
        Drop this many highest-loss rows, as Besiroglu et al. did before fitting
        (245 -> 240 rows). ``0`` keeps all.

    Returns
    -------
    pandas.DataFrame
        Columns ``N``, ``D``, ``C``, ``loss`` (original row order).
    """
    if drop_high_loss < 0:
        raise ValueError(f"drop_high_loss must be >= 0, got {drop_high_loss}")
    raw, path = _read(root, "chinchilla_epoch/svg_extracted_data.csv")
    n = raw["Model Size"].astype(np.float64)
    c = raw["Training FLOP"].astype(np.float64)
    frame = pd.DataFrame({"N": n, "D": c / (6.0 * n), "C": c, "loss": raw["loss"]})
    if drop_high_loss:
        dropped = frame["loss"].sort_values(ascending=False, kind="stable").index[:drop_high_loss]
        frame = frame.drop(index=dropped)
    return _finish(
        frame, path,
        source="Hoffmann et al. (2022) Fig. 4, digitised by Besiroglu et al. (2024), "
               "github.com/epoch-research/analyzing-chinchilla data/svg_extracted_data.csv",
        parameter_count="as plotted in Hoffmann et al. Fig. 4 (total)",
        flops_convention="C = 6 N D (C digitised, D derived as C / (6 N))",
        loss="final training loss, nats per token (digitised from a plot)",
        license="no licence file; figures digitised from a published plot",
        notes=f"{drop_high_loss} highest-loss rows dropped (Besiroglu et al. 2024)"
        if drop_high_loss else "all rows kept",
    )


def load_marin_isoflops(root: str | os.PathLike | None = None) -> pd.DataFrame:
    """Marin iso-FLOP sweeps (March 2026) on three data mixtures.

    ``N`` = ``params``, ``D`` = ``tokens``, ``C = 6 N D``, ``group`` = ``dataset``
    (comma / dclm / nemotron); ``budget`` keeps the nominal iso-FLOP budget each
    run belongs to (use ``fit_approach2(..., budget_column="budget")``).

    Returns
    -------
    pandas.DataFrame
        Columns ``N``, ``D``, ``C``, ``loss``, ``group``, ``budget``.
    """
    raw, path = _read(root, "marin_isoflops/isoflops.csv")
    n = raw["params"].astype(np.float64)
    d = raw["tokens"].astype(np.float64)
    frame = pd.DataFrame({"N": n, "D": d, "C": 6.0 * n * d, "loss": raw["loss"],
                          "group": raw["dataset"].astype(str),
                          "budget": raw["budget"].astype(np.float64)})
    return _finish(
        frame, path,
        source="Marin project iso-FLOP sweeps (marin_202603), via github.com/Open-Athena/"
               "scaling-law-analysis data/isoflops/extract/isoflops.csv",
        parameter_count="params column of the source (Llama-2-style model)",
        flops_convention="C = 6 N D; `budget` is the nominal iso-FLOP budget "
                         "(6 N D / budget ranges from about 0.93 to 1.35)",
        loss="final validation loss of each mixture on its own validation data (nats)",
        license="no licence file in the source repository",
        notes="groups are data mixtures; their losses are on different evaluation sets",
    )


def _run_name(model_args: str) -> str:
    try:
        value = ast.literal_eval(model_args)
    except (ValueError, SyntaxError):
        return str(model_args)
    return str(value.get("name", model_args)) if isinstance(value, dict) else str(value)


def load_datablations(root: str | os.PathLike | None = None, *,
                      which: Literal["contour", "parametric_fit"] = "contour") -> pd.DataFrame:
    """Data-constrained runs of Muennighoff et al. (2023), all on C4.

    Parameters
    ----------
    root : path, optional
    which : {"contour", "parametric_fit"}
        ``"contour"``: the 229 runs of the contour plots (IBM/ColPret copy; ``U``
        is ``D / epochs``, see ``attrs["notes"]``). ``"parametric_fit"``: the 182
        runs of the published R_D*/R_N* fit (parsed from
        ``utils/parametric_fit.ipynb``).

    Returns
    -------
    pandas.DataFrame
        ``N``, ``D`` (total tokens seen), ``C``, ``loss``, ``U`` (unique tokens),
        ``epochs`` (``D / U``), ``run``.
    """
    if which == "contour":
        raw, path = _read(root, "datablations/datablations_contour_losses.csv")
        d = raw["token_num"].astype(np.float64)
        # The source's tokens_per_epoch is 1.5e9 on every row, contradicting its own
        # epochs column and the run names (params|tokens|unique, e.g. 2b84b4b = 1
        # epoch of 4B). Unique tokens are D / epochs, rounded to 3 significant
        # figures because the printed epochs are rounded (6.111111 for 55B / 9B).
        u = np.array([float(f"{x:.3g}") for x in d / raw["epochs"].astype(np.float64)])
        frame = pd.DataFrame({
            "N": raw["num_params"], "D": d, "C": raw["flops"], "loss": raw["openLM_loss"],
            "U": u, "epochs": d / u, "run": raw["model_args"].map(_run_name),
        })
        source = ("Muennighoff et al. (2023), via github.com/IBM/ColPret "
                  "aggregated_eval/datablations_contour_losses.csv")
        license_ = "MIT (IBM/ColPret)"
        flops = "C = 6 N D (the source's flops column, equal to 6 N D)"
        notes = ("contour-plot runs on C4; U = D / epochs (the source's tokens_per_epoch "
                 "column, 1.5e9 everywhere, disagrees with its epochs and run names)")
    elif which == "parametric_fit":
        raw, path = _read(root, "datablations/parametric_fit_182_samples_used_for_RD_RN_fit.csv")
        n = raw["N"].astype(np.float64)
        d = raw["D"].astype(np.float64)
        u = raw["U"].astype(np.float64)
        frame = pd.DataFrame({"N": n, "D": d, "C": 6.0 * n * d, "loss": raw["loss"], "U": u,
                              "epochs": d / u, "run": raw["name"].astype(str)})
        source = ("Muennighoff et al. (2023), github.com/huggingface/datablations "
                  "utils/parametric_fit.ipynb (cell 26 output)")
        license_ = "Apache-2.0 (huggingface/datablations)"
        flops = "C = 6 N D"
        notes = "the 182 runs of the published R_D*/R_N* fit (outliers already removed)"
    else:
        raise ValueError(f"which must be 'contour' or 'parametric_fit', got {which!r}")
    return _finish(
        frame, path, source=source, license=license_, flops_convention=flops, notes=notes,
        parameter_count="parameters including embeddings",
        loss="final validation loss on C4 (nats)",
    )


_GADRE_FILE = "gadre2024_overtraining/gadre2024_models_compiled.csv"


def load_gadre2024(root: str | os.PathLike | None = None, *, eval_set: str = "c4_val",
                   parameters: Literal["total", "non_embedding"] = "total") -> pd.DataFrame:
    """Over-trained OpenLM runs of Gadre et al. (2024), three pre-training sets.

    Parameters
    ----------
    root : path, optional
    eval_set : str, default "c4_val"
        Which ``loss_<eval_set>`` column is ``loss`` (e.g. ``"openlm"``,
        ``"c4_val"``, ``"paloma_c4_en"``, ``"de-en"``).
    parameters : {"total", "non_embedding"}
        Whether ``N`` (and so ``C = 6 N D``) counts embeddings.

    Returns
    -------
    pandas.DataFrame
        ``N``, ``D``, ``C``, ``loss``, ``group`` (``dataset_name``), ``N_total``,
        ``N_no_embed``, ``chinchilla_multiplier`` (tokens per parameter / 20),
        ``loss_lower95``, ``loss_upper95``, ``run``, ``model_config``.
    """
    raw, path = _read(root, _GADRE_FILE)
    available = sorted(c[len("loss_"):] for c in raw.columns
                       if c.startswith("loss_") and not c.startswith(("loss_lower95_",
                                                                      "loss_upper95_")))
    if eval_set not in available:
        raise ValueError(f"unknown eval_set {eval_set!r}; available: {', '.join(available)}")
    if parameters not in ("total", "non_embedding"):
        raise ValueError(f"parameters must be 'total' or 'non_embedding', got {parameters!r}")
    n_total = raw["N"].astype(np.float64)
    n_no_embed = raw["N_no_embed"].astype(np.float64)
    n = n_total if parameters == "total" else n_no_embed
    d = raw["D"].astype(np.float64)
    frame = pd.DataFrame({
        "N": n, "D": d, "C": 6.0 * n * d, "loss": raw[f"loss_{eval_set}"],
        "group": raw["dataset_name"].astype(str), "N_total": n_total, "N_no_embed": n_no_embed,
        "chinchilla_multiplier": raw["chinchilla_multiplier"].astype(np.float64),
        "loss_lower95": raw[f"loss_lower95_{eval_set}"].astype(np.float64),
        "loss_upper95": raw[f"loss_upper95_{eval_set}"].astype(np.float64),
        "run": raw["name"].astype(str), "model_config": raw["model_config"].astype(str),
    })
    return _finish(
        frame, path,
        source="Gadre et al. (2024), github.com/mlfoundations/scaling exp_data/models/*.json",
        parameter_count="total (with embeddings)" if parameters == "total"
        else "non-embedding (N_no_embed)",
        flops_convention="C = 6 N D with the chosen N (the source's C_6ND uses total N)",
        loss=f"loss_{eval_set}: evaluation loss on {eval_set} (nats), with 95% bounds",
        license="MIT (mlfoundations/scaling)",
        notes="5 to 640 tokens per parameter; groups are pre-training data sets",
    )


_PYTHIA_FILE = "pythia/pythia_v1_zero_shot_lambada_by_checkpoint.csv"
_PYTHIA_ACCURACIES = ("lambada_openai_acc", "piqa_acc", "arc_easy_acc", "sciq_acc",
                      "winogrande_acc")


def load_pythia(root: str | os.PathLike | None = None, *, deduped: bool | None = None,
                min_step: int = 1,
                parameters: Literal["total", "non_embedding"] = "total") -> pd.DataFrame:
    """Pythia learning curves: LAMBADA loss at intermediate checkpoints.

    ``D`` = tokens seen (2,097,152 per step), ``loss = ln(lambada_openai_ppl)`` (a
    task loss, not Pile next-token loss), ``C = 6 N D``. Checkpoints of one run are
    not independent.

    Parameters
    ----------
    root : path, optional
    deduped : bool, optional
        ``True``: deduplicated-Pile models only; ``False``: standard Pile only;
        ``None`` (default): both, told apart by ``group``.
    min_step : int, default 1
        Keep checkpoints with ``step >= min_step``; must be >= 1 (step 0 has seen
        no tokens).
    parameters : {"total", "non_embedding"}
        ``N`` = ``N_total`` (default) or ``N_nonembed``.

    Returns
    -------
    pandas.DataFrame
        ``N``, ``D``, ``C``, ``loss``, ``group`` (``"pile"`` / ``"pile_deduped"``),
        ``run`` (model name), ``step``, ``deduped``, ``N_total``, ``N_no_embed``,
        ``lambada_openai_ppl`` and the downstream accuracies.
    """
    if min_step < 1:
        raise ValueError(f"min_step must be >= 1 (step 0 has D = 0), got {min_step}")
    if parameters not in ("total", "non_embedding"):
        raise ValueError(f"parameters must be 'total' or 'non_embedding', got {parameters!r}")
    raw, path = _read(root, _PYTHIA_FILE)
    dedup = raw["deduped"].astype(str).str.lower().eq("true")
    keep = raw["step"].to_numpy() >= min_step
    if deduped is not None:
        keep &= (dedup == bool(deduped)).to_numpy()
    raw, dedup = raw[keep], dedup[keep]
    n_total = raw["N_total"].astype(np.float64)
    n_no_embed = raw["N_nonembed"].astype(np.float64)
    n = n_total if parameters == "total" else n_no_embed
    d = raw["tokens"].astype(np.float64)
    frame = pd.DataFrame({
        "N": n, "D": d, "C": 6.0 * n * d, "loss": np.log(raw["lambada_openai_ppl"]),
        "group": np.where(dedup, "pile_deduped", "pile"), "run": raw["model"].astype(str),
        "step": raw["step"].astype(np.int64), "deduped": dedup.to_numpy(),
        "N_total": n_total, "N_no_embed": n_no_embed,
        "lambada_openai_ppl": raw["lambada_openai_ppl"].astype(np.float64),
        **{col: raw[col].astype(np.float64) for col in _PYTHIA_ACCURACIES},
    })
    return _finish(
        frame, path,
        source="EleutherAI Pythia v1 zero-shot evals, github.com/EleutherAI/pythia "
               "evals/pythia-v1/*/zero-shot/",
        parameter_count="N_total (with embeddings)" if parameters == "total"
        else "N_nonembed (without embeddings)",
        flops_convention="C = 6 N D with the chosen N, D = step * 2,097,152 tokens",
        loss="ln(LAMBADA OpenAI perplexity): a task loss, not Pile next-token loss",
        license="Apache-2.0 (EleutherAI/pythia)",
        notes=f"checkpoints with step >= {min_step}; checkpoints of one run are correlated",
    )


def load_gemstones(root: str | os.PathLike | None = None, *,
                   which: Literal["cooldown", "hot"] = "cooldown",
                   parameters: Literal["total", "non_embedding"] = "total") -> pd.DataFrame:
    """Gemstones model suite (McLeish et al. 2025): Dolma validation loss.

    Parameters
    ----------
    root : path, optional
    which : {"cooldown", "hot"}
        ``"cooldown"``: the 199 runs at the end of a linear cool-down branched
        from a constant-LR trunk (finished schedules; branches of one shape share
        their trunk). ``"hot"``: the 770 constant-LR checkpoints (not annealed).
    parameters : {"total", "non_embedding"}
        ``N`` counts the untied input embedding and LM head (default) or not
        (``N_nonembed``); ``C = 6 N D`` with the chosen ``N``.

    Returns
    -------
    pandas.DataFrame
        ``N``, ``D``, ``C``, ``loss``, ``run`` (model shape), ``width``, ``depth``,
        ``step``, ``N_total``, ``N_no_embed``, ``C_paper`` (the source's FLOPs).
    """
    files = {"cooldown": "gemstones/gemstones_cooldown.csv",
             "hot": "gemstones/gemstones_hot_constlr_checkpoints.csv"}
    if which not in files:
        raise ValueError(f"which must be 'cooldown' or 'hot', got {which!r}")
    if parameters not in ("total", "non_embedding"):
        raise ValueError(f"parameters must be 'total' or 'non_embedding', got {parameters!r}")
    raw, path = _read(root, files[which])
    n_total = raw["N"].astype(np.float64)
    n_no_embed = raw["N_nonembed"].astype(np.float64)
    n = n_total if parameters == "total" else n_no_embed
    d = raw["D"].astype(np.float64)
    frame = pd.DataFrame({
        "N": n, "D": d, "C": 6.0 * n * d, "loss": raw["loss"].astype(np.float64),
        "run": raw["model"].astype(str), "width": raw["width"].astype(np.int64),
        "depth": raw["depth"].astype(np.int64), "step": raw["step"].astype(np.int64),
        "N_total": n_total, "N_no_embed": n_no_embed,
        "C_paper": raw["C_paper"].astype(np.float64),
    })
    return _finish(
        frame, path,
        source="McLeish et al. (2025), github.com/mcleish7/gemstone-scaling-laws wandb_dfs/",
        parameter_count="total (untied embedding and LM head included)" if parameters == "total"
        else "non-embedding (N_nonembed = N - 2 * 50304 * width)",
        flops_convention="C = 6 N D with the chosen N (the source's C_paper differs by 0.7-1.6x)",
        loss="validation loss on held-out Dolma 1.7 (nats)",
        license="not stated in the shared data README (check the source repository)",
        notes="cooldown branches of one shape share their trunk" if which == "cooldown"
        else "constant-LR checkpoints, not annealed; checkpoints of one run correlated",
    )


def load_porian2024(root: str | os.PathLike | None = None, *,
                    dataset: Literal["rw", "owt2"] | None = None) -> pd.DataFrame:
    """Iso-FLOP points of Porian et al. (2024), finished cosine schedules, validation loss.

    The cosine file of the shared folder: one point per (FLOP budget, model size),
    the loss interpolated at the budget (analysis-level points, not raw runs).

    Parameters
    ----------
    root : path, optional
    dataset : {"rw", "owt2"}, optional
        RefinedWeb or OpenWebText2 only; ``None``: both, told apart by ``group``.

    Returns
    -------
    pandas.DataFrame
        ``N``, ``D``, ``C``, ``loss``, ``group`` (``dataset``), ``budget``.
    """
    raw, path = _read(root, "porian2024/porian2024_cosine_isoflop.csv")
    if dataset is not None:
        if dataset not in ("rw", "owt2"):
            raise ValueError(f"dataset must be 'rw', 'owt2' or None, got {dataset!r}")
        raw = raw[raw["dataset"] == dataset]
    n = raw["N"].astype(np.float64)
    d = raw["D"].astype(np.float64)
    frame = pd.DataFrame({"N": n, "D": d, "C": 6.0 * n * d, "loss": raw["loss"],
                          "group": raw["dataset"].astype(str),
                          "budget": raw["flop_budget"].astype(np.float64)})
    return _finish(
        frame, path,
        source="Porian et al. (2024), github.com/formll/resolving-scaling-law-discrepancies "
               "data/summary_df*.pickle.xz (cosine configuration)",
        parameter_count="standard (one embedding matrix included)",
        flops_convention="C = 6 N D = the iso-FLOP budget",
        loss="open_lm validation loss (nats), interpolated at each FLOP budget",
        license="not stated in the shared data README (check the source repository)",
        notes="analysis-level iso-FLOP points (minimum over runs sharing N at each budget)",
    )


#: Loader of each shared data set by name.
LOADERS: dict[str, Callable[..., pd.DataFrame]] = {
    "chinchilla": load_chinchilla,
    "marin_isoflops": load_marin_isoflops,
    "datablations": load_datablations,
    "gadre2024": load_gadre2024,
    "pythia": load_pythia,
    "gemstones": load_gemstones,
    "porian2024": load_porian2024,
}
