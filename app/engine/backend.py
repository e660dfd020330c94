"""The llama.cpp backend: importing it, routing its log, and listing the devices it sees.

llama.cpp writes its log through a C callback. Moss routes it into Python logging (logger ``llama.cpp``), so it
lands in the log file rather than the terminal (``--verbose`` shows it), and keeps the most recent warnings
and errors so that a failed load can be explained in words (llama-cpp-python only says "Failed to load").
"""

from __future__ import annotations

import collections
import ctypes
import logging
import os
import threading
from dataclasses import dataclass
from types import ModuleType
from typing import Any

log = logging.getLogger("llama.cpp")

# ggml_log_level in the pinned llama.cpp: NONE=0, DEBUG=1, INFO=2, WARN=3, ERROR=4, CONT=5 (continues the
# previous line). (llama-cpp-python's own _logger.py still has the older order.)
_LEVELS = {0: logging.CRITICAL, 1: logging.DEBUG, 2: logging.INFO, 3: logging.WARNING, 4: logging.ERROR}
_RECENT_PROBLEMS = 40

_lock = threading.Lock()
_state: dict[str, Any] = {}
_recent: collections.deque[tuple[int, str]] = collections.deque(maxlen=_RECENT_PROBLEMS)


@dataclass(frozen=True, slots=True)
class Device:
    name: str
    description: str
    kind: str  # cpu | gpu | igpu | accel
    free_bytes: int
    total_bytes: int


def _on_log(level: int, text: bytes, _user_data: ctypes.c_void_p) -> None:
    message = text.decode("utf-8", errors="replace").rstrip()
    if level == 5:
        level = _state.get("last_level", 2)
    _state["last_level"] = level
    if not message:
        return
    py_level = _LEVELS.get(level, logging.INFO)
    if py_level >= logging.WARNING:
        _recent.append((py_level, message))
    log.log(py_level, "%s", message)


def llama() -> ModuleType:
    """The ``llama_cpp`` module, imported once with its log routed into Python logging."""
    with _lock:
        module = _state.get("module")
        if module is None:
            import llama_cpp

            callback = llama_cpp.llama_log_callback(_on_log)
            llama_cpp.llama_log_set(callback, ctypes.c_void_p(0))
            _state["callback"] = callback  # the C side keeps only a pointer: keep the object alive
            _load_backend_libraries(llama_cpp)
            llama_cpp.llama_backend_init()
            _state["module"] = module = llama_cpp
        return module


def _load_backend_libraries(llama_cpp: ModuleType) -> None:
    """Load llama.cpp's compute backends when they are separate libraries.

    A llama.cpp built with GGML_BACKEND_DL (the Windows packages: one build whose CUDA, Vulkan and CPU
    backends are DLLs, so one installer serves NVIDIA, AMD and Intel) registers no backend until they are
    loaded, and llama.cpp's default search looks beside the executable, not in llama-cpp-python's folder.
    A build with the backends linked in (the default) already has them: nothing happens.
    """
    from llama_cpp._ctypes_extensions import load_shared_library

    base_path = llama_cpp.llama_cpp._base_path
    ggml = load_shared_library("ggml", base_path)
    ggml.ggml_backend_reg_count.restype = ctypes.c_size_t
    if ggml.ggml_backend_reg_count() > 0 or not hasattr(ggml, "ggml_backend_load_all_from_path"):
        return
    if os.name == "nt":  # ggml-cuda.dll finds the CUDA runtime beside it only through PATH
        os.environ["PATH"] = f"{base_path}{os.pathsep}{os.environ.get('PATH', '')}"
    ggml.ggml_backend_load_all_from_path.argtypes = [ctypes.c_char_p]
    ggml.ggml_backend_load_all_from_path(str(base_path).encode())
    log.info("loaded %d llama.cpp backends from %s", ggml.ggml_backend_reg_count(), base_path)


def recent_problems() -> list[str]:
    """llama.cpp's recent warnings and errors, oldest first."""
    return [message for _level, message in _recent]


def recent_errors() -> list[str]:
    """llama.cpp's recent errors only, oldest first: what a failure is explained by. A warning logged on the
    way (a sliding-window cache note, a deprecated key) is no reason for it."""
    return [message for level, message in _recent if level >= logging.ERROR]


def clear_recent_problems() -> None:
    _recent.clear()


def version() -> str:
    return str(getattr(llama(), "__version__", "unknown"))


def system_info() -> str:
    raw = llama().llama_print_system_info()
    return raw.decode("utf-8", errors="replace").strip() if isinstance(raw, bytes) else str(raw)


def _ggml_libraries() -> tuple[Any, Any]:
    """ggml (device registry) and ggml-base (device queries), loaded from llama-cpp-python's own folder."""
    cached = _state.get("ggml")
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    module = llama()
    from llama_cpp._ctypes_extensions import load_shared_library

    base_path = module.llama_cpp._base_path
    ggml = load_shared_library("ggml", base_path)
    ggml_base = load_shared_library("ggml-base", base_path)
    ggml.ggml_backend_dev_count.restype = ctypes.c_size_t
    ggml.ggml_backend_dev_get.argtypes = [ctypes.c_size_t]
    ggml.ggml_backend_dev_get.restype = ctypes.c_void_p
    for name in ("ggml_backend_dev_name", "ggml_backend_dev_description"):
        getattr(ggml_base, name).argtypes = [ctypes.c_void_p]
        getattr(ggml_base, name).restype = ctypes.c_char_p
    ggml_base.ggml_backend_dev_type.argtypes = [ctypes.c_void_p]
    ggml_base.ggml_backend_dev_type.restype = ctypes.c_int
    ggml_base.ggml_backend_dev_memory.argtypes = [
        ctypes.c_void_p,
        ctypes.POINTER(ctypes.c_size_t),
        ctypes.POINTER(ctypes.c_size_t),
    ]
    _state["ggml"] = (ggml, ggml_base)
    return ggml, ggml_base


_DEVICE_KINDS = {0: "cpu", 1: "gpu", 2: "igpu", 3: "accel"}


def list_devices() -> list[Device]:
    """The compute devices llama.cpp sees (CPU, CUDA, Metal, Vulkan, ...) with their memory."""
    ggml, ggml_base = _ggml_libraries()
    devices = []
    for index in range(ggml.ggml_backend_dev_count()):
        dev = ggml.ggml_backend_dev_get(index)
        free, total = ctypes.c_size_t(), ctypes.c_size_t()
        ggml_base.ggml_backend_dev_memory(dev, ctypes.byref(free), ctypes.byref(total))
        devices.append(
            Device(
                name=(ggml_base.ggml_backend_dev_name(dev) or b"?").decode(errors="replace"),
                description=(ggml_base.ggml_backend_dev_description(dev) or b"").decode(errors="replace"),
                kind=_DEVICE_KINDS.get(ggml_base.ggml_backend_dev_type(dev), "other"),
                free_bytes=free.value,
                total_bytes=total.value,
            )
        )
    return devices
