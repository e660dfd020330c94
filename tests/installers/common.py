"""Shared pieces of the installer tests."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
INSTALLERS = ROOT / "installers"
WORKFLOW = ROOT / ".github" / "workflows" / "release.yml"
ISS = INSTALLERS / "windows" / "moss.iss"
VENV_BIN = Path(sys.executable).parent

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="the Linux and macOS scripts run on Linux and macOS")


def _module(path: Path) -> ModuleType:
    """A script of installers/ imported by path (installers/ is not a package)."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


def _tool(name: str) -> str:
    """A lint tool from the test set-up (pyproject's `test` extra installs it beside this Python)."""
    found = shutil.which(name, path=str(VENV_BIN)) or shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is missing: run `python3 bootstrap.py test`, which installs the test tools.")
    return found


def _version() -> str:
    from app import __version__

    return __version__


def _executable(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(0o755)
    return path


def _run(command: list[str | Path], env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
    result = subprocess.run(
        [str(part) for part in command], env=env, cwd=cwd, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, f"{command} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr
