"""The layering rules of docs/architecture.md, checked on every test run."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONTRACTS = (
    "Layers import downward",
    "No Qt below app.qt",
    "The product does not import its tests",
    "The window's rooms import downward",
)
MAX_MODULE_LINES = 500  # docs/architecture.md: modules of roughly 100-400 lines
MAX_LOOSE_UI_FILES = 8  # app/ui/ holds the shell (app, main window) and the shared widgets; the rest is in rooms


def test_import_contracts_hold() -> None:
    """import-linter: layers import only downward, the window's rooms too; nothing below app.qt imports Qt; nothing in
    app imports the tests. Each contract is named, so that one dropped from pyproject.toml is noticed."""
    configured = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    assert tuple(c["name"] for c in configured["contracts"]) == CONTRACTS
    result = subprocess.run(
        [sys.executable, "-c", "from importlinter.cli import lint_imports_command; lint_imports_command()"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 4 kept, 0 broken" in result.stdout
    for name in CONTRACTS:
        assert f"{name} KEPT" in result.stdout, name


def test_no_module_in_app_is_too_long_to_read() -> None:
    modules = list((ROOT / "app").rglob("*.py"))
    lines = {str(p.relative_to(ROOT)): len(p.read_text(encoding="utf-8").splitlines()) for p in modules}
    assert len(lines) > 100  # the glob found the app
    too_long = {path: n for path, n in sorted(lines.items()) if n > MAX_MODULE_LINES}
    assert too_long == {}, f"split these (at most {MAX_MODULE_LINES} lines each): {too_long}"


def test_the_window_keeps_its_parts_in_rooms() -> None:
    """app/ui/ itself holds only a few modules; the chat, the settings, the models and the first run have rooms."""
    loose = sorted(p.name for p in (ROOT / "app" / "ui").glob("*.py"))
    assert "main_window.py" in loose  # the glob looks where the window is
    assert len(loose) <= MAX_LOOSE_UI_FILES, f"move into a room under app/ui/: {loose}"
    rooms = {p.parent.name for p in (ROOT / "app" / "ui").glob("*/__init__.py")}
    assert {"chat", "settings", "models", "first_run"} <= rooms


def _modules_after_import(statement: str) -> set[str]:
    code = f"import sys; {statement}; print('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return {line.split(".")[0] for line in out.stdout.split()}


def test_headless_commands_load_no_qt() -> None:
    loaded = _modules_after_import("import app.__main__, app.cli, app.engine.llama_engine")
    assert "PySide6" not in loaded


def test_gui_start_defers_llama_cpp() -> None:
    """llama.cpp is loaded by the model thread when a model loads, not when the window is built."""
    loaded = _modules_after_import("import app.ui.app, app.ui.main_window")
    assert "llama_cpp" not in loaded
    assert "PySide6" in loaded
