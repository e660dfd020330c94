"""The machine a plan is made for: the GPU llama.cpp would use, and system memory.

The probe asks llama.cpp itself (ggml's device registry), so it sees exactly the devices the loaded backend
can use, CUDA, Metal, Vulkan or ROCm alike, with no vendor SDK. A machine can also be described by hand
(``moss plan --vram 16GiB --ram 32GiB``) to plan for someone else's computer.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psutil

from app.core.errors import UserError
from app.engine import backend

GIB = 1024**3
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}
# Free RAM is read again a moment later when the first reading is below this share of the total: just after
# another program (often the Moss that was running a minute ago) lets its memory go, the system may report
# little free for a second or two. The better reading is kept.
RECHECK_BELOW = 0.25
RECHECK_AFTER_S = 0.5


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


def read_ram(
    read: Callable[[], Any] = psutil.virtual_memory, wait: Callable[[float], None] = time.sleep
) -> tuple[int, int]:
    """Total and free system RAM, in bytes. Free is psutil's ``available``: memory no program holds plus what
    the system can reclaim at once (the file cache on Linux, the standby list on Windows). A low reading is
    taken again after RECHECK_AFTER_S and the better one kept, so that a passing low does not refuse a model.
    ``read`` and ``wait`` are psutil's reading and a pause (tests pass their own)."""
    memory = read()
    total, free = int(memory.total), int(memory.available)
    if free < total * RECHECK_BELOW:
        wait(RECHECK_AFTER_S)
        free = max(free, int(read().available))
    return total, free


def probe_machine() -> Machine:
    """This computer, as llama.cpp sees it: its GPU with the most free memory, and free system RAM (see
    read_ram). Takes up to half a second when RAM looks short: call it off the GUI thread."""
    ram_total, ram_free = read_ram()
    gpus = [d for d in backend.list_devices() if d.kind in ("gpu", "igpu")]
    if not gpus:
        return Machine(None, 0, 0, ram_total, ram_free)
    best = max(gpus, key=lambda d: d.free_bytes)
    unified = sys.platform == "darwin" and best.name.upper().startswith(("METAL", "MTL"))
    return Machine(
        best.description or best.name,
        best.total_bytes,
        best.free_bytes,
        ram_total,
        ram_free,
        unified=unified,
    )
