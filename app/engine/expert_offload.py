"""Keeping MoE expert weights in system RAM: llama.cpp's ``--n-cpu-moe``, which llama-cpp-python lacks.

llama.cpp takes a NULL-terminated array of (tensor-name pattern, buffer type) overrides in
``llama_model_params.tensor_buft_overrides``. llama-cpp-python declares that field but never fills it, and
builds its model params from ``llama_model_default_params()`` inside ``Llama.__init__``; so, while a model
loads, that function is wrapped to hand back params with the overrides filled in
(:func:`app.engine.loading.model_params_filled` with :meth:`ExpertOffload.fill`). The pattern strings and the
array must outlive the model (llama.cpp keeps pointers to them): :class:`ExpertOffload` holds them.
"""

from __future__ import annotations

import ctypes
from typing import Any

from app.engine import backend
from app.engine.model_layout import EXPERT_PATTERN


class _BuftOverride(ctypes.Structure):
    _fields_ = [("pattern", ctypes.c_char_p), ("buft", ctypes.c_void_p)]


class ExpertOffload:
    """Overrides that put the experts of layers ``0 .. n_layers-1`` into CPU (system RAM) buffers."""

    def __init__(self, n_layers: int) -> None:
        module = backend.llama()
        from llama_cpp._ctypes_extensions import load_shared_library

        ggml_base = load_shared_library("ggml-base", module.llama_cpp._base_path)
        ggml_base.ggml_backend_cpu_buffer_type.restype = ctypes.c_void_p
        cpu = ggml_base.ggml_backend_cpu_buffer_type()
        self.patterns = [f"blk\\.{i}{EXPERT_PATTERN}".encode() for i in range(n_layers)]
        self.array = (_BuftOverride * (n_layers + 1))()
        for i, pattern in enumerate(self.patterns):
            self.array[i].pattern = pattern
            self.array[i].buft = cpu
        self.array[n_layers].pattern = None  # the terminator

    def fill(self, params: Any) -> None:
        """Point ``llama_model_params`` at these overrides."""
        params.tensor_buft_overrides = ctypes.cast(self.array, ctypes.c_void_p).value
