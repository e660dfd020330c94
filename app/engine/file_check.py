"""Everything a load checks of a model file, without loading its weights: for importing a model.

``moss models import`` (and the window's import) used to read only the header, so files that ``moss chat`` then
refused were accepted into the library: a chat template that does not compile, a tensor missing from the
table, a special token whose text is not UTF-8, a file llama.cpp aborts on. A library should hold only models
that load. :func:`check_model_file` runs what a load runs before the weights, in the same order:

1. the header reader and its checks of the hyper-parameters (app.engine.gguf_header, app.engine.model_checks),
   and the chat format Moss would render with (a template that does not compile fails here);
2. the child-process probe of files llama.cpp could abort on (app.engine.load_probe), remembered by fingerprint
   in ``checked_models`` so that the first load does not probe again;
3. what ``llama_cpp.Llama()`` does, in this process but without weights (``no_alloc``, no GPU), now known not to
   abort: llama.cpp creates the model and a small context; llama-cpp-python reads the metadata, decodes the BOS
   and EOS tokens' text and compiles every chat template. A failure is explained in the words a failed load
   uses (app.engine.loading.explain_load_failure).

What it cannot know is whether the weights fit: that is the planner's question at load time.
"""

from __future__ import annotations

import ctypes
from pathlib import Path
from typing import Any

from app.engine import backend
from app.engine.formats.selection import select_chat_format
from app.engine.gguf_header import GGUFHeader, read_gguf_header
from app.engine.load_probe import LoadProbe
from app.engine.loading import explain_load_failure

_CHECK_N_CTX = 256


def check_model_file(path: str | Path, *, checked_models: Path | None = None) -> GGUFHeader:
    """The header of the model at ``path`` once every check a load makes before its weights has passed; a
    ModelFileError (or UserError) saying what is wrong otherwise. ``checked_models`` is the load probe's folder
    (None: remembered for this process only)."""
    header = read_gguf_header(path)
    select_chat_format(header)  # as LlamaEngine.load does: a template Moss renders must compile
    LoadProbe(checked_models).check(header, backend.version())
    _check_without_weights(header)
    return header


def _check_without_weights(header: GGUFHeader) -> None:
    """What ``llama_cpp.Llama()`` does before it is ready, on the model without its weights: llama.cpp creates
    the model and a small context, then llama-cpp-python reads the metadata, decodes the BOS and EOS tokens'
    text and compiles every chat template. Only after the probe: llama.cpp is known not to abort on this file."""
    llama_cpp = backend.llama()
    from llama_cpp import _internals
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    backend.clear_recent_problems()
    params, _devices = _no_weights(llama_cpp)  # _devices: the C side keeps only a pointer to it
    model = None
    try:
        model = _internals.LlamaModel(path_model=str(header.path), params=params, verbose=False)
        context_params = llama_cpp.llama_context_default_params()
        context_params.n_ctx = context_params.n_batch = context_params.n_ubatch = _CHECK_N_CTX
        context = _internals.LlamaContext(model=model, params=context_params, verbose=False)
        context.close()  # type: ignore[no-untyped-call]
        try:
            metadata = model.metadata()
        except Exception:  # llama-cpp-python carries on without them, and so compiles no template
            metadata = {}
        bos, eos = model.token_bos(), model.token_eos()
        bos_text = model.token_get_text(bos) if bos != -1 else ""
        eos_text = model.token_get_text(eos) if eos != -1 else ""
        for key, template in metadata.items():
            if key == "tokenizer.chat_template" or key.startswith("tokenizer.chat_template."):
                Jinja2ChatFormatter(template=template, eos_token=eos_text, bos_token=bos_text)
    except Exception as exc:  # what a load would fail on: explained in the same words
        raise explain_load_failure(header, exc) from exc
    finally:
        if model is not None:
            model.close()  # type: ignore[no-untyped-call]


def _no_weights(llama_cpp: Any) -> tuple[Any, Any]:
    """Model parameters that create and check every tensor but read and allocate no weight, on no GPU (as the
    load probe's child reads a file), and the device list they point to."""
    params = llama_cpp.llama_model_default_params()
    params.no_alloc = True
    params.load_mode = llama_cpp.LLAMA_LOAD_MODE_NONE  # llama.cpp asserts on no_alloc with a memory map
    params.use_extra_bufts = False  # ...and with the CPU's repacking buffers
    params.n_gpu_layers = 0
    no_devices = (ctypes.c_void_p * 1)(None)  # an empty list (NULL would mean every device)
    params.devices = ctypes.cast(no_devices, ctypes.c_void_p)
    return params, no_devices
