"""``prepare DIR``: the kit a GPU machine without network needs, under 60 MiB (the device's transfer limit is 64).

- ``llama-cpp-python-VERSION-src.tar.gz``: llama-cpp-python's source (the version this environment runs),
  trimmed to what a CUDA build of its library needs. The registry's archive is ~77 MB; most of it is vocabulary
  GGUFs, docs, the server's web UI, tools and examples, and other backends' sources (Vulkan, SYCL, Metal, ...),
  none of which a build with only CUDA and the CPU backend configures or compiles (build.py's options).
- ``wheels/``: what Moss's engine imports that the GPU machine's image lacks (gguf, and llama-cpp-python's
  diskcache), and llama-cpp-python's small pure dependencies in case (jinja2, MarkupSafe, typing-extensions);
  numpy, psutil, PyYAML, CMake and ninja are in its image (the device's KINDS.md lists it).
- ``moss/``: the code that runs there: app/core, app/engine, the replica writer and the bare-loop reference of
  app/devtools, and this package (no Qt: the image has none).
- ``KIT.json``: versions, sizes, and the command to run.
The archive is downloaded once with pip (``pip download --no-binary :all:``) into a cache folder and reused.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from importlib import metadata
from pathlib import Path, PurePosixPath
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
MAX_MIB = 60
ARCHIVE_NAME = "llama-cpp-python-{version}-src.tar.gz"
# gguf and llama-cpp-python's diskcache are not in the GPU machine's image; its jinja2, MarkupSafe and
# typing-extensions are (KINDS.md), but they are a few hundred KB, and a run that fails on one is a session lost.
WHEELS = ("gguf", "diskcache", "jinja2", "markupsafe", "typing_extensions")
CODE = (
    "app/__init__.py",
    "app/core",
    "app/engine",
    "app/devtools/__init__.py",
    "app/devtools/replicas.py",
    "app/devtools/bench_baseline.py",
    "app/devtools/gpt_oss_template.jinja",
    "tools/gpu_check",
)
# Of llama.cpp's tree, only what a build of libllama with the CPU and CUDA backends configures and compiles.
_LLAMA_CPP_DIRS = {"cmake", "ggml", "include", "licenses", "src", "vendor"}
_GGML_BACKENDS = {"ggml-cpu", "ggml-cuda"}
_UNUSED_VENDOR = {"cpp-httplib"}  # only the common library uses it, which is not built
_LLAMA_CPP_FILES = {"CMakeLists.txt", "LICENSE"}
_PACKAGE_FILES = {"CMakeLists.txt", "pyproject.toml", "README.md", "LICENSE.md", "PKG-INFO"}


def cache_dir() -> Path:
    return Path(os.environ.get("MOSS_GPU_KIT_CACHE") or Path.home() / ".cache" / "moss-gpu-check")


def llama_cpp_python_version() -> str:
    return metadata.version("llama_cpp_python")


def run_command(kit_arg: str = "gpu-kit") -> str:
    """The one command the GPU machine runs, from the repository's root, with the kit at ``kit_arg``."""
    return (
        f"cd {kit_arg}/moss && PYTHONUNBUFFERED=1 python3 -m tools.gpu_check run --kit .. "
        f'--work ../../{kit_arg}-work --out "$OUT"'
    )


def keep(relative: str) -> bool:
    """Whether the trimmed source keeps ``relative`` (a path inside the archive's top folder)."""
    parts = PurePosixPath(relative).parts
    if not parts or parts[0] == "llama_cpp":
        return True
    if parts[:2] != ("vendor", "llama.cpp"):
        return parts == ("vendor",) or (len(parts) == 1 and parts[0] in _PACKAGE_FILES)
    inner = parts[2:]
    if not inner:
        return True
    if len(inner) == 1:
        return inner[0] in _LLAMA_CPP_FILES or inner[0] in _LLAMA_CPP_DIRS
    if inner[0] not in _LLAMA_CPP_DIRS:
        return False
    if inner[0] == "vendor":
        return inner[1] not in _UNUSED_VENDOR
    if inner[:2] == ("ggml", "src") and len(inner) >= 3 and _is_backend(inner[2]):
        return inner[2] in _GGML_BACKENDS
    return True


def _is_backend(name: str) -> bool:
    """A backend's folder in ggml/src (``ggml-vulkan``), not one of ggml's own files (``ggml-alloc.c``)."""
    return name.startswith("ggml-") and "." not in name


def download_sdist(version: str, into: Path) -> Path:
    """llama-cpp-python ``version``'s source archive, from the cache or downloaded there by pip."""
    into.mkdir(parents=True, exist_ok=True)
    found = sorted(into.glob(f"llama_cpp_python-{version}.tar.gz"))
    if found:
        return found[0]
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "-d", str(into)]
    done = subprocess.run([*command, f"llama-cpp-python=={version}"], capture_output=True, text=True, check=False)
    found = sorted(into.glob(f"llama_cpp_python-{version}.tar.gz"))
    if done.returncode != 0 or not found:
        said = (done.stderr.strip() or done.stdout.strip()).splitlines()[-3:]
        raise SystemExit(
            f"Could not download llama-cpp-python {version}'s source from the package index "
            f"(pip said: {' / '.join(said) or 'nothing'}). Connect to the network and try again, or pass "
            f"--sdist PATH to a downloaded llama_cpp_python-{version}.tar.gz."
        )
    return found[0]


def trim(sdist: Path, target: Path) -> dict[str, int]:
    """Write the trimmed source archive ``target`` from ``sdist``; returns the files and bytes kept and dropped."""
    counts = {"kept_files": 0, "kept_bytes": 0, "dropped_files": 0, "dropped_bytes": 0}
    with tarfile.open(sdist) as source, tarfile.open(target, "w:gz", compresslevel=9) as out:
        for member in source:
            relative = member.name.partition("/")[2]
            if not member.isdir() and not keep(relative):
                counts["dropped_files"] += 1
                counts["dropped_bytes"] += member.size
                continue
            if member.isfile():
                out.addfile(member, source.extractfile(member))
                counts["kept_files"] += 1
                counts["kept_bytes"] += member.size
            elif (member.isdir() and keep(relative)) or member.issym() or member.islnk():
                out.addfile(member)
    return counts


def download_wheels(into: Path) -> list[str]:
    """Pure-Python wheels of :data:`WHEELS` at the versions this environment runs, for Python 3.12."""
    into.mkdir(parents=True, exist_ok=True)
    wanted = [f"{name}=={metadata.version(name)}" for name in WHEELS]
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--python-version", "3.12",
        "--platform", "manylinux2014_x86_64", "--platform", "any", "-d", str(into), *wanted,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        said = (done.stderr.strip() or done.stdout.strip()).splitlines()[-3:]
        raise SystemExit(f"Could not download the wheels {', '.join(wanted)}: {' / '.join(said)}.")
    return sorted(p.name for p in into.glob("*.whl"))


def copy_code(into: Path) -> None:
    """The code the GPU machine runs. ``tools`` becomes a regular package there: a namespace package would lose
    to any ``tools`` package some wheel installed in that machine's site-packages."""
    for item in CODE:
        source = ROOT / item
        target = into / item
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(source, target)
    (into / "tools" / "__init__.py").write_text('"""The kit\'s copy of Moss\'s tools (prepare.py)."""\n')


def check_code(code: Path) -> dict[str, Any]:
    """Import everything the run imports from the copy, in a child: what it loaded must come from the copy,
    and nothing the GPU machine lacks (Qt, Moss's upper layers) may be loaded."""
    done = subprocess.run(
        [sys.executable, "-m", "tools.gpu_check", "child", "selfcheck"],
        cwd=code, capture_output=True, text=True, check=False, env=_without_pythonpath(),
    )  # fmt: skip
    if done.returncode != 0:
        said = (done.stdout[-1000:] + done.stderr[-2000:]).strip()
        raise SystemExit(f"The kit's copy of Moss's code does not run on its own:\n{said}")
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


def _without_pythonpath() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}


def size_of(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size


def prepare(kit: Path, *, sdist: Path | None = None, max_mib: int = MAX_MIB) -> dict[str, Any]:
    started = time.perf_counter()
    version = llama_cpp_python_version()
    kit.mkdir(parents=True, exist_ok=True)
    for old in (*kit.glob("llama-cpp-python-*.tar.gz"), kit / "wheels", kit / "moss", kit / "KIT.json"):
        if old.is_dir():
            shutil.rmtree(old)
        elif old.exists():
            old.unlink()
    source = sdist or download_sdist(version, cache_dir())
    archive = kit / ARCHIVE_NAME.format(version=version)
    with tempfile.TemporaryDirectory() as scratch:
        partial = Path(scratch) / archive.name
        counts = trim(source, partial)
        shutil.move(partial, archive)
    wheels = download_wheels(kit / "wheels")
    copy_code(kit / "moss")
    selfcheck = check_code(kit / "moss")
    sizes = {entry.name: size_of(entry) for entry in sorted(kit.iterdir()) if entry.name != "KIT.json"}
    total = sum(sizes.values())
    manifest = {
        "llama_cpp_python": version,
        "sdist": source.name,
        "trimmed": counts,
        "wheels": wheels,
        "code": list(CODE),
        "moss_commit": _git("rev-parse", "HEAD"),
        "moss_changes": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "sizes": sizes,
        "total_bytes": total,
        "selfcheck": selfcheck,
        "command": run_command(kit.name),
        "prepared_s": round(time.perf_counter() - started, 1),
    }
    (kit / "KIT.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    if total > max_mib * 2**20:
        raise SystemExit(f"The kit is {total / 2**20:.1f} MiB, over the {max_mib} MiB limit: {sizes}")
    return manifest


def _git(*args: str) -> str | None:
    done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
    return done.stdout.strip() if done.returncode == 0 else None
