"""The offload planner: how to run a model on a machine so that it just fits.

From the model's layout (its GGUF header) and the machine's memory it chooses the context length, where each
layer runs, which layers keep their MoE experts in system RAM (llama.cpp's ``--n-cpu-moe``), the KV-cache
type and whether the sliding-window cache is full-size, and explains each choice in plain words.

Preferences, in order: a context of at least 8k; a KV cache that never forces a re-read (f16, then q8_0;
a short sliding-window cache only when nothing else fits); everything on the GPU, else as few expert layers
in RAM (MoE) or layers on the CPU (dense) as needed; then the longest context up to the cap. Headroom is
left for the graphics driver and desktop on the GPU, and for the system and the app in RAM.

Free memory is a moment's reading, so it decides less than it seems: a model that needs a small part of the
computer's RAM (SMALL_MODEL_SHARE) is never refused for memory in use right now, and a refusal says whether
the model could load once memory is freed (``Verdict.BUSY``: worth trying again) or never on this computer
(``Verdict.TOO_BIG``).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from app.engine.hardware import GIB, Machine
from app.engine.model_layout import ModelLayout

DEFAULT_CONTEXT_CAP = 32768
MIN_CONTEXT = 2048
PREFERRED_MIN_CONTEXT = 8192
N_UBATCH = 512
# ggml type ids (llama.cpp) and bytes per KV element
GGML_F16, GGML_Q8_0 = 1, 8
_KV_TYPES = {"f16": (GGML_F16, 2.0), "q8_0": (GGML_Q8_0, 34 / 32)}
# A model whose RAM need is at most this share of the computer's RAM loads whatever free memory reads now: it
# is a small part of the machine, and a low reading is most often a passing one (another program just quit).
SMALL_MODEL_SHARE = 0.25


class Verdict(StrEnum):
    FITS = "fits"  # fits the memory free now
    FITS_SMALL = "fits_small"  # free memory reads low, but the model is small for this computer: it loads
    BUSY = "busy"  # fits this computer, not the memory free right now: free some and try again
    TOO_BIG = "too_big"  # does not fit this computer even with all of its memory free


@dataclass(frozen=True, slots=True)
class Plan:
    fits: bool
    n_layers: int
    n_gpu_layers: int  # layers that run on the GPU (the last ones; all of them puts the output head there too)
    n_cpu_moe: int  # layers whose MoE experts stay in system RAM: the first n (llama.cpp's --n-cpu-moe)
    n_ctx: int
    type_k: str
    type_v: str
    flash_attn: bool
    swa_full: bool
    vram_bytes: int
    ram_bytes: int
    reasons: tuple[str, ...] = field(default=())
    verdict: Verdict = Verdict.FITS

    def to_json(self) -> dict[str, Any]:
        return {
            "fits": self.fits,
            "verdict": str(self.verdict),
            "n_layers": self.n_layers,
            "n_gpu_layers": self.n_gpu_layers,
            "n_cpu_moe": self.n_cpu_moe,
            "n_ctx": self.n_ctx,
            "type_k": self.type_k,
            "type_v": self.type_v,
            "flash_attn": self.flash_attn,
            "swa_full": self.swa_full,
            "vram_bytes": self.vram_bytes,
            "ram_bytes": self.ram_bytes,
            "reasons": list(self.reasons),
        }

    def summary(self) -> str:
        """The plan in one line, for the status bar."""
        return self.reasons[0] if self.reasons else ""


@dataclass(frozen=True, slots=True)
class _Candidate:
    n_ctx: int
    kv: str
    swa_full: bool
    gpu_layers: int  # layers on the GPU: the last ones
    cpu_moe: int  # layers whose experts stay in RAM: the first ones
    vram: int
    ram: int


# The headroom and compute-scratch figures below are estimates: the scratch was checked against the buffer
# sizes llama.cpp logs on the CPU (tests/engine/test_planner.py), not yet measured on a GPU.


def gpu_headroom(machine: Machine) -> int:
    """Left free on the GPU for the driver, the desktop and other programs."""
    return max(GIB // 2, int(machine.gpu_total * 0.06))


def ram_headroom(machine: Machine) -> int:
    """Left free in RAM for the system and Moss itself: a tenth of it (a fifth on unified memory: macOS shares
    it with the GPU), and at least 2 GiB, or a quarter of a computer with less than 8 GiB (2 GiB of 4 would
    leave a small model no room, and SMALL_MODEL_SHARE must stay within what a plan may use)."""
    share = 0.2 if machine.unified else 0.1
    return max(min(2 * GIB, int(machine.ram_total * SMALL_MODEL_SHARE)), int(machine.ram_total * share))


@dataclass(frozen=True, slots=True)
class _Budget:
    """The bytes a plan may take in RAM and on the GPU."""

    ram: int
    gpu: int

    @classmethod
    def free_now(cls, machine: Machine) -> _Budget:
        return cls(machine.ram_free - ram_headroom(machine), machine.gpu_free - gpu_headroom(machine))

    @classmethod
    def small_model(cls, machine: Machine) -> _Budget:
        """What a model small for this computer may take in RAM whatever is free now (SMALL_MODEL_SHARE)."""
        now = cls.free_now(machine)
        return cls(max(now.ram, int(machine.ram_total * SMALL_MODEL_SHARE)), now.gpu)

    @classmethod
    def all_free(cls, machine: Machine) -> _Budget:
        """The budget if every byte were free: what decides whether a model can ever load here."""
        return cls(machine.ram_total - ram_headroom(machine), machine.gpu_total - gpu_headroom(machine))


def activation_buffer(layout: ModelLayout, n_ubatch: int = N_UBATCH) -> int:
    """Scratch for the widest activations of one batch (what a backend needs besides the logits)."""
    return n_ubatch * (layout.n_embd + layout.n_ff) * 4 * 4


def compute_buffer(layout: ModelLayout, n_ubatch: int = N_UBATCH) -> int:
    """llama.cpp's scratch for one batch where the output head runs: the batch's logits and the widest
    activations, plus slack."""
    return layout.n_vocab * n_ubatch * 4 + activation_buffer(layout, n_ubatch) + 64 * 1024**2


def kv_bytes(layout: ModelLayout, layers: range, n_ctx: int, kv: str, swa_full: bool) -> int:
    return _Sums.of(layout).kv(layers.start, layers.stop, n_ctx, kv, swa_full)


@dataclass(frozen=True, slots=True)
class _Sums:
    """Running totals over the layers (entry i: layers 0 .. i-1), so that the memory of any run of layers is
    one subtraction: a plan tries thousands of configurations, and a model may have hundreds of layers."""

    dense: tuple[int, ...]
    expert: tuple[int, ...]
    kv_all: tuple[int, ...]  # KV per token, f16, every layer
    kv_swa: tuple[int, ...]  # the same, sliding-window layers only
    swa_cells: int  # the cells a short sliding-window cache keeps (before the context caps it)

    @classmethod
    def of(cls, layout: ModelLayout) -> _Sums:
        swa_kv = (kv if swa else 0 for kv, swa in zip(layout.kv_bytes_per_token_f16, layout.swa_layers, strict=True))
        return cls(
            dense=(0, *itertools.accumulate(layout.dense_bytes)),
            expert=(0, *itertools.accumulate(layout.expert_bytes)),
            kv_all=(0, *itertools.accumulate(layout.kv_bytes_per_token_f16)),
            kv_swa=(0, *itertools.accumulate(swa_kv)),
            swa_cells=-(-(layout.sliding_window + N_UBATCH) // 256) * 256,
        )

    def kv(self, start: int, stop: int, n_ctx: int, kv: str, swa_full: bool) -> int:
        """KV-cache bytes of layers ``start .. stop-1``: the sliding-window ones keep a short cache unless
        ``swa_full``."""
        per_element = _KV_TYPES[kv][1] / 2  # kv_bytes_per_token_f16 counts f16 elements at 2 bytes
        swa = 0 if swa_full else self.kv_swa[stop] - self.kv_swa[start]
        full = self.kv_all[stop] - self.kv_all[start] - swa
        return int((full * n_ctx + swa * min(n_ctx, self.swa_cells)) * per_element)


def _candidate(
    layout: ModelLayout, sums: _Sums, n_ctx: int, kv: str, swa_full: bool, gpu_layers: int, cpu_moe: int
) -> _Candidate:
    """Memory of one configuration. Layers ``0 .. n-gpu_layers-1`` run on the CPU, the rest on the GPU; the
    experts of layers ``0 .. cpu_moe-1`` stay in RAM. Weights are memory-mapped: CPU-side weights count in RAM."""
    n = layout.n_layers
    first_gpu = n - gpu_layers
    experts_in_ram = max(first_gpu, cpu_moe)  # the CPU's layers, and the first cpu_moe layers' experts
    vram = sums.dense[n] - sums.dense[first_gpu] + sums.expert[n] - sums.expert[experts_in_ram]
    ram = layout.embedding_bytes + sums.dense[first_gpu] + sums.expert[experts_in_ram]
    head_on_gpu = gpu_layers == n > 0
    if head_on_gpu:
        vram += layout.output_gpu_bytes
    else:
        ram += layout.output_bytes
    vram += sums.kv(first_gpu, n, n_ctx, kv, swa_full)
    ram += sums.kv(0, first_gpu, n_ctx, kv, swa_full)
    # The backend that runs the output head needs the full scratch; the other one, activations only.
    if head_on_gpu:
        vram += compute_buffer(layout)
        ram += activation_buffer(layout)
    else:
        vram += activation_buffer(layout) if gpu_layers else 0
        ram += compute_buffer(layout)
    return _Candidate(n_ctx, kv, swa_full, gpu_layers, cpu_moe, vram, ram)


def _fits(c: _Candidate, machine: Machine, budget: _Budget) -> bool:
    if machine.gpu_name is None:
        return c.vram == 0 and c.ram <= budget.ram
    gpu_ok = c.vram == 0 or c.vram <= budget.gpu  # nothing on a GPU whose memory is all taken still runs
    if machine.unified:  # one pool: GPU and CPU parts share RAM
        return gpu_ok and c.vram + c.ram <= budget.ram
    return gpu_ok and c.ram <= budget.ram


def _contexts(layout: ModelLayout, wanted: int | None, cap: int) -> list[int]:
    top = min(layout.n_ctx_train or cap, wanted or cap)
    sizes = [top]
    while sizes[-1] // 2 >= MIN_CONTEXT:
        sizes.append(sizes[-1] // 2)
    return sizes


def _kv_groups(layout: ModelLayout) -> list[list[tuple[str, bool]]]:
    """KV-cache options, cheapest in quality first. A short sliding-window cache comes last: with it, a
    follow-up turn after a long reply has to read the whole conversation again."""
    groups = [[("f16", True), ("q8_0", True)]]
    if layout.sliding_window:
        groups.append([("f16", False), ("q8_0", False)])
    return groups


def _offloads(layout: ModelLayout) -> Iterator[tuple[int, int]]:
    """(gpu_layers, cpu_moe) from least to most moved off the GPU."""
    n = layout.n_layers
    if layout.is_moe:
        for cpu_moe in range(1, n + 1):
            yield n, cpu_moe
    for gpu_layers in range(n - 1, -1, -1):
        yield gpu_layers, n if layout.is_moe else 0  # MoE: once layers leave the GPU, every expert is in RAM


def _search(layout: ModelLayout, machine: Machine, budget: _Budget, contexts: list[int]) -> _Candidate | None:
    """The first configuration within ``budget``, in order of preference: the KV options that cost no
    re-reading first; within them everything on the GPU before anything moves off it; then the longest
    context."""
    n = layout.n_layers
    sums = _Sums.of(layout)
    if machine.gpu_name is None:
        placements: list[list[tuple[int, int]]] = [[(0, 0)]]
    else:
        placements = [[(n, 0)], list(_offloads(layout))]
    for group in _kv_groups(layout):
        for options in placements:
            for n_ctx in contexts:
                for kv, swa_full in group:
                    for gpu_layers, cpu_moe in options:
                        c = _candidate(layout, sums, n_ctx, kv, swa_full, gpu_layers, cpu_moe)
                        if _fits(c, machine, budget):
                            return c
    return None


def plan(
    layout: ModelLayout, machine: Machine, *, wanted_ctx: int | None = None, cap: int = DEFAULT_CONTEXT_CAP
) -> Plan:
    """The best way to run ``layout`` on ``machine`` (``fits`` is False, with the reasons, if there is none).

    Contexts of at least 8k (or the wanted one, if shorter) are tried first in every way; shorter ones only
    when nothing else fits."""
    contexts = _contexts(layout, wanted_ctx, cap)
    floor = min(PREFERRED_MIN_CONTEXT, contexts[0])

    def best(budget: _Budget) -> _Candidate | None:
        preferred = _search(layout, machine, budget, [c for c in contexts if c >= floor])
        return preferred or _search(layout, machine, budget, [c for c in contexts if c < floor])

    now, small = _Budget.free_now(machine), _Budget.small_model(machine)
    chosen = best(now)
    if chosen is not None:
        return _explain(layout, machine, chosen, contexts[0], Verdict.FITS)
    chosen = best(small) if small != now else None
    if chosen is not None:
        return _explain(layout, machine, chosen, contexts[0], Verdict.FITS_SMALL)
    smallest = _candidate(layout, _Sums.of(layout), contexts[-1], "q8_0", not layout.sliding_window, 0, 0)
    verdict = Verdict.BUSY if best(_Budget.all_free(machine)) is not None else Verdict.TOO_BIG
    return _no_fit(layout, machine, smallest, verdict)


def _gb(n: int) -> str:
    return f"{max(n, 0) / 1e9:.1f} GB"


def _explain(layout: ModelLayout, machine: Machine, c: _Candidate, top_ctx: int, verdict: Verdict) -> Plan:
    n = layout.n_layers
    reasons = []
    where = machine.gpu_name or "the CPU"
    if machine.gpu_name is None:
        reasons.append(
            f"No GPU found: all {n} layers run on the CPU ({_gb(machine.ram_free)} RAM free); "
            f"{c.n_ctx:,}-token context."
        )
    elif c.gpu_layers == n and not c.cpu_moe:
        reasons.append(f"All {n} layers on your {where} ({_gb(machine.gpu_free)} free); {c.n_ctx:,}-token context.")
    elif c.gpu_layers == n:
        moved = sum(layout.expert_bytes[: c.cpu_moe])
        reasons.append(
            f"{n} layers on your {where} ({_gb(machine.gpu_free)} free) with the experts of {c.cpu_moe} of them "
            f"in system RAM ({_gb(moved)}); {c.n_ctx:,}-token context."
        )
        reasons.append("Keeping MoE experts in RAM is slower than a model that fits on the GPU, but works.")
    elif c.gpu_layers == 0:
        reasons.append(
            f"All {n} layers on the CPU: the model does not fit your {where} ({_gb(machine.gpu_free)} free); "
            f"{c.n_ctx:,}-token context."
        )
    else:
        reasons.append(
            f"{c.gpu_layers} of {n} layers on your {where} ({_gb(machine.gpu_free)} free), the rest on the CPU; "
            f"{c.n_ctx:,}-token context."
        )
    if verdict is Verdict.FITS_SMALL:
        need = c.ram + c.vram if machine.unified or machine.gpu_name is None else c.ram
        reasons.append(
            f"Only {_gb(machine.ram_free)} of RAM is free right now, but this model needs about {_gb(need)} of it, "
            f"a small part of this computer's {_gb(machine.ram_total)}, so Moss loads it anyway. If it runs "
            "slowly, close some programs."
        )
    if machine.unified:
        reasons.append("Apple Silicon: the GPU shares system memory, so the whole model must fit in RAM once.")
    if c.kv == "q8_0":
        reasons.append("KV cache in q8_0, half the memory of f16, to fit the context.")
    if not c.swa_full:
        reasons.append("Sliding-window layers keep a short cache (less memory; a long reply may need a re-read).")
    if c.n_ctx < top_ctx:
        reasons.append(f"Context shortened from {top_ctx:,} to {c.n_ctx:,} tokens to fit.")
    elif c.n_ctx < layout.n_ctx_train:
        reasons.append(f"The model supports {layout.n_ctx_train:,} tokens of context; raise it if you need more.")
    return Plan(
        fits=True,
        n_layers=n,
        n_gpu_layers=c.gpu_layers,
        n_cpu_moe=c.cpu_moe,
        n_ctx=c.n_ctx,
        type_k=c.kv,
        type_v=c.kv,
        flash_attn=True,
        swa_full=c.swa_full,
        vram_bytes=c.vram,
        ram_bytes=c.ram,
        reasons=tuple(reasons),
        verdict=verdict,
    )


def _no_fit(layout: ModelLayout, machine: Machine, smallest: _Candidate, verdict: Verdict) -> Plan:
    need = smallest.ram + smallest.vram
    gpu = machine.gpu_name is not None and not machine.unified  # a GPU with memory of its own
    if verdict is Verdict.BUSY:
        free = f"{_gb(machine.ram_free)} of RAM" + (f" and {_gb(machine.gpu_free)} of GPU memory" if gpu else "")
        kept = f"{_gb(ram_headroom(machine))} of RAM" + (
            f" and {_gb(gpu_headroom(machine))} of GPU memory" if gpu else ""
        )
        reason = (
            f"Not enough memory is free right now to load this model: even with a {smallest.n_ctx:,}-token "
            f"context it needs about {_gb(need)}, and {free} {'are' if gpu else 'is'} free (Moss keeps {kept} "
            "free for the system). Close some programs, then try again."
        )
    else:
        has = f"{_gb(machine.ram_total)} of RAM" + (f" and {_gb(machine.gpu_total)} of GPU memory" if gpu else "")
        kept = f"{_gb(ram_headroom(machine))} of RAM" + (
            f" and {_gb(gpu_headroom(machine))} of GPU memory" if gpu else ""
        )
        reason = (
            f"This model does not fit this computer: even with a {smallest.n_ctx:,}-token context it needs about "
            f"{_gb(need)}, and this computer has {has} in all, of which Moss keeps {kept} free for the system. "
            "Choose a smaller model."
        )
    return Plan(
        fits=False,
        n_layers=layout.n_layers,
        n_gpu_layers=0,
        n_cpu_moe=0,
        n_ctx=smallest.n_ctx,
        type_k=smallest.kv,
        type_v=smallest.kv,
        flash_attn=True,
        swa_full=smallest.swa_full,
        vram_bytes=0,
        ram_bytes=need,
        reasons=(reason,),
        verdict=verdict,
    )


def decision_line(model: str, machine: Machine, chosen: Plan) -> str:
    """The planner's decision for ``model`` in one line, with the figures it used, for the log."""
    usable = _Budget.free_now(machine).ram
    gpu = (
        f"{machine.gpu_name} ({_gb(machine.gpu_free)} free of {_gb(machine.gpu_total)})" if machine.gpu_name else "none"
    )
    return (
        f"plan for {model}: {chosen.verdict}; needs {_gb(chosen.ram_bytes)} RAM + {_gb(chosen.vram_bytes)} GPU "
        f"({chosen.n_ctx:,}-token context, {chosen.n_gpu_layers}/{chosen.n_layers} layers on the GPU); RAM "
        f"{_gb(machine.ram_total)} total, {_gb(machine.ram_free)} free, {_gb(usable)} usable; GPU {gpu}"
    )
