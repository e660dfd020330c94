"""Which gpt-oss model suits this computer, decided offline, for the first-run panel.

A fresh install has no model, maybe no network, and no cached header to plan with. The two gpt-oss models
are fixed, published architectures, so their layouts are built in: the same figures the offload planner would
read from ggml-org's MXFP4 GGUF headers (per-tensor types and shapes as in ``app/devtools/replicas.py``;
``tests/hub/test_recommend.py`` checks them against replicas of those headers). The planner then runs on them
exactly as it would on the downloaded file.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from functools import cache

from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

from app.core.units import format_size
from app.engine.hardware import GIB, Machine
from app.engine.model_layout import ModelLayout
from app.engine.planner import PREFERRED_MIN_CONTEXT, Plan, plan
from app.hub.catalog import CATALOG, CatalogEntry, CatalogRow
from app.hub.model_details import Fit, fit_of_plan

# gpt-oss, both sizes (OpenAI's model card and config.json; the GGUF keys the replicas carry).
_N_VOCAB = 201088
_N_EMBD = 2880
_N_FF_EXPERT = 2880
_N_HEAD, _N_HEAD_KV, _HEAD_DIM = 64, 8, 64
_CONTEXT = 131072
_SLIDING_WINDOW = 128
_SHAPES = {"gpt-oss-20b": (24, 32), "gpt-oss-120b": (36, 128)}  # layers, experts
FAMILIES = tuple(_SHAPES)


def _bytes(kind: GGMLQuantizationType, *shape: int) -> int:
    block, size = GGML_QUANT_SIZES[kind]
    return math.prod(shape) // block * size


@cache
def gpt_oss_layout(family: str) -> ModelLayout:
    """The layout of ggml-org's MXFP4 GGUF of ``family`` ("gpt-oss-20b" or "gpt-oss-120b"), without the file."""
    n_layers, n_expert = _SHAPES[family]
    f32, q8, mxfp4 = GGMLQuantizationType.F32, GGMLQuantizationType.Q8_0, GGMLQuantizationType.MXFP4
    q_dim, kv_dim = _N_HEAD * _HEAD_DIM, _N_HEAD_KV * _HEAD_DIM
    dense = (
        2 * _bytes(f32, _N_EMBD)  # attention and post-attention norms
        + _bytes(q8, _N_EMBD, q_dim)
        + _bytes(f32, q_dim)
        + 2 * (_bytes(q8, _N_EMBD, kv_dim) + _bytes(f32, kv_dim))
        + _bytes(q8, q_dim, _N_EMBD)
        + _bytes(f32, _N_EMBD)
        + _bytes(f32, _N_HEAD)  # attention sinks
        + _bytes(f32, _N_EMBD, n_expert)  # the router and its bias
        + _bytes(f32, n_expert)
    )
    experts = 3 * _bytes(mxfp4, _N_EMBD, _N_FF_EXPERT, n_expert) + 3 * _bytes(f32, _N_FF_EXPERT, n_expert)
    head = _bytes(f32, _N_EMBD) + _bytes(q8, _N_EMBD, _N_VOCAB)
    return ModelLayout(
        architecture="gpt-oss",
        n_layers=n_layers,
        n_ctx_train=_CONTEXT,
        n_vocab=_N_VOCAB,
        n_embd=_N_EMBD,
        n_ff=_N_FF_EXPERT,
        kv_bytes_per_token_f16=(2 * _N_HEAD_KV * 2 * _HEAD_DIM,) * n_layers,
        sliding_window=_SLIDING_WINDOW,
        swa_layers=tuple(i % 2 == 0 for i in range(n_layers)),
        dense_bytes=(dense,) * n_layers,
        expert_bytes=(experts,) * n_layers,
        embedding_bytes=_bytes(q8, _N_EMBD, _N_VOCAB),
        output_bytes=head,
        tied_output=False,
    )


def catalog_entry(family: str) -> CatalogEntry:
    """The catalog's first (preferred) download of ``family``: ggml-org's MXFP4 conversion."""
    return next(e for e in CATALOG if e.family == family)


@dataclass(frozen=True, slots=True)
class Suggestion:
    """One gpt-oss model, planned for this computer, in words."""

    family: str
    entry: CatalogEntry
    plan: Plan
    verdict: str  # what to expect, in a sentence or two
    fast: bool  # everything runs on the GPU (or a Mac's unified memory)

    @property
    def fits(self) -> bool:
        return self.plan.fits

    @property
    def download_text(self) -> str:
        return format_size(self.entry.about_bytes)


@dataclass(frozen=True, slots=True)
class Recommendation:
    best: Suggestion
    other: Suggestion | None  # the other size, when it also runs (offered, not pushed)


def suggest(family: str, machine: Machine) -> Suggestion:
    chosen = plan(gpt_oss_layout(family), machine)
    fast = chosen.fits and machine.gpu_name is not None and chosen.n_gpu_layers == chosen.n_layers
    fast = fast and not chosen.n_cpu_moe
    return Suggestion(family, catalog_entry(family), chosen, verdict(family, chosen, machine), fast)


def recommend(machine: Machine) -> Recommendation:
    """gpt-oss-20b, unless gpt-oss-120b runs here entirely on the GPU with a long context (then 120b, with
    20b offered beside it). Pure arithmetic: no disk, no network."""
    small = suggest("gpt-oss-20b", machine)
    large = suggest("gpt-oss-120b", machine)
    if large.fast and large.plan.n_ctx >= PREFERRED_MIN_CONTEXT:
        return Recommendation(large, small)
    return Recommendation(small, large if large.fits else None)


def verdict(family: str, chosen: Plan, machine: Machine) -> str:
    """What someone can expect from ``family`` on ``machine``, and what to do when it does not run."""
    context = f"conversations of up to {chosen.n_ctx:,} tokens"
    if not chosen.fits:
        need = chosen.ram_bytes + chosen.vram_bytes
        return (
            f"{family} needs about {format_size(need)} of memory, more than this computer has free. "
            "Close other programs and try again, or use a computer with at least 16 GB of memory "
            "(RAM and graphics memory together)."
        )
    if machine.gpu_name is None:
        return (
            f"No graphics card that llama.cpp can use was found, so it runs on the processor: it works, "
            f"but replies come slowly (a few words a second). Room for {context}."
        )
    if chosen.n_gpu_layers == chosen.n_layers and not chosen.n_cpu_moe:
        where = "your Mac's GPU" if machine.unified else "your graphics card"
        return f"Runs entirely on {where}: quick replies, and room for {context}."
    if chosen.n_gpu_layers == chosen.n_layers and machine.unified:
        return (
            "Runs on your Mac with part of it on the processor to fit its memory: slower than it could be, "
            f"but it works. Room for {context}."
        )
    if chosen.n_gpu_layers == chosen.n_layers:
        share = chosen.n_cpu_moe / chosen.n_layers
        amount = "some" if share < 0.5 else "most"
        return (
            f"Runs on your graphics card with {amount} of its experts in system RAM: slower than a model that "
            f"fits the card, but it works well. Room for {context}."
        )
    return (
        "Most of it runs on the processor (the graphics card has too little memory), so replies come slowly, "
        f"but it works. Room for {context}."
    )


def _gib_text(n: int) -> str:
    """Memory as people know their computer's: 15.6 GiB of usable RAM is a "16 GB" machine."""
    return f"{max(1, math.ceil(n / GIB - 0.05))} GB"


def describe_machine(machine: Machine) -> str:
    """This computer in one line: ``This computer: NVIDIA RTX 4070 Ti 16 GB, 32 GB RAM``."""
    if machine.gpu_name is None:
        return f"This computer: {_gib_text(machine.ram_total)} RAM, no graphics card llama.cpp can use"
    if machine.unified:
        return f"This computer: {machine.gpu_name}, {_gib_text(machine.ram_total)} of unified memory"
    return f"This computer: {machine.gpu_name} {_gib_text(machine.gpu_total)}, {_gib_text(machine.ram_total)} RAM"


def builtin_fit(entry: CatalogEntry, machine: Machine) -> Fit | None:
    """Whether ``entry`` runs here, planned from the built-in layout: the MXFP4 conversions of gpt-oss hold
    the same tensors as ggml-org's, so no header is needed (offline, or before the Hub was asked). None for
    the other quantizations, whose sizes differ."""
    if entry.family not in _SHAPES or entry.quantization != "MXFP4":
        return None
    layout = gpt_oss_layout(entry.family)
    return fit_of_plan(plan(layout, machine), layout)


def with_builtin_fits(rows: list[CatalogRow], machine: Machine) -> list[CatalogRow]:
    """``rows`` with a fit from the built-in layout where the Hub gave none (offline, not asked yet)."""
    filled = []
    for row in rows:
        fit = row.fit if row.fit is not None else builtin_fit(row.entry, machine)
        filled.append(dataclasses.replace(row, fit=fit) if fit is not row.fit else row)
    return filled
