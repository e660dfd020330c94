"""The machine a plan is made for: the GPU llama.cpp would use, and system memory.

The probe asks llama.cpp itself (ggml's device registry), so it sees exactly the devices the loaded backend
can use, CUDA, Metal, Vulkan or ROCm alike, with no vendor SDK. A machine can also be described by hand
(``moss plan --vram 16GiB --ram 32GiB``) to plan for someone else's computer.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass

import psutil

from app.core.errors import UserError
from app.engine import backend

GIB = 1024**3
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}


@dataclass(frozen=True, slots=True)
class Machine:
    gpu_name: str | None  # None: no GPU, llama.cpp runs on the CPU
    gpu_total: int
    gpu_free: int
    ram_total: int
    ram_free: int
    unified: bool = False  # Apple Silicon: the GPU's memory is system RAM (gpu_* is Metal's working-set limit)
    simulated: bool = False


def parse_size(text: str) -> int:
    """Bytes from ``16GiB``, ``16GB``, ``512MiB``, ``1.5G`` or a plain number of bytes."""
    match = _SIZE.match(text)
    if not match:
        raise UserError(f"Not a size: {text!r}. Write it like 16GiB, 16GB or 512MiB.")
    number, unit = float(match.group(1)), (match.group(2) or "").lower()
    binary = "i" in unit
    letter = unit[:1] if unit[:1] in "kmgt" else ""
    scale = 1024 ** "kmgt".index(letter) * 1024 if binary and letter else _UNITS[letter]
    return int(number * scale)


def metal_working_set(ram: int) -> int:
    """macOS lets the GPU use about two thirds of RAM on smaller Macs and three quarters on larger ones
    (Metal's recommendedMaxWorkingSetSize, as reported by llama.cpp users) [3rd-party figures]."""
    return int(ram * (0.75 if ram > 36 * GIB else 2 / 3))


def simulated_machine(vram: int | None, ram: int, *, unified: bool = False) -> Machine:
    if unified:
        working_set = metal_working_set(ram)
        return Machine("Apple GPU (simulated)", working_set, working_set, ram, ram, unified=True, simulated=True)
    if vram:
        return Machine("GPU (simulated)", vram, vram, ram, ram, simulated=True)
    return Machine(None, 0, 0, ram, ram, simulated=True)


def probe_machine() -> Machine:
    """This computer, as llama.cpp sees it: its GPU with the most free memory, and free system RAM."""
    memory = psutil.virtual_memory()
    gpus = [d for d in backend.list_devices() if d.kind in ("gpu", "igpu")]
    if not gpus:
        return Machine(None, 0, 0, memory.total, memory.available)
    best = max(gpus, key=lambda d: d.free_bytes)
    unified = sys.platform == "darwin" and best.name.upper().startswith(("METAL", "MTL"))
    return Machine(
        best.description or best.name,
        best.total_bytes,
        best.free_bytes,
        memory.total,
        memory.available,
        unified=unified,
    )
