"""Creating a llama.cpp model from load parameters: its progress, cancelling it, and explaining why it failed.

llama.cpp reports how far a load has come through ``llama_model_params.progress_callback`` (a fraction of the
weights read) and aborts the load when that callback returns false. llama-cpp-python's ``Llama()`` has no
argument for it, so the callback goes in the way :mod:`app.engine.expert_offload` fills the expert overrides:
``llama_model_default_params`` is wrapped while the model is created (:func:`model_params_filled`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import re
import threading
from collections.abc import Callable, Iterator
from typing import Any

from app.core.errors import ModelFileError, UserError
from app.core.types import LoadOptions, LoadParams
from app.engine import backend
from app.engine.expert_offload import ExpertOffload
from app.engine.gguf_header import GGUFHeader
from app.engine.planner import GGML_F16, GGML_Q8_0, Plan
from app.engine.protocol import LoadCancelled, ProgressCallback

log = logging.getLogger(__name__)

_UNKNOWN_ARCH = re.compile(r"unknown model architecture: '([^']*)'")
# How llama.cpp's backends say an allocation failed: CPU and Metal ("failed to allocate buffer"), CUDA
# ("cudaMalloc failed: out of memory"), Vulkan ("Device memory allocation of size N failed",
# "ErrorOutOfDeviceMemory").
_OUT_OF_MEMORY = re.compile(
    r"(failed to allocate|unable to allocate|out of memory|cudaMalloc failed|OutOf\w*Memory|"
    r"allocation of size \d+ failed)",
    re.I,
)
# llama-cpp-python's words when the model loaded but its context could not be created.
CONTEXT_FAILED = "Failed to create llama_context"
_GGML_TYPES = {"f16": GGML_F16, "q8_0": GGML_Q8_0}
MAX_N_CTX = 2**30  # far past any model; llama_context_params.n_ctx is a uint32, padded up as it is used
# The weights are reported up to this fraction; 1.0 means ready to chat (the context is created after them).
WEIGHTS_DONE = 0.99

ParamsFiller = Callable[[Any], None]
_patch_lock = threading.Lock()


class OutOfMemoryError(UserError):
    """llama.cpp could not allocate the model's buffers."""


class LoadProgress:
    """Watches one load: passes its progress on (0.0 .. 1.0, never going back) and aborts it once ``cancel``
    is set. llama.cpp keeps only a pointer to the C callback, so this object holds it for the whole load."""

    def __init__(self, cancel: threading.Event | None = None, on_progress: ProgressCallback | None = None) -> None:
        self._cancel = cancel or threading.Event()
        self._on_progress = on_progress
        self._reported = -1.0
        self._callback = backend.llama().llama_progress_callback(self._on_llama_progress)

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def check(self) -> None:
        """Raise LoadCancelled if the load should stop."""
        if self._cancel.is_set():
            raise LoadCancelled

    def report(self, fraction: float) -> None:
        """Pass ``fraction`` on if it is further than before (a retry after running out of memory starts the
        weights again: the bar waits rather than jumps back). Never raises: it runs inside a C callback."""
        if self._on_progress is None or fraction <= self._reported:
            return
        self._reported = fraction
        try:
            self._on_progress(fraction)
        except Exception:  # an exception escaping into ctypes would abort the load
            log.exception("the load progress handler failed")

    def fill(self, params: Any) -> None:
        """Point ``llama_model_params`` at this load's progress callback."""
        params.progress_callback = self._callback

    def _on_llama_progress(self, fraction: float, _user_data: Any) -> bool:
        if self._cancel.is_set():
            return False  # llama.cpp stops reading, frees what it loaded, and returns no model
        self.report(min(float(fraction), WEIGHTS_DONE))
        return True


@contextlib.contextmanager
def model_params_filled(*fillers: ParamsFiller) -> Iterator[None]:
    """While active, every ``llama_model_params`` llama-cpp-python builds is passed through ``fillers``.

    ``Llama.__init__`` starts from ``llama_model_default_params()`` and fills only the fields it has arguments
    for; wrapping that function is the one way to set the others (expert overrides, the progress callback)."""
    c_api = backend.llama().llama_cpp
    with _patch_lock:
        original = c_api.llama_model_default_params

        def filled() -> Any:
            params = original()
            for fill in fillers:
                fill(params)
            return params

        c_api.llama_model_default_params = filled
        try:
            yield
        finally:
            c_api.llama_model_default_params = original


def check_run_settings(options: LoadOptions) -> None:
    """Refuse run settings no load can use (before anything is unloaded: a typo must not cost the model)."""
    if options.n_threads is not None and options.n_threads < 1:
        raise UserError(
            f"The number of threads must be at least 1 (got {options.n_threads}). Change it in the run settings."
        )
    if options.n_batch is not None and options.n_batch < 1:
        raise UserError(
            f"The batch size must be at least 1 token (got {options.n_batch}). Change it in the run settings."
        )
    # A context length from a hand-edited settings file or a script: below 1 llama.cpp fails to create the
    # context (which read as "not enough memory"); above its C field's range it cannot be passed at all.
    for n_ctx in (options.wanted_ctx, options.params.n_ctx if options.params is not None else None):
        if n_ctx is not None and not 1 <= n_ctx <= MAX_N_CTX:
            raise UserError(
                f"The context length must be from 1 to {MAX_N_CTX:,} tokens (it is {n_ctx:,}). Change it in "
                "Settings → Inference, or set it to Automatic."
            )


def with_run_settings(params: LoadParams, options: LoadOptions) -> LoadParams:
    """``params`` with the run settings a person chose (``options.n_threads``, ``n_batch``) over their own."""
    return dataclasses.replace(
        params,
        n_threads=params.n_threads if options.n_threads is None else options.n_threads,
        n_batch=params.n_batch if options.n_batch is None else options.n_batch,
    )


def run_settings_text(options: LoadOptions) -> str | None:
    """The run settings a person chose, in words for the load's explanation; None when there are none."""
    parts = []
    if options.n_threads is not None:
        parts.append(f"{options.n_threads} CPU thread" + ("s" if options.n_threads != 1 else ""))
    if options.n_batch is not None:
        parts.append(f"prompt batches of {options.n_batch:,} tokens")
    return "As you set it: " + " and ".join(parts) + "." if parts else None


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


def create_llama(
    header: GGUFHeader, params: LoadParams, progress: LoadProgress | None = None
) -> tuple[Any, ExpertOffload | None]:
    """A ``llama_cpp.Llama`` for ``header``'s file loaded with ``params``, and the expert-offload overrides it
    points to (keep them as long as the model lives). Raises UserError saying what went wrong, or
    LoadCancelled when ``progress`` was cancelled (nothing is left allocated then)."""
    llama_cpp = backend.llama()
    progress = progress or LoadProgress()
    n_ctx = min(params.n_ctx, header.context_length) if header.context_length else params.n_ctx
    offload = ExpertOffload(params.n_cpu_moe) if params.n_cpu_moe > 0 else None
    fillers = [progress.fill] + ([offload.fill] if offload else [])
    backend.clear_recent_problems()
    progress.check()
    try:
        with model_params_filled(*fillers):
            llm = llama_cpp.Llama(
                model_path=str(header.path),
                n_ctx=n_ctx,
                n_batch=min(params.n_batch, n_ctx),
                n_threads=params.n_threads,
                # A thread count someone chose applies to reading the prompt too (llama-cpp-python would use
                # every core there).
                n_threads_batch=params.n_threads,
                n_gpu_layers=params.n_gpu_layers,
                flash_attn=params.flash_attn,
                type_k=_GGML_TYPES[params.type_k],
                type_v=_GGML_TYPES[params.type_v],
                swa_full=params.swa_full,
                verbose=False,
            )
    except Exception as exc:  # llama-cpp-python's ValueErrors, and what its own Python fails on after the load
        if progress.cancelled:  # the callback said stop: llama.cpp freed the partial model
            raise LoadCancelled from exc
        raise explain_load_failure(header, exc) from exc
    if progress.cancelled:  # cancelled while the context was being created
        llm.close()
        raise LoadCancelled
    return llm, offload


def explain_load_failure(header: GGUFHeader, exc: BaseException) -> UserError:
    """Turn llama-cpp-python's bare 'Failed to load model' into what went wrong and what to do.

    Only what llama.cpp logged as an error, and what the exception itself is, explain a failure: never the
    file's name (a model called "long-context" is not a memory problem) nor a warning logged on the way."""
    text = "\n".join(backend.recent_problems())
    errors = backend.recent_errors()
    name = header.path.name
    match = _UNKNOWN_ARCH.search(text)
    if match:
        return ModelFileError(
            f"{name} is a '{match.group(1)}' model, an architecture this version of llama.cpp cannot run. "
            "Use a GGUF of a supported model (gpt-oss, Llama, Qwen, Mistral, Gemma, ...)."
        )
    if _OUT_OF_MEMORY.search(text):
        return OutOfMemoryError(
            f"Not enough memory to load {name}. Close other programs, or use a smaller model or context."
        )
    if isinstance(exc, UnicodeDecodeError):  # llama-cpp-python decodes the BOS and EOS tokens' text
        return ModelFileError(
            f"{name} has a special token whose text is not valid UTF-8, so it cannot be used. The file is "
            "damaged or was converted wrongly: download it again, or use another GGUF of the model."
        )
    if type(exc).__module__.startswith("jinja2"):  # llama-cpp-python compiles the file's chat template as it loads
        return ModelFileError(f"{name} has a chat template that cannot be read ({exc}). Use another GGUF of the model.")
    # llama.cpp's own reason ("error loading model: ...") rather than its closing "failed to load model".
    detail = next((e for e in reversed(errors) if "error" in e.lower()), errors[-1] if errors else "")
    detail = detail.removeprefix("llama_model_load: ").removeprefix("error loading model: ").strip().rstrip(".")
    detail = detail or str(exc).rstrip(".") or type(exc).__name__
    if str(exc).startswith(CONTEXT_FAILED):  # the weights loaded; the context for chatting did not
        return UserError(
            f"llama.cpp loaded {name} but could not set it up to chat: {detail}. Try another context length "
            "in Settings → Inference (or `moss chat --context`)."
        )
    return ModelFileError(f"llama.cpp could not load {name}: {detail}. The file may be damaged or unsupported.")
