"""One case, measured in a process of its own (``python -m tools.gpu_check child case ...``).

The run starts one child per case, so that a crash in llama.cpp or CUDA (an abort, an out-of-memory kill)
loses that case only, and every case starts with the GPU empty. The child plans the load for the case's machine
(simulated, as ``moss plan --vram --ram`` does, or the real one), loads the model through Moss's engine with that
plan, reads the memory three ways (device_memory.py), then measures the engine against bare llama-cpp-python
(speed.py). It rewrites its result file after each part, so a part that fails or runs out of time leaves the
parts before it, and writes each failure into the result.
"""

from __future__ import annotations

import dataclasses
import json
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from app.core.types import LoadOptions
from app.engine import backend
from app.engine.gguf_header import read_gguf_header
from app.engine.hardware import Machine, parse_size, probe_machine, simulated_machine
from app.engine.llama_engine import LlamaEngine
from app.engine.model_layout import ModelLayout, model_layout
from app.engine.planner import Plan, activation_buffer, compute_buffer, kv_bytes, plan

from .cases import Case
from .device_memory import BufferLog, CudaRuntime, device_used_bytes, split_buffers
from .speed import chat_of_length, compare, conversation, first_token, greedy

WARM_PROMPT = 600  # tokens: more than one batch of 512, so every kernel and buffer of a prompt is used once


def machine_for(case: Case) -> Machine:
    if case.ram is None:
        return probe_machine()
    return simulated_machine(parse_size(case.vram) if case.vram else None, parse_size(case.ram))


def plan_parts(layout: ModelLayout, chosen: Plan) -> dict[str, int]:
    """The plan's estimate split as llama.cpp reports its buffers: weights, KV cache and compute scratch, on the
    GPU and in RAM (the planner's own arithmetic, app/engine/planner.py)."""
    n = layout.n_layers
    first_gpu = n - chosen.n_gpu_layers
    gpu_kv = kv_bytes(layout, range(first_gpu, n), chosen.n_ctx, chosen.type_k, chosen.swa_full)
    ram_kv = kv_bytes(layout, range(first_gpu), chosen.n_ctx, chosen.type_k, chosen.swa_full)
    head_on_gpu = chosen.n_gpu_layers == n > 0
    if head_on_gpu:
        gpu_compute, ram_compute = compute_buffer(layout), activation_buffer(layout)
    else:
        gpu_compute = activation_buffer(layout) if chosen.n_gpu_layers else 0
        ram_compute = compute_buffer(layout)
    return {
        "gpu_weights": chosen.vram_bytes - gpu_kv - gpu_compute,
        "gpu_kv": gpu_kv,
        "gpu_compute": gpu_compute,
        "ram_weights": chosen.ram_bytes - ram_kv - ram_compute,
        "ram_kv": ram_kv,
        "ram_compute": ram_compute,
    }


class _Result:
    """The case's result, rewritten to its file as it grows."""

    def __init__(self, path: Path, case: Case, model: Path) -> None:
        self.path = path
        self.data: dict[str, Any] = {"case": case.to_json(), "model_path": str(model), "errors": {}}
        self.save()

    def save(self) -> None:
        self.path.write_text(json.dumps(self.data, indent=1), encoding="utf-8")

    def part(self, name: str, work: Callable[[], Any]) -> Any:
        """Run one part; keep its result (or its error) under ``name``."""
        started = time.perf_counter()
        try:
            value = work()
        except Exception as exc:
            self.data["errors"][name] = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=6)}"
            self.save()
            return None
        self.data[name] = value
        self.data.setdefault("seconds", {})[name] = round(time.perf_counter() - started, 2)
        self.save()
        return value


def measure_case(case: Case, model: Path, result_path: Path) -> None:
    result = _Result(result_path, case, model)
    device_idle = device_used_bytes()  # before this process touches CUDA (planning for the real machine does)
    layout = model_layout(read_gguf_header(model))
    machine = machine_for(case)
    chosen = plan(layout, machine)
    result.data["machine"] = dataclasses.asdict(machine)
    result.data["plan"] = chosen.to_json() | {"parts": plan_parts(layout, chosen)}
    result.save()
    if not case.load or not chosen.fits:
        return
    backend.llama()
    cuda = CudaRuntime.open()
    memory: dict[str, Any] = {"device_idle": device_idle, "rss_before": _rss()}
    memory["cuda_after_context"] = cuda.mem_info() if cuda else None
    memory["device_after_context"] = device_used_bytes()
    engine = LlamaEngine()
    with BufferLog() as log:
        info = result.part("load", lambda: _load(engine, model, machine))
        if info is not None:
            memory |= _readings(cuda, "after_load")
            if result.part("warm_up", lambda: _warm_up(engine)) is not None:
                memory |= _readings(cuda, "after_reply")
    memory["buffers"] = split_buffers(log.buffers())
    memory["log"] = log.lines[:120]  # a failed load's lines say how far llama.cpp got
    result.data["memory"] = memory
    result.save()
    if info is None:
        return
    if case.engine:
        result.part("speed", lambda: compare(engine, case.prompt_tokens, case.decode_tokens, case.repeat))
        if case.long_prompt:
            size = min(case.long_prompt, info["n_ctx"] - 64)
            result.part("first_token", lambda: first_token(engine, size))
        if case.turns:
            result.part("turns", lambda: conversation(engine, case.turns, case.turn_tokens))
        memory |= _readings(cuda, "at_end")
        result.save()
    engine.unload()


def _load(engine: LlamaEngine, model: Path, machine: Machine) -> dict[str, Any]:
    started = time.perf_counter()
    info = engine.load(model, LoadOptions(), machine=machine)
    return {
        "seconds": round(time.perf_counter() - started, 2),
        "n_ctx": info.n_ctx,
        "load_params": dataclasses.asdict(info.load_params) if info.load_params else None,
        "plan": list(info.plan),
        "system_info": backend.system_info(),
        "llama_cpp_python": backend.version(),
        "llama_cpp_from": str(Path(backend.llama().__file__ or "").parent),
    }


def _warm_up(engine: LlamaEngine) -> dict[str, Any]:
    """One reply to a prompt longer than a batch: every buffer llama.cpp allocates lazily now exists."""
    params = greedy(8)
    result = engine.generate(chat_of_length(engine, WARM_PROMPT, params), params)
    engine.forget_cache()
    return {"prompt_tokens": result.stats.prompt_tokens, "tokens": result.stats.completion_tokens}


def _readings(cuda: CudaRuntime | None, when: str) -> dict[str, Any]:
    return {
        f"device_{when}": device_used_bytes(),
        f"cuda_{when}": cuda.mem_info() if cuda else None,
        f"rss_{when}": _rss(),
    }


def _rss() -> int:
    return int(psutil.Process().memory_info().rss)
