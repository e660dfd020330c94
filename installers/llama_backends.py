"""Build llama-cpp-python for a release and put every llama.cpp backend where the app loads it from.

    python installers/llama_backends.py build [--cuda-runtime DIR] [--require NAME ...]
    python installers/llama_backends.py stage [--site-packages DIR] [--cuda-runtime DIR] [--require NAME ...]

Run it with the Python of the environment being packaged (.venv), with CMAKE_ARGS set: the release workflow
(.github/workflows/release.yml) documents the options used on each system.

``build`` compiles the version of llama-cpp-python that pyproject.toml pins, from source, without pip's wheel
cache (a cached wheel may have been built with other options), then runs ``stage``.

``stage`` exists for builds with GGML_BACKEND_DL=ON (the Windows release: CUDA, Vulkan and every CPU variant in
one package). There each backend is a separate library that llama.cpp loads at run time, and llama-cpp-python
0.3.36 installs only the named ones (ggml-cuda, ggml-vulkan) into ``llama_cpp/lib``: the CPU variants
(ggml-cpu-haswell, ...) go only to the wheel's ``bin/`` folder, outside the package, where build.spec does not
look; and with GGML_CPU_ALL_VARIANTS there is no plain ggml-cpu, so the app would have no CPU backend at all
(as its CMake install rules, ``cmake_install.cmake``, show). ``stage`` copies every backend library missing
from ``llama_cpp/lib`` there, and with ``--cuda-runtime`` also the CUDA runtime libraries that the CUDA backend
needs (cudart, cuBLAS; NVIDIA's licence lets applications redistribute them), so the packaged app runs on
machines without the CUDA toolkit. ``--require`` then fails the build when a backend that the release promises
(``cuda``, ``vulkan``, ``cpu-haswell``, ...) is missing, rather than shipping an installer that silently runs on
the CPU only.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "llama-cpp-python"
# ggml's backend libraries: ggml-cuda.dll, libggml-vulkan.so, libggml-cpu-haswell.so, ... but not ggml-base,
# which every build has and which llama_cpp/lib always holds.
_BACKEND = re.compile(r"^(?:lib)?ggml-(?!base\b)(?P<name>[a-z0-9_.-]+?)\.(?:dll|so|dylib)$", re.IGNORECASE)
# The CUDA runtime libraries ggml-cuda links against (Windows names; CUDA 12: cudart64_12.dll, ...).
CUDA_RUNTIME_PATTERNS = ("cudart64_*.dll", "cublas64_*.dll", "cublasLt64_*.dll")


class StageError(Exception):
    """Something the release needs is missing; the message says what and what to do."""


def llama_requirement(pyproject: Path = ROOT / "pyproject.toml") -> str:
    """The exact llama-cpp-python requirement of Moss (``llama-cpp-python==X.Y.Z``), from pyproject.toml."""
    dependencies = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["dependencies"]
    for requirement in dependencies:
        if re.match(rf"^{re.escape(PACKAGE)}\s*==", requirement):
            return str(requirement).replace(" ", "")
    raise StageError(f"{pyproject} pins no exact {PACKAGE} version; add one (llama-cpp-python==X.Y.Z).")


def backend_name(file_name: str) -> str | None:
    """``cuda`` for ggml-cuda.dll, ``cpu-haswell`` for libggml-cpu-haswell.so; None for other files."""
    match = _BACKEND.match(file_name)
    return match.group("name").lower() if match else None


def installed_site_packages() -> Path:
    """The site-packages folder holding llama_cpp in this environment (found without importing it)."""
    spec = importlib.util.find_spec("llama_cpp")
    if spec is None or not spec.submodule_search_locations:
        raise StageError(f"{PACKAGE} is not installed in {sys.prefix}; run the `build` step first.")
    return Path(next(iter(spec.submodule_search_locations))).parent


def stage(site_packages: Path, cuda_runtime: Path | None = None, required: Sequence[str] = ()) -> list[str]:
    """Copy backend libraries (and the CUDA runtime) into ``llama_cpp/lib``; return the backends it now has."""
    lib = site_packages / "llama_cpp" / "lib"
    if not lib.is_dir():
        raise StageError(f"{lib} does not exist: is {PACKAGE} installed in this environment?")
    for folder in (site_packages / "bin", site_packages / "lib"):
        for path in sorted(folder.glob("*")) if folder.is_dir() else []:
            if path.is_file() and backend_name(path.name) and not (lib / path.name).exists():
                shutil.copy2(path, lib / path.name)
                print(f"staged {path.name} from {folder}")
    if cuda_runtime is not None:
        for pattern in CUDA_RUNTIME_PATTERNS:
            found = sorted(cuda_runtime.glob(pattern))
            if not found:
                raise StageError(
                    f"No {pattern} in {cuda_runtime}: pass the CUDA toolkit's bin folder (%CUDA_PATH%\\bin)."
                )
            for path in found:
                shutil.copy2(path, lib / path.name)
                print(f"staged {path.name} from {cuda_runtime}")
    backends = sorted({name for path in lib.iterdir() if (name := backend_name(path.name))})
    print(f"llama.cpp backends in {lib}: {', '.join(backends) or 'none'}")
    missing = [name for name in required if name.lower() not in backends]
    if missing:
        raise StageError(
            f"The build has no {', '.join(missing)} backend ({lib} holds {', '.join(backends) or 'none'}). "
            "Check CMAKE_ARGS and the build log above (a toolkit that CMake did not find is skipped quietly)."
        )
    return backends


def build() -> None:
    """pip-install the pinned llama-cpp-python from source with the CMAKE_ARGS of the environment."""
    print(f"CMAKE_ARGS={os.environ.get('CMAKE_ARGS', '')}", flush=True)
    command = [sys.executable, "-m", "pip", "install", "--no-cache-dir", "--no-binary", PACKAGE, llama_requirement()]
    print("+", " ".join(command), flush=True)
    subprocess.run(command, check=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("command", choices=("build", "stage"))
    parser.add_argument("--site-packages", type=Path, help="where llama_cpp is installed (default: this Python's)")
    parser.add_argument("--cuda-runtime", type=Path, help="the CUDA toolkit's bin folder, to ship its runtime")
    parser.add_argument("--require", nargs="*", default=[], metavar="NAME", help="backends the build must have")
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            build()
        stage(args.site_packages or installed_site_packages(), args.cuda_runtime, args.require)
    except StageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
