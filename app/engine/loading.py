"""Creating a llama.cpp model from load parameters, and explaining why it failed when it does."""

from __future__ import annotations

import contextlib
import re
from typing import Any

from app.core.errors import ModelFileError, UserError
from app.core.types import LoadParams
from app.engine import backend
from app.engine.expert_offload import ExpertOffload
from app.engine.gguf_header import GGUFHeader
from app.engine.planner import GGML_F16, GGML_Q8_0, Plan

_UNKNOWN_ARCH = re.compile(r"unknown model architecture: '([^']*)'")
_OUT_OF_MEMORY = re.compile(r"(failed to allocate|unable to allocate|out of memory|cudaMalloc failed)", re.I)
_GGML_TYPES = {"f16": GGML_F16, "q8_0": GGML_Q8_0}


class OutOfMemoryError(UserError):
    """llama.cpp could not allocate the model's buffers."""


def load_params_for(plan: Plan) -> LoadParams:
    return LoadParams(
        n_ctx=plan.n_ctx,
        n_gpu_layers=-1 if plan.n_gpu_layers == plan.n_layers else plan.n_gpu_layers,
        n_cpu_moe=plan.n_cpu_moe,
        flash_attn=plan.flash_attn,
        type_k=plan.type_k,
        type_v=plan.type_v,
        swa_full=plan.swa_full,
    )


def create_llama(header: GGUFHeader, params: LoadParams) -> tuple[Any, ExpertOffload | None]:
    """A ``llama_cpp.Llama`` for ``header``'s file loaded with ``params``, and the expert-offload overrides it
    points to (keep them as long as the model lives). Raises UserError saying what went wrong."""
    llama_cpp = backend.llama()
    n_ctx = min(params.n_ctx, header.context_length) if header.context_length else params.n_ctx
    offload = ExpertOffload(params.n_cpu_moe) if params.n_cpu_moe > 0 else None
    backend.clear_recent_problems()
    try:
        with offload.applied() if offload else contextlib.nullcontext():
            llm = llama_cpp.Llama(
                model_path=str(header.path),
                n_ctx=n_ctx,
                n_batch=min(params.n_batch, n_ctx),
                n_gpu_layers=params.n_gpu_layers,
                n_threads=params.n_threads,
                flash_attn=params.flash_attn,
                type_k=_GGML_TYPES[params.type_k],
                type_v=_GGML_TYPES[params.type_v],
                swa_full=params.swa_full,
                verbose=False,
            )
    except (ValueError, RuntimeError, OSError) as exc:
        raise explain_load_failure(header, exc) from exc
    return llm, offload


def explain_load_failure(header: GGUFHeader, exc: BaseException) -> UserError:
    """Turn llama-cpp-python's bare 'Failed to load model' into what went wrong and what to do."""
    problems = backend.recent_problems()
    text = "\n".join(problems)
    name = header.path.name
    match = _UNKNOWN_ARCH.search(text)
    if match:
        return ModelFileError(
            f"{name} is a '{match.group(1)}' model, an architecture this version of llama.cpp cannot run. "
            "Use a GGUF of a supported model (gpt-oss, Llama, Qwen, Mistral, Gemma, ...)."
        )
    if _OUT_OF_MEMORY.search(text) or "context" in str(exc).lower():
        return OutOfMemoryError(
            f"Not enough memory to load {name}. Close other programs, or use a smaller model or context."
        )
    detail = next((p for p in reversed(problems) if "error" in p.lower()), problems[-1] if problems else "")
    detail = detail.removeprefix("llama_model_load: ").strip() or str(exc)
    return ModelFileError(f"llama.cpp could not load {name}: {detail}. The file may be damaged or unsupported.")
