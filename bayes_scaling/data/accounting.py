"""Parameter and FLOP accounting: which ``N`` and which ``C`` a runs table uses.

A fitted exponent, and even more the compute-optimal ``N_opt``, depend on how
parameters and FLOPs are counted. This module makes the choice explicit:

Parameter counts (``parameters=``)
    ``"total"``
        every parameter, embeddings included (Hoffmann et al. 2022; Pearce &
        Song 2024 recommend it).
    ``"non_embedding"``
        without the token (and learned position) embeddings (Kaplan et al.
        2020): ``N = N_total - P_embed`` with
        ``P_embed = (V + n_ctx) d_model`` for tied input/output embeddings with
        learned positions (Kaplan's Table 1, Pearce & Song's ``N_T = N_E +
        (n_vocab + n_ctx) d``), plus ``V d_model`` more when the unembedding is
        untied; ``n_ctx`` counts only when positions are learned.
    ``"active"`` / ``"active_non_embedding"``
        mixture-of-experts models: the parameters one token passes through,
        ``N_active = N_total - (E - k) P_expert`` for ``E`` experts of
        ``P_expert`` parameters each (summed over layers) and top-``k`` routing
        (shared parameters, embeddings included, count fully).

FLOPs per training token (``flops=``), training = 3 x forward (backward = 2 x forward)
    ``"6N"``
        ``6 N`` (forward ``2N``; Kaplan et al. 2020, Hoffmann et al. 2022's
        approximation).
    ``"6N+attention"``
        Kaplan et al. (2020) Table 1: forward ``2N + 2 n_layer n_ctx d_attn``
        (the attention logits against a context of ``n_ctx``), so
        ``6N + 6 n_layer n_ctx d_attn``.
    ``"6N+logits"`` / ``"6N+attention+logits"``
        also the unembedding (last layer, "de-embed" in Kaplan's Table 1):
        ``2 d_model V`` forward, ``6 d_model V`` for training. Meant for
        non-embedding ``N``; with total ``N`` the unembedding is already inside
        ``6N`` (a warning says so).
    ``"hoffmann"``
        Hoffmann et al. (2022) Appendix F per layer: ``Q, K, V`` projections
        ``6 d_model d_attn``, logits ``2 n_ctx d_attn``, softmax ``3 n_heads
        n_ctx``, softmax-value reduction ``2 n_ctx d_attn``, output projection
        ``2 d_attn d_model``, dense block ``4 d_model d_ff`` (per token); times
        ``n_layer``, times 3. This is the form that reproduces their Table A4
        (FLOP ratio to ``6ND`` of 1.03 for the 73M model, 0.99 for 6.8B); the
        embeddings and final logits listed in the appendix text are left out
        there, and added by ``"hoffmann+embeddings"`` (``4 d_model V`` forward).

Architecture quantities (``vocab_size``, ``d_model``, ``n_layer``, ``n_ctx``,
``d_attn``, ``d_ff``, ``n_heads``, ``num_experts``, ``top_k``,
``expert_params``) are scalars, arrays with one value per run, or the name of a
column of the table. ``d_attn`` defaults to ``d_model``, ``d_ff`` to
``4 d_model``.

:func:`apply_convention` returns a *new* table with ``N`` and ``C`` recomputed
(``D`` kept) and the convention in ``attrs["accounting"]``; fit it as usual,
or pass ``accounting=Convention(...)`` to :func:`bayes_scaling.fit`.
:func:`bayes_scaling.compare.compare_conventions` refits under several conventions and reports how the
exponents and the compute-optimal allocation move.

References
----------
Kaplan et al. (2020), "Scaling Laws for Neural Language Models", Table 1.
Hoffmann et al. (2022), "Training Compute-Optimal Large Language Models", App. F.
Pearce & Song (2024), "Reconciling Kaplan and Chinchilla Scaling Laws".
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._lazy import lazy_import
from ..exceptions import AccountingWarning

pd = lazy_import("pandas")

__all__ = [
    "PARAMETER_CONVENTIONS",
    "FLOPS_CONVENTIONS",
    "Convention",
    "embedding_parameters",
    "kaplan_non_embedding_parameters",
    "moe_parameters",
    "flops_per_token",
    "apply_convention",
    "for_fit",
]

#: Parameter conventions -> (embeddings counted, experts counted).
PARAMETER_CONVENTIONS: dict[str, tuple[bool, str]] = {
    "total": (True, "total"),
    "non_embedding": (False, "total"),
    "active": (True, "active"),
    "active_non_embedding": (False, "active"),
}

FLOPS_CONVENTIONS = ("6N", "6N+attention", "6N+logits", "6N+attention+logits", "hoffmann",
                     "hoffmann+embeddings")

#: Columns of a table that already hold a given parameter count (first match wins).
_COUNT_COLUMNS = {
    "total": ("N_total", "N_with_embed", "N_with_embeddings"),
    "non_embedding": ("N_no_embed", "N_nonembed", "N_non_embedding", "N_non_embed"),
}

_ARCH_KEYS = ("vocab_size", "d_model", "n_layer", "n_ctx", "d_attn", "d_ff", "n_heads",
              "num_experts", "top_k", "expert_params")


# --------------------------------------------------------------------- formulas
def embedding_parameters(vocab_size: Any, d_model: Any, *, tied: bool = True,
                         n_ctx: Any = None) -> np.ndarray:
    """Embedding parameters: ``V d`` (tied) or ``2 V d`` (untied), plus ``n_ctx d`` if learned.

    Parameters
    ----------
    vocab_size, d_model : array-like
    tied : bool, default True
        Whether the unembedding (output projection) shares the input embedding.
    n_ctx : array-like, optional
        Context length when positions are learned embeddings (GPT-2/3 style);
        ``None`` for rotary/relative positions, which add no embedding table.

    Examples
    --------
    >>> float(embedding_parameters(50257, 12288, n_ctx=2048))  # GPT-3 175B
    642723840.0
    """
    v, d = np.asarray(vocab_size, dtype=np.float64), np.asarray(d_model, dtype=np.float64)
    out = v * d * (1.0 if tied else 2.0)
    if n_ctx is not None:
        out = out + np.asarray(n_ctx, dtype=np.float64) * d
    return out


def kaplan_non_embedding_parameters(n_layer: Any, d_model: Any, *, d_attn: Any = None,
                                    d_ff: Any = None) -> np.ndarray:
    """Kaplan et al. (2020) Table 1: ``N = 2 d_model n_layer (2 d_attn + d_ff)``.

    Biases and layer norms are left out (as in the table); with the defaults
    ``d_attn = d_model`` and ``d_ff = 4 d_model`` this is ``12 n_layer d_model^2``.

    Examples
    --------
    >>> round(float(kaplan_non_embedding_parameters(96, 12288)) / 1e9, 2)  # GPT-3
    173.95
    """
    d = np.asarray(d_model, dtype=np.float64)
    d_attn = d if d_attn is None else np.asarray(d_attn, dtype=np.float64)
    d_ff = 4.0 * d if d_ff is None else np.asarray(d_ff, dtype=np.float64)
    return 2.0 * d * np.asarray(n_layer, dtype=np.float64) * (2.0 * d_attn + d_ff)


def moe_parameters(shared_params: Any, expert_params: Any, num_experts: Any,
                   top_k: Any) -> tuple[np.ndarray, np.ndarray]:
    """Total and active parameters of a mixture-of-experts model.

    ``total = shared + E P_expert``, ``active = shared + k P_expert``, where
    ``shared`` counts everything outside the experts (attention, embeddings,
    shared experts) and ``P_expert`` is one routed expert's parameters summed
    over the MoE layers.

    Returns
    -------
    total, active : ndarray
    """
    shared = np.asarray(shared_params, dtype=np.float64)
    expert = np.asarray(expert_params, dtype=np.float64)
    e, k = np.asarray(num_experts, dtype=np.float64), np.asarray(top_k, dtype=np.float64)
    if np.any(k > e) or np.any(k < 1):
        raise ValueError(f"top_k must be between 1 and num_experts, got top_k={top_k!r}, "
                         f"num_experts={num_experts!r}")
    return shared + e * expert, shared + k * expert


def flops_per_token(N: Any, convention: str = "6N", *, d_model: Any = None,  # noqa: N803
                    n_layer: Any = None, n_ctx: Any = None, vocab_size: Any = None,
                    d_attn: Any = None, d_ff: Any = None, n_heads: Any = None,
                    training: bool = True) -> np.ndarray:
    """FLOPs per token under ``convention`` (see the module docstring for the formulas).

    Parameters
    ----------
    N : array-like
        Parameter count under the chosen parameter convention (used by the
        ``"6N..."`` conventions; ignored by ``"hoffmann"``).
    convention : str
        One of :data:`FLOPS_CONVENTIONS`.
    d_model, n_layer, n_ctx, vocab_size, d_attn, d_ff, n_heads : array-like
        Architecture, as each convention needs it.
    training : bool, default True
        Training (3 x forward) or forward only (inference: ``2N`` per token
        under ``"6N"``).

    Returns
    -------
    ndarray
    """
    if convention not in FLOPS_CONVENTIONS:
        raise ValueError(f"unknown FLOPs convention {convention!r}; use one of "
                         f"{', '.join(FLOPS_CONVENTIONS)}")

    def need(name: str, value: Any) -> np.ndarray:
        if value is None:
            raise ValueError(f"the {convention!r} FLOPs convention needs {name}")
        return np.asarray(value, dtype=np.float64)

    if convention.startswith("hoffmann"):
        d = need("d_model", d_model)
        layers, ctx = need("n_layer", n_layer), need("n_ctx", n_ctx)
        heads = need("n_heads", n_heads)
        att = d if d_attn is None else np.asarray(d_attn, dtype=np.float64)
        ff = 4.0 * d if d_ff is None else np.asarray(d_ff, dtype=np.float64)
        per_layer = (6.0 * d * att + 2.0 * ctx * att + 3.0 * heads * ctx + 2.0 * ctx * att
                     + 2.0 * att * d + 4.0 * d * ff)
        forward = layers * per_layer
        if convention == "hoffmann+embeddings":
            forward = forward + 4.0 * d * need("vocab_size", vocab_size)
    else:
        forward = 2.0 * need("N", N)
        if "attention" in convention:
            d = need("d_model", d_model)
            att = d if d_attn is None else np.asarray(d_attn, dtype=np.float64)
            forward = forward + 2.0 * need("n_layer", n_layer) * need("n_ctx", n_ctx) * att
        if "logits" in convention:
            forward = forward + 2.0 * need("d_model", d_model) * need("vocab_size", vocab_size)
    return 3.0 * forward if training else forward


# ------------------------------------------------------------------- convention
@dataclass(frozen=True)
class Convention:
    """A parameter and FLOPs convention, with the architecture it needs.

    Parameters
    ----------
    parameters : str, default "total"
        One of :data:`PARAMETER_CONVENTIONS`.
    flops : str, default "6N"
        One of :data:`FLOPS_CONVENTIONS`.
    source : str, default "total"
        Which count the table's ``N`` column holds (a parameter convention).
        Columns named ``N_total`` / ``N_no_embed`` (and aliases) are used
        directly when present, whatever ``source`` says.
    tied_embeddings : bool, default True
        Whether the unembedding shares the input embedding matrix.
    learned_positions : bool, default False
        Whether positions are a learned table (``n_ctx d_model`` parameters,
        counted as embeddings); rotary/relative positions add none.
    architecture : mapping
        ``vocab_size``, ``d_model``, ... (scalars, per-run arrays or column names).

    Examples
    --------
    >>> Convention("non_embedding", vocab_size=50304, d_model="d_model").label
    'non_embedding/6N'
    """

    parameters: str = "total"
    flops: str = "6N"
    source: str = "total"
    tied_embeddings: bool = True
    learned_positions: bool = False
    architecture: Mapping[str, Any] = field(default_factory=dict)

    def __init__(self, parameters: str = "total", flops: str = "6N", *, source: str = "total",
                 tied_embeddings: bool = True, learned_positions: bool = False,
                 architecture: Mapping[str, Any] | None = None, **kwargs: Any):
        for name, value, allowed in (("parameters", parameters, PARAMETER_CONVENTIONS),
                                     ("source", source, PARAMETER_CONVENTIONS),
                                     ("flops", flops, FLOPS_CONVENTIONS)):
            if value not in allowed:
                raise ValueError(f"unknown {name} convention {value!r}; use one of "
                                 f"{', '.join(allowed)}")
        arch = dict(architecture or {}) | kwargs
        unknown = set(arch) - set(_ARCH_KEYS)
        if unknown:
            raise TypeError(f"unknown architecture keys {sorted(unknown)}; known: "
                            f"{', '.join(_ARCH_KEYS)}")
        object.__setattr__(self, "parameters", parameters)
        object.__setattr__(self, "flops", flops)
        object.__setattr__(self, "source", source)
        object.__setattr__(self, "tied_embeddings", bool(tied_embeddings))
        object.__setattr__(self, "learned_positions", bool(learned_positions))
        object.__setattr__(self, "architecture", arch)

    @classmethod
    def kaplan(cls, flops: str = "6N", **architecture: Any) -> Convention:
        """Kaplan et al. (2020): non-embedding ``N``, embeddings ``(V + n_ctx) d_model``.

        The conversion Pearce & Song (2024) use, ``N_total = N_non_embedding +
        (n_vocab + n_ctx) d_model`` (tied unembedding, learned positions); needs
        ``vocab_size``, ``d_model`` and ``n_ctx`` unless the table has both counts.

        Examples
        --------
        >>> Convention.kaplan(vocab_size=50257, d_model=768, n_ctx=1024).label
        'non_embedding/6N'
        """
        return cls("non_embedding", flops, learned_positions="n_ctx" in architecture,
                   **architecture)

    @classmethod
    def hoffmann(cls, flops: str = "6N", **architecture: Any) -> Convention:
        """Hoffmann et al. (2022) (and Pearce & Song's recommendation): total ``N``."""
        return cls("total", flops, **architecture)

    @property
    def label(self) -> str:
        return f"{self.parameters}/{self.flops}"

    def describe(self) -> dict[str, Any]:
        """JSON-able record of the convention (stored in ``attrs["accounting"]``)."""
        arch = {k: (v if isinstance(v, (str, int, float)) else "per-run values")
                for k, v in self.architecture.items()}
        return {"parameters": self.parameters, "flops": self.flops, "source": self.source,
                "tied_embeddings": self.tied_embeddings,
                "learned_positions": self.learned_positions, "architecture": arch}

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Shorthand for :func:`apply_convention` with this convention."""
        return apply_convention(frame, self)


def _resolve(frame: pd.DataFrame, arch: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Architecture values as float arrays broadcastable to the table's rows."""
    out = {}
    for name, value in arch.items():
        if value is None:
            continue
        if isinstance(value, str):
            if value not in frame.columns:
                raise ValueError(f"architecture {name}={value!r} names no column of the table "
                                 f"(columns: {', '.join(map(str, frame.columns))})")
            value = frame[value].to_numpy()
        values = np.asarray(value, dtype=np.float64)
        if values.ndim and values.shape != (len(frame),):
            raise ValueError(f"architecture {name} has shape {values.shape}; give a scalar, "
                             f"one value per run ({len(frame)}), or a column name")
        if not np.all(np.isfinite(values)) or np.any(values <= 0):
            raise ValueError(f"architecture {name} must be positive and finite")
        out[name] = values
    return out


def _column(frame: pd.DataFrame, kind: str) -> np.ndarray | None:
    for name in _COUNT_COLUMNS.get(kind, ()):
        if name in frame.columns:
            return frame[name].to_numpy(dtype=np.float64)
    return None


def _embeddings(arch: Mapping[str, np.ndarray], conv: Convention) -> np.ndarray:
    for name in ("vocab_size", "d_model"):
        if name not in arch:
            raise ValueError(f"converting between total and non-embedding parameters needs "
                             f"{name} (or columns N_total and N_no_embed in the table)")
    if conv.learned_positions and "n_ctx" not in arch:
        raise ValueError("learned_positions=True needs n_ctx")
    return embedding_parameters(arch["vocab_size"], arch["d_model"], tied=conv.tied_embeddings,
                                n_ctx=arch.get("n_ctx") if conv.learned_positions else None)


def _expert_gap(arch: Mapping[str, np.ndarray]) -> np.ndarray:
    for name in ("num_experts", "top_k", "expert_params"):
        if name not in arch:
            raise ValueError(f"converting between total and active MoE parameters needs {name}")
    total, active = moe_parameters(0.0, arch["expert_params"], arch["num_experts"], arch["top_k"])
    return total - active


def _parameters(frame: pd.DataFrame, conv: Convention, arch: Mapping[str, np.ndarray]
                ) -> np.ndarray:
    """``N`` under ``conv.parameters``, from a count column or by converting ``N``."""
    embeds_out, experts_out = PARAMETER_CONVENTIONS[conv.parameters]
    if experts_out == "total":
        direct = _column(frame, conv.parameters)
        if direct is not None:
            return direct
    # Everything to "total", then down to the target.
    embeds_in, experts_in = PARAMETER_CONVENTIONS[conv.source]
    base = _column(frame, "total")
    if base is None:
        if "N" not in frame.columns:
            raise ValueError("the table has no N column (nor N_total)")
        base = frame["N"].to_numpy(dtype=np.float64)
        if embeds_in != embeds_out or experts_in != experts_out:
            if not embeds_in:
                base = base + _embeddings(arch, conv)
            if experts_in == "active":
                base = base + _expert_gap(arch)
        else:
            return base
    out = base
    if not embeds_out:
        out = out - _embeddings(arch, conv)
    if experts_out == "active":
        out = out - _expert_gap(arch)
    bad = ~(np.isfinite(out) & (out > 0))
    if bad.any():
        pos = int(np.argmax(bad))
        raise ValueError(f"row {frame.index[pos]!r}: {conv.parameters} parameters come out "
                         f"{float(out[pos]):g} (not positive): check vocab_size/d_model or the "
                         "expert counts against the table's N")
    return out


def apply_convention(frame: pd.DataFrame, convention: Convention | str | None = None, *,
                     parameters: str | None = None, flops: str | None = None,
                     source: str | None = None, tied_embeddings: bool | None = None,
                     learned_positions: bool | None = None, input_flops_factor: float = 6.0,
                     **architecture: Any) -> pd.DataFrame:
    """A new runs table with ``N`` and ``C`` counted under a convention.

    Parameters
    ----------
    frame : pandas.DataFrame
        Runs with ``N`` and ``D`` (or ``N`` and ``C``, then ``D = C / (k N)``
        with ``k = input_flops_factor`` and the input ``N``). Never modified.
    convention : Convention or str, optional
        A :class:`Convention`, or a parameter convention name; keywords
        (``parameters=``, ``flops=``, architecture) override or complete it.
    parameters, flops, source, tied_embeddings, learned_positions
        See :class:`Convention`.
    input_flops_factor : float, default 6
        ``k`` of the input table, used only to derive a missing ``D``.
    **architecture
        ``vocab_size``, ``d_model``, ``n_layer``, ``n_ctx``, ... (scalars,
        per-run arrays or column names).

    Returns
    -------
    pandas.DataFrame
        A copy with ``N`` (the new count), ``D`` (unchanged), ``C`` (training
        FLOPs under the FLOPs convention), the previous ``N``/``C`` as
        ``N_input``/``C_input``, and ``attrs["accounting"]`` (the convention),
        ``attrs["flops_factor"]`` (median ``C / (N D)``, the ``k`` to fit with).

    Examples
    --------
    >>> runs = pd.DataFrame({"N": [1.2e8, 4.1e8], "D": [2e9, 8e9], "loss": [3.3, 3.0],
    ...                      "d_model": [768, 1024]})
    >>> ne = apply_convention(runs, parameters="non_embedding", vocab_size=50304,
    ...                       d_model="d_model")
    >>> [round(x / 1e6, 1) for x in ne["N"]]
    [81.4, 358.5]
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"expected a pandas DataFrame, got {type(frame).__name__}")
    if isinstance(convention, str):
        convention = Convention(convention)
    base = convention or Convention()
    options = {"parameters": parameters, "flops": flops, "source": source,
               "tied_embeddings": tied_embeddings, "learned_positions": learned_positions}
    conv = Convention(**{k: (getattr(base, k) if v is None else v) for k, v in options.items()},
                      architecture={**base.architecture, **architecture})
    out = frame.copy(deep=True)
    out.attrs = dict(frame.attrs)
    arch = _resolve(out, conv.architecture)
    if "N" not in out.columns and _column(out, "total") is None:
        raise ValueError("the table needs an N column")
    n_in = out["N"].to_numpy(dtype=np.float64) if "N" in out.columns else _column(out, "total")
    if "D" not in out.columns:
        if "C" not in out.columns:
            raise ValueError("the table needs D (training tokens) or C (with N)")
        out["D"] = out["C"].to_numpy(dtype=np.float64) / (input_flops_factor * n_in)
    n_new = _parameters(out, conv, arch)
    if conv.flops in ("6N+logits", "6N+attention+logits") and PARAMETER_CONVENTIONS[
            conv.parameters][0]:
        warnings.warn(f"flops={conv.flops!r} with {conv.parameters!r} parameters counts the "
                      "unembedding twice (it is already inside 6N); use non-embedding "
                      "parameters with the logits term", AccountingWarning, stacklevel=2)
    per_token = flops_per_token(n_new, conv.flops, **{k: v for k, v in arch.items() if k in (
        "d_model", "n_layer", "n_ctx", "vocab_size", "d_attn", "d_ff", "n_heads")})
    d = out["D"].to_numpy(dtype=np.float64)
    if "N" in out.columns:
        out["N_input"] = n_in
    if "C" in out.columns:
        out["C_input"] = out["C"].to_numpy(dtype=np.float64)
    out["N"] = n_new
    out["C"] = np.broadcast_to(per_token, n_new.shape) * d
    out.attrs["accounting"] = conv.describe()
    out.attrs["flops_factor"] = float(np.median(out["C"] / (out["N"] * d)))
    out.attrs["parameter_count"] = conv.parameters
    out.attrs["flops_convention"] = conv.flops
    return out


def for_fit(data: Any, accounting: Convention | str, flops_factor: float = 6.0
            ) -> tuple[pd.DataFrame, float]:
    """The table and ``k`` that ``fit(data, accounting=...)`` uses.

    The table is :func:`apply_convention`'s; ``k`` is its median ``C / (N D)``
    (exactly 6 under ``"6N"``), so predictions and allocations that derive
    ``C = k N D`` use the convention's FLOPs. An explicit ``flops_factor``
    other than 6 that disagrees with it raises.
    """
    if not isinstance(data, pd.DataFrame):
        raise TypeError("accounting= needs the runs as a pandas DataFrame (apply the "
                        f"convention before validating), got {type(data).__name__}")
    table = apply_convention(data, accounting).drop(columns=["N_input", "C_input"])
    k = table.attrs["flops_factor"]
    if flops_factor != 6.0 and not np.isclose(flops_factor, k, rtol=1e-6):
        raise ValueError(f"flops_factor={flops_factor:g} disagrees with the accounting "
                         f"convention's C / (N D) = {k:.4g}; leave flops_factor at its default")
    return table, k


# ------------------------------------------------------------------ comparison
def exponent_names(law: Any) -> list[str]:
    return [p for p in law.param_names if p.startswith(("alpha", "beta"))]


