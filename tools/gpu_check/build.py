"""Building llama-cpp-python's llama.cpp with CUDA on the GPU machine, from the kit's trimmed source.

CMake and ninja build the one library llama-cpp-python loads (``libllama`` and the ggml libraries it needs:
base, CPU, CUDA) for the one GPU present: ``CMAKE_CUDA_ARCHITECTURES`` from ``nvidia-smi``'s compute capability
(``9.0`` -> ``90-real`` on an H200), flash-attention kernels only for the KV-cache types Moss's planner chooses
(f16 and q8_0: ``GGML_CUDA_FA_ALL_QUANTS`` off, llama.cpp's default), no tools, tests, examples or common library,
and the CPU backend as Moss's own set-up builds it on x86-64 (``GGML_NATIVE`` off, as bootstrap.py does). The
libraries go into ``llama_cpp/lib`` beside llama-cpp-python's Python code, as its wheel has them, in a folder
of the work directory that the measuring processes put first on their path, together with the kit's wheels.

A build whose inputs (the source archive and the options) have not changed is reused: a second run on a machine
still warm starts measuring at once.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

from . import cuda_parts
from .device_memory import nvidia_smi

BUILD_TARGET = "llama"
STAMP = "built-from.txt"


def cuda_architecture() -> str:
    """``CMAKE_CUDA_ARCHITECTURES`` for the first GPU: its compute capability, machine code only."""
    values = nvidia_smi("compute_cap")
    if not values or not values[0]:
        raise RuntimeError(
            "nvidia-smi reports no GPU here. Run this on a machine with an NVIDIA GPU and its driver, or try the "
            "code on the CPU with --cpu-dry-run."
        )
    major, _, minor = values[0].partition(".")
    return f"{major}{minor or '0'}-real"


def cmake_args(source: Path, build: Path, *, cuda_arch: str | None, extra: tuple[str, ...] = ()) -> list[str]:
    """The configure command: CUDA for ``cuda_arch`` (None: the CPU backend only, as the tests configure it), with
    ``extra`` options (where cuBLAS and the driver are: cuda_parts.py)."""
    generator = ["-G", "Ninja"] if shutil.which("ninja") else []
    args = [
        "cmake", "-S", str(source), "-B", str(build), *generator,
        "-DCMAKE_BUILD_TYPE=Release",
        "-DBUILD_SHARED_LIBS=ON",
        "-DLLAMA_BUILD_COMMON=OFF", "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_TOOLS=OFF",
        "-DLLAMA_BUILD_EXAMPLES=OFF", "-DLLAMA_BUILD_SERVER=OFF", "-DLLAMA_BUILD_APP=OFF",
        "-DLLAMA_CURL=OFF", "-DLLAMA_OPENSSL=OFF",
        # Each library finds its neighbours in its own folder, as in llama-cpp-python's wheel, and the CUDA
        # libraries where they were linked from (its CMakeLists does the same).
        "-DCMAKE_BUILD_WITH_INSTALL_RPATH=ON", "-DCMAKE_INSTALL_RPATH=$ORIGIN",
        "-DCMAKE_INSTALL_RPATH_USE_LINK_PATH=ON",
    ]  # fmt: skip
    if platform.machine().lower() in ("x86_64", "amd64"):
        args.append("-DGGML_NATIVE=OFF")  # bootstrap.py's choice: AVX2/FMA/F16C, what Moss's users build
    if cuda_arch is None:
        args.append("-DGGML_CUDA=OFF")
    else:
        args += ["-DGGML_CUDA=ON", f"-DCMAKE_CUDA_ARCHITECTURES={cuda_arch}", "-DGGML_CUDA_FA_ALL_QUANTS=OFF"]
    return [*args, *extra]


def unpack(archive: Path, into: Path) -> Path:
    """The archive's one top folder (llama-cpp-python's source), unpacked under ``into`` (afresh)."""
    shutil.rmtree(into, ignore_errors=True)
    into.mkdir(parents=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    (top,) = list(into.iterdir())
    return top


def build_llama_cpp(
    kit: Path, work: Path, log_path: Path, *, cuda: bool = True, seconds: float | None = None
) -> dict[str, Any]:
    """Build (or reuse) the CUDA llama-cpp-python in ``work/site``; returns what was done, with timings. Without
    ``cuda``, the CPU backend alone: the same steps on a machine without a GPU (``run --cpu-dry-run --build``).

    A build that does not finish within ``seconds`` is stopped and raises TimeoutError; run again, on the same
    machine, it goes on where it stopped (the unpacked source is kept while the archive is the same, so ninja
    recompiles nothing it already compiled)."""
    deadline = time.monotonic() + seconds if seconds is not None else None
    archive = next(kit.glob("llama-cpp-python-*.tar.gz"))
    arch = cuda_architecture() if cuda else None
    site = work / "site"
    build = work / "build"
    extra, found = cuda_parts.shim(work) if cuda else ([], {})
    configure = cmake_args(Path("<source>"), build, cuda_arch=arch, extra=tuple(extra))  # the options, for the stamp
    stamp = _stamp(archive, configure)
    info: dict[str, Any] = {"archive": archive.name, "cuda_architectures": arch, "site": str(site), "cuda": found}
    info |= _tool_versions()
    info["library_path"] = cuda_parts.library_path(found)
    lib = site / "llama_cpp" / "lib"
    backend = "libggml-cuda.so*" if cuda else "libggml-cpu.so*"
    if (site / STAMP).is_file() and (site / STAMP).read_text() == stamp and any(lib.glob(backend)):
        info["reused"] = True
        return info
    env = dict(os.environ)
    if shutil.which("nvcc") is None and Path("/usr/local/cuda/bin/nvcc").exists():
        env["CUDACXX"] = "/usr/local/cuda/bin/nvcc"
    with log_path.open("a", encoding="utf-8") as log:
        started = time.perf_counter()
        source = _unpacked(archive, work / "src")
        configure = cmake_args(source / "vendor" / "llama.cpp", build, cuda_arch=arch, extra=tuple(extra))
        _run(configure, log, env, deadline)
        info["configure_s"] = round(time.perf_counter() - started, 1)
        jobs = str(os.cpu_count() or 4)
        _run(["cmake", "--build", str(build), "--target", BUILD_TARGET, "-j", jobs], log, env, deadline)
        info["build_s"] = round(time.perf_counter() - started - info["configure_s"], 1)
        _assemble(source, build, site)
        wheels = sorted(str(w) for w in (kit / "wheels").glob("*.whl"))
        if wheels:
            pip = [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile"]
            _run([*pip, "--target", str(site), "--upgrade", *wheels], log, env, deadline)
        info["wheels"] = [Path(w).name for w in wheels]
    (site / STAMP).write_text(stamp)
    info["reused"] = False
    return info


def _assemble(source: Path, build: Path, site: Path) -> None:
    """llama-cpp-python's package as its wheel lays it out: the Python code, and the libraries in ``lib/``."""
    package = site / "llama_cpp"
    shutil.rmtree(package, ignore_errors=True)
    shutil.copytree(source / "llama_cpp", package)
    lib = package / "lib"
    lib.mkdir(exist_ok=True)
    for path in sorted((build / "bin").glob("lib*.so*")):
        target = lib / path.name
        if path.is_symlink():
            target.symlink_to(path.readlink())
        else:
            shutil.copy2(path, target)


def _unpacked(archive: Path, into: Path) -> Path:
    """The archive unpacked under ``into``: unpacked again only when the archive changed (fresh files would
    make ninja compile everything again)."""
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    mark = into / "unpacked-from.txt"
    tops = [p for p in into.iterdir() if p.is_dir()] if into.is_dir() else []
    if mark.is_file() and mark.read_text() == digest and len(tops) == 1:
        return tops[0]
    top = unpack(archive, into)
    mark.write_text(digest)
    return top


def _run(command: list[str], log: Any, env: dict[str, str], deadline: float | None) -> None:
    """Run ``command`` into the log; stop it and everything it started (ninja's compilers) at ``deadline``."""
    log.write(f"\n$ {' '.join(command)}\n")
    log.flush()
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        code = process.wait(timeout=None if deadline is None else max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise TimeoutError(
            f"{command[0]} {command[1]} did not finish in the time given; run the same command again at once: the "
            "build goes on where it stopped (build-log.txt shows how far it got)"
        ) from None
    if code != 0:
        raise RuntimeError(f"{command[0]} {command[1]} failed (exit code {code}); see build-log.txt")


def _stamp(archive: Path, configure: list[str]) -> str:
    digest = hashlib.sha256(archive.read_bytes())
    digest.update(" ".join(configure).encode())
    return digest.hexdigest()


def _tool_versions() -> dict[str, Any]:
    versions: dict[str, Any] = {}
    for tool, flag in (("cmake", "--version"), ("ninja", "--version"), ("nvcc", "--version")):
        path = shutil.which(tool) or (f"/usr/local/cuda/bin/{tool}" if tool == "nvcc" else None)
        if path is None or not Path(path).exists():
            versions[tool] = None
            continue
        done = subprocess.run([path, flag], capture_output=True, text=True, check=False)
        lines = [line.strip() for line in done.stdout.splitlines() if line.strip()]
        if tool == "nvcc":  # "Cuda compilation tools, release 13.0, V13.0.88"
            lines = [line for line in lines if "release" in line]
        versions[tool] = lines[0] if lines else None
    return versions
