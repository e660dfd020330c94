"""Driving the real window offscreen for ``moss screenshots`` and the benches: a throwaway data folder, the
caller's engine on the real model thread (a synthetic gpt-oss-20b for the pictures), and waits that keep the
event loop running.

Nothing here is used by the app itself; it exists so that the pictures and the figures come from the same
window people use, with the same composition root (``build_main_window``).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication

from app.core.settings import Settings
from app.devtools.synthetic import SYNTHETIC_MODEL_FILE
from app.engine.protocol import Engine
from app.platform.paths import AppPaths
from app.qt.engine_worker import EngineController
from app.qt.models_controller import ModelsController
from app.qt.settings_controller import SettingsController
from app.storage.history import HistoryStore
from app.ui.app import build_main_window
from app.ui.main_window import MainWindow

WINDOW_SIZE = (1200, 780)
# The engine a session drives: the caller keeps its own type (a synthetic engine's pause controls, say).
E = TypeVar("E", bound=Engine)


def pause(ms: int) -> None:
    """Let the event loop run for ``ms`` milliseconds (layouts settle, queued signals arrive)."""
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def wait_for(signal: Any, timeout_ms: int = 30_000) -> list[Any]:
    """Run the event loop until ``signal`` is emitted; returns its arguments. Raises TimeoutError."""
    loop = QEventLoop()
    received: list[list[Any]] = []

    def arrived(*args: Any) -> None:
        received.append(list(args))
        loop.quit()

    signal.connect(arrived)
    QTimer.singleShot(timeout_ms, loop.quit)
    try:
        loop.exec()
    finally:
        signal.disconnect(arrived)
    if not received:
        raise TimeoutError(f"waited {timeout_ms} ms for a signal that did not come")
    return received[0]


def wait_until(condition: Callable[[], bool], timeout_ms: int = 30_000, step_ms: int = 10) -> None:
    """Run the event loop until ``condition()`` holds. Raises TimeoutError."""
    deadline = time.monotonic() + timeout_ms / 1000
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout_ms} ms for a condition that did not hold")
        pause(step_ms)


@dataclass
class Session(Generic[E]):
    """The main window over a throwaway data folder, its model thread driving ``engine``."""

    folder: Path
    paths: AppPaths
    engine: E
    controller: EngineController
    window: MainWindow
    models: ModelsController | None = None
    extra: list[Callable[[], None]] = field(default_factory=list)  # more clean-up, run first

    @property
    def model_file(self) -> Path:
        return self.paths.models / SYNTHETIC_MODEL_FILE

    def load_model(self) -> None:
        """Load the model (the synthetic gpt-oss-20b's stand-in file) through the window, as a person would."""
        self.window.load_model(str(self.model_file))
        wait_for(self.controller.model_loaded)

    def close(self) -> None:
        for action in self.extra:
            action()
        self.window.close()
        self.controller.shutdown()
        if self.models is not None:
            self.models.shutdown()
        self.window.store.close()
        self.window.deleteLater()
        QApplication.processEvents()
        shutil.rmtree(self.folder, ignore_errors=True)


def open_session(
    engine: E,
    settings: Settings,
    *,
    history: Callable[[HistoryStore], None] | None = None,
    models: Callable[[AppPaths, SettingsController, EngineController], ModelsController] | None = None,
    load: bool = True,
) -> Session[E]:
    """Build and show the window over a fresh data folder whose history ``history`` fills first; the
    synthetic model is loaded unless ``load`` is False. ``models`` builds a ModelsController for it."""
    folder = Path(tempfile.mkdtemp(prefix="moss-offscreen-"))
    paths = AppPaths.resolve(folder / "Moss")  # as a data folder's name shows in the pictures
    paths.ensure()
    # The model picker lists only files that exist: an empty one stands in for the 12 GB model.
    (paths.models / SYNTHETIC_MODEL_FILE).touch()
    if history is not None:
        store = HistoryStore.open(paths.history_file)
        try:
            history(store)
        finally:
            store.close()
    controller = EngineController(engine)
    owner = SettingsController(paths.settings_file, settings)  # one owner, shared by the window and the models
    controller_models = models(paths, owner, controller) if models is not None else None
    window = build_main_window(paths, owner, controller, controller_models)
    session = Session(folder, paths, engine, controller, window, controller_models)
    window.resize(*WINDOW_SIZE)
    window.show()
    QApplication.processEvents()
    if load:
        session.load_model()
    return session
