"""The layering rules of docs/architecture.md, checked on every test run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_hold() -> None:
    """import-linter: layers import only downward, the window's rooms too; nothing below app.qt imports Qt; nothing in
    app imports the tests."""
    result = subprocess.run(
        [sys.executable, "-c", "from importlinter.cli import lint_imports_command; lint_imports_command()"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 4 kept, 0 broken" in result.stdout


def _modules_after_import(statement: str) -> set[str]:
    code = f"import sys; {statement}; print('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return {line.split(".")[0] for line in out.stdout.split()}


def test_headless_commands_load_no_qt() -> None:
    loaded = _modules_after_import("import app.__main__, app.cli, app.engine.llama_engine")
    assert "PySide6" not in loaded


def test_gui_start_defers_llama_cpp() -> None:
    """llama.cpp is loaded by the model thread when a model loads, not when the window is built."""
    loaded = _modules_after_import("import app.ui.app, app.ui.main_window")
    assert "llama_cpp" not in loaded
    assert "PySide6" in loaded
