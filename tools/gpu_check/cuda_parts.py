"""Finding the CUDA parts a llama.cpp build links that a compiler-only CUDA installation lacks.

ggml's CUDA backend links cuBLAS (``CUDA::cublas``) and, for its virtual-memory pool, the driver library
(``CUDA::cuda_driver``). A CUDA assembled from NVIDIA's pip wheels, as on this project's machines (the CPU
machine's /usr/local/cuda-13.0 holds nvcc and the runtime only), has neither where CMake looks: cuBLAS comes
with PyTorch's wheels (``site-packages/nvidia/cu13/{include,lib}``, or ``nvidia/cublas/...`` for CUDA 12), and
the driver is mounted from the host (``/usr/local/nvidia/lib64``) with no ``libcuda.so`` link for the linker.

:func:`shim` finds them and, where CMake would not, links them into one small folder under the work directory
(headers in ``include/``, libraries in ``lib/`` under the names the linker and the loader ask for), and returns
the CMake options that point the build there. Without a driver library to link, the build falls back to
``GGML_CUDA_NO_VMM`` (ggml's plain memory pool) and says so.
"""

from __future__ import annotations

import os
import shutil
import site
import sys
from pathlib import Path
from typing import Any

DRIVER_DIRS = ("/usr/local/nvidia/lib64", "/usr/local/nvidia/lib", "/usr/lib/x86_64-linux-gnu", "/usr/lib64")


def toolkit_roots() -> list[Path]:
    """CUDA installations: the environment's, nvcc's, and /usr/local/cuda."""
    candidates = [os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"), "/usr/local/cuda"]
    nvcc = shutil.which("nvcc")
    if nvcc:
        candidates.append(str(Path(nvcc).resolve().parent.parent))
    roots: list[Path] = []
    for candidate in candidates:
        if candidate and Path(candidate).is_dir() and Path(candidate).resolve() not in roots:
            roots.append(Path(candidate).resolve())
    return roots


def wheel_roots() -> list[Path]:
    """The ``nvidia/*`` folders of NVIDIA's pip wheels in this interpreter's site-packages."""
    folders = {*site.getsitepackages(), *sys.path}
    if site.ENABLE_USER_SITE:
        folders.add(site.getusersitepackages())
    found: list[Path] = []
    for folder in sorted(folders):
        nvidia = Path(folder) / "nvidia"
        if nvidia.is_dir():
            found += sorted(p for p in nvidia.iterdir() if p.is_dir())
    return found


def _first(folders: list[Path], pattern: str) -> Path | None:
    for folder in folders:
        matches = sorted(folder.glob(pattern)) if folder.is_dir() else []
        if matches:
            return matches[0]
    return None


def _toolkit_lib_dirs(roots: list[Path]) -> list[Path]:
    return [root / sub for root in roots for sub in ("lib64", "lib", "targets/x86_64-linux/lib")]


def shim(work: Path) -> tuple[list[str], dict[str, Any]]:
    """CMake options for the cuBLAS and driver library this machine has, and what was found where."""
    roots, wheels = toolkit_roots(), wheel_roots()
    toolkit_includes = [root / sub for root in roots for sub in ("include", "targets/x86_64-linux/include")]
    toolkit_libs = _toolkit_lib_dirs(roots)
    found: dict[str, Any] = {"toolkits": [str(r) for r in roots], "wheels": [str(w) for w in wheels]}
    folder = work / "cuda-shim"
    shutil.rmtree(folder, ignore_errors=True)
    include, lib = folder / "include", folder / "lib"
    args: list[str] = []
    header = _first(toolkit_includes, "cublas_v2.h")
    library = _first(toolkit_libs, "libcublas.so")
    if header is None or library is None:
        header = header or _first([w / "include" for w in wheels], "cublas_v2.h")
        versioned = _first([*toolkit_libs, *(w / "lib" for w in wheels)], "libcublas.so.*")
        if header is None or versioned is None:
            raise RuntimeError(
                "cuBLAS is missing: no cublas_v2.h and libcublas.so in the CUDA installation or in NVIDIA's pip "
                f"wheels ({', '.join(found['toolkits'] + found['wheels']) or 'none found'})."
            )
        include.mkdir(parents=True)
        lib.mkdir(parents=True)
        for path in sorted(header.parent.glob("cublas*.h")):
            (include / path.name).symlink_to(path)
        for name in ("libcublas", "libcublasLt"):
            target = _first([versioned.parent], f"{name}.so.*")
            if target is not None:
                (lib / f"{name}.so").symlink_to(target)
                (lib / target.name).symlink_to(target)
        args += [f"-DCMAKE_CUDA_FLAGS=-I{include}", f"-DCMAKE_CXX_FLAGS=-I{include}"]
        found["cublas"] = str(versioned)
    else:
        found["cublas"] = str(library)
    found["cublas_header"] = str(header)
    stub = _first([d / "stubs" for d in toolkit_libs], "libcuda.so")
    driver = stub or _first([Path(d) for d in DRIVER_DIRS], "libcuda.so.1")
    if stub is None and driver is not None:
        lib.mkdir(parents=True, exist_ok=True)
        (lib / "libcuda.so").symlink_to(driver)  # for the linker; the loader finds the driver as every program does
    if driver is None:
        args.append("-DGGML_CUDA_NO_VMM=ON")
        found["note"] = "no CUDA driver library to link: built with GGML_CUDA_NO_VMM (ggml's plain memory pool)"
    found["driver"] = str(driver) if driver else None
    if lib.is_dir():
        args.append(f"-DCMAKE_LIBRARY_PATH={lib}")
    found["shim"] = str(folder) if folder.is_dir() else None
    return args, found


def library_path(found: dict[str, Any]) -> list[str]:
    """Folders the measuring processes add to ``LD_LIBRARY_PATH``: where cuBLAS is, and the shim's."""
    folders = [str(Path(found["cublas"]).parent)] if found.get("cublas") else []
    if found.get("shim"):
        folders.append(str(Path(found["shim"]) / "lib"))
    return folders
