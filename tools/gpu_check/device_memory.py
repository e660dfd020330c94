"""What the GPU and llama.cpp say about memory: CUDA's free/total, nvidia-smi's used, llama.cpp's buffer lines.

Three views of one load, because each misses something:
- ``nvidia-smi``'s memory used, before this process touched CUDA and after the load: everything the process holds
  on the device, CUDA's own context included (what a 16 GB card must really hold);
- ``cudaMemGetInfo`` (CUDA's runtime, through ctypes, the library llama.cpp's CUDA backend already loaded):
  the same from inside the process, after the context exists;
- llama.cpp's log lines ``CUDA0 model buffer size = ... MiB`` and the like: what llama.cpp allocated, buffer by
  buffer, which is what the planner estimates.
Without CUDA (the CPU dry run) the first two are None and only llama.cpp's CPU buffers are seen.
"""

from __future__ import annotations

import ctypes
import logging
import re
import shutil
import subprocess
from typing import Any

MIB = 1024**2
# "load_tensors:   CPU_Mapped model buffer size =   586.82 MiB", "llama_kv_cache:      CUDA0 KV buffer size = ...",
# "llama_context:  CUDA_Host  output buffer size = ...": the buffer's backend, its kind, its size.
_BUFFER = re.compile(r"(\S+)\s+(model|KV|compute|output|RS) buffer size\s*=\s*([\d.]+) MiB")
_CUDART_NAMES = ("libcudart.so.13", "libcudart.so.12", "libcudart.so.11.0", "libcudart.so")


def nvidia_smi(*fields: str) -> list[str] | None:
    """The first GPU's ``fields`` as nvidia-smi reports them (no units), or None without nvidia-smi."""
    if shutil.which("nvidia-smi") is None:
        return None
    query = ["nvidia-smi", f"--query-gpu={','.join(fields)}", "--format=csv,noheader,nounits", "-i", "0"]
    try:
        done = subprocess.run(query, capture_output=True, text=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return [value.strip() for value in done.stdout.strip().splitlines()[0].split(",")]


def device_used_bytes() -> int | None:
    """Memory used on the first GPU, all processes together, by nvidia-smi (None: no NVIDIA GPU)."""
    values = nvidia_smi("memory.used")
    try:
        return int(float(values[0]) * MIB) if values else None
    except ValueError:
        return None


class CudaRuntime:
    """``cudaMemGetInfo`` of the current device through the CUDA runtime llama.cpp's CUDA backend loaded."""

    def __init__(self, library: ctypes.CDLL) -> None:
        self._lib = library
        self._lib.cudaMemGetInfo.argtypes = [ctypes.POINTER(ctypes.c_size_t), ctypes.POINTER(ctypes.c_size_t)]
        self._lib.cudaMemGetInfo.restype = ctypes.c_int

    @classmethod
    def open(cls) -> CudaRuntime | None:
        """The runtime, or None where there is none (a CPU build, no NVIDIA driver)."""
        for name in _CUDART_NAMES:
            try:
                return cls(ctypes.CDLL(name))
            except OSError:
                continue
        return None

    def mem_info(self) -> tuple[int, int] | None:
        """(free, total) bytes of the current device, or None if CUDA answers with an error."""
        free, total = ctypes.c_size_t(), ctypes.c_size_t()
        if self._lib.cudaMemGetInfo(ctypes.byref(free), ctypes.byref(total)) != 0:
            return None
        return free.value, total.value


class BufferLog(logging.Handler):
    """Collects llama.cpp's buffer-size lines from the ``llama.cpp`` logger (app.engine.backend routes them)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self._level = logging.NOTSET

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "buffer size" in message or "CUDA" in message or "offload" in message:
            self.lines.append(message.strip())

    def __enter__(self) -> BufferLog:
        logger = logging.getLogger("llama.cpp")
        self._level = logger.level
        logger.setLevel(logging.DEBUG)
        logger.addHandler(self)
        return self

    def __exit__(self, *_exc: object) -> None:
        logger = logging.getLogger("llama.cpp")
        logger.removeHandler(self)
        logger.setLevel(self._level)

    def buffers(self) -> dict[str, int]:
        """Bytes per ``backend kind`` (``CUDA0 model``, ``CPU_Mapped model``, ``CUDA0 KV``, ...), summed."""
        sizes: dict[str, int] = {}
        for line in self.lines:
            for backend, kind, mib in _BUFFER.findall(line):
                key = f"{backend} {kind}"
                sizes[key] = sizes.get(key, 0) + round(float(mib) * MIB)
        return sizes


def on_device(buffer: str) -> bool:
    """Whether a buffer named by :meth:`BufferLog.buffers` lives in GPU memory (CUDA0, not CUDA_Host)."""
    backend = buffer.split(" ", 1)[0]
    return backend.startswith(("CUDA", "ROCm", "Vulkan", "Metal")) and not backend.endswith("_Host")


def split_buffers(buffers: dict[str, int]) -> dict[str, Any]:
    """The buffers' totals on the device and in host memory."""
    device = sum(size for name, size in buffers.items() if on_device(name))
    return {"device_bytes": device, "host_bytes": sum(buffers.values()) - device, "by_buffer": buffers}
