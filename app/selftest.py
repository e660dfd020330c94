"""``moss --self-test``: a headless check that this installation works, one line per check.

Run by people whose app misbehaves, by the packaged app's smoke test, and by CI. Exit code 0 when every check
passes; otherwise 1, and the failing lines say why. Warnings (no system keychain, say) do not fail it.
"""

from __future__ import annotations

import logging
import os
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path

from app.platform.paths import AppPaths
from app.platform.secrets import open_secret_store
from app.platform.settings_store import load_settings, save_settings

log = logging.getLogger(__name__)


class CheckWarning(Exception):
    """A check that found something worth saying but nothing broken."""


def _check_folders(paths: AppPaths) -> str:
    for folder in paths.all().values():
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".moss-self-test-"):
            pass  # creating and removing a file proves the folder is writable
    return ", ".join(f"{name} {folder}" for name, folder in paths.all().items())


def _check_settings(paths: AppPaths) -> str:
    settings = load_settings(paths.settings_file)
    save_settings(paths.settings_file, settings)
    if load_settings(paths.settings_file) != settings:
        raise RuntimeError("settings did not read back as written")
    return str(paths.settings_file)


def _check_secrets(_paths: AppPaths) -> str:
    store = open_secret_store()
    key = "moss-self-test"
    store.set(key, "ok")
    try:
        if store.get(key) != "ok":
            raise RuntimeError("a secret did not read back as written")
    finally:
        store.delete(key)
    if not store.persistent:
        raise CheckWarning(store.description)
    return store.description


def _check_backend(_paths: AppPaths) -> str:
    from app.engine import backend

    devices = backend.list_devices()
    if not devices:
        raise RuntimeError("llama.cpp found no compute device")
    listed = "; ".join(f"{d.name} ({d.description}, {d.total_bytes / 2**30:.1f} GiB)" for d in devices)
    return f"llama-cpp-python {backend.version()}; devices: {listed}"


def _check_starter_model(_paths: AppPaths) -> str:
    from app.engine.gguf_header import read_gguf_header
    from app.hub.starter import starter_model_path

    path = starter_model_path()
    if path is None:
        raise CheckWarning("the starter model is not installed; open a GGUF model to chat")
    header = read_gguf_header(path)
    return f"{path.name} ({header.architecture}, {header.file_size / 1e6:.0f} MB)"


def _check_python_tool(paths: AppPaths) -> str:
    # gpt-oss's python tool runs in a child process (the packaged app starts itself as that child).
    from app.tools.python_sandbox import PythonLimits, PythonSandbox

    with tempfile.TemporaryDirectory(dir=paths.cache, prefix="self-test-python-") as folder:
        sandbox = PythonSandbox(Path(folder), PythonLimits(timeout_s=60))
        try:
            result = sandbox.run("6 * 7")
        finally:
            sandbox.close()
    if result.output != "42\n":
        raise RuntimeError(f"6 * 7 gave {result.output!r}")
    assert sandbox.confinement is not None
    return f"runs code; {sandbox.confinement.describe()}"


def _check_window_system(_paths: AppPaths) -> str:
    # The real platform plugin (xcb on Linux), not the offscreen one the next check renders with: a system
    # library it lacks stops the window from opening while everything offscreen still works.
    from app.qt.window_system import NO_DISPLAY, check_window_system

    check = check_window_system()
    if check.problem == NO_DISPLAY:
        raise CheckWarning(f"Qt's '{check.platform}' plugin loads, but {NO_DISPLAY[0].lower()}{NO_DISPLAY[1:]}")
    if check.problem:
        raise RuntimeError(check.problem)
    return f"Qt's '{check.platform}' plugin loads"


def _check_main_window(paths: AppPaths) -> str:
    # The window is built offscreen whatever the display: the self-test must run on headless machines.
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from app.core.settings import Settings
    from app.engine.llama_engine import LlamaEngine
    from app.qt.engine_worker import EngineController
    from app.qt.logging_bridge import install_qt_log_bridge
    from app.ui.app import build_main_window, create_application

    install_qt_log_bridge()  # Qt's notices go to the log file, not between the check lines
    app = create_application()
    controller = EngineController(LlamaEngine())
    try:
        window = build_main_window(paths, Settings(), controller)
        window.show()
        app.processEvents()
        image = window.grab()
        if image.isNull() or image.width() < 100:
            raise RuntimeError("the main window rendered nothing")
        size = f"{image.width()}x{image.height()}"
        window.close()
        window.deleteLater()
    finally:
        controller.shutdown()
    return f"rendered {size} on the '{app.platformName()}' platform"


CHECKS: list[tuple[str, Callable[[AppPaths], str]]] = [
    ("folders", _check_folders),
    ("settings", _check_settings),
    ("secret store", _check_secrets),
    ("llama.cpp backend", _check_backend),
    ("starter model", _check_starter_model),
    ("python tool", _check_python_tool),
    ("window system", _check_window_system),
    ("main window", _check_main_window),
]


def run_self_test(paths: AppPaths, out: Callable[[str], None] = print) -> int:
    failures = 0
    for name, check in CHECKS:
        try:
            detail = check(paths)
        except CheckWarning as warning:
            out(f"warn  {name}: {warning}")
        except Exception as exc:
            failures += 1
            log.error("self-test %s failed:\n%s", name, traceback.format_exc())
            out(f"FAIL  {name}: {type(exc).__name__}: {exc}")
        else:
            out(f"ok    {name}: {detail}")
    out("self-test passed" if not failures else f"self-test FAILED ({failures} of {len(CHECKS)} checks)")
    return 0 if not failures else 1
