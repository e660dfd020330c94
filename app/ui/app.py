"""The GUI's composition root: builds the application, its services and the main window, and runs it."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path
from types import TracebackType

from PySide6.QtCore import QEvent, QObject, QTimer, Slot
from PySide6.QtGui import QFileOpenEvent, QGuiApplication
from PySide6.QtWidgets import QApplication, QMessageBox

from app import APP_NAME, __version__
from app.core.errors import EXIT_USER_ERROR, UserError
from app.core.settings import Settings
from app.engine.llama_engine import LlamaEngine
from app.engine.load_probe import CHECKED_MODELS
from app.hub.starter import starter_model_path
from app.platform.paths import AppPaths
from app.platform.secrets import open_secret_store
from app.qt.engine_worker import EngineController
from app.qt.logging_bridge import install_qt_log_bridge
from app.qt.models_controller import ModelsController
from app.qt.settings_controller import SettingsController
from app.qt.window_system import check_window_system
from app.storage.history import HistoryStore
from app.ui.main_window import MainWindow
from app.ui.resources import app_icon
from app.ui.theme import apply_theme

log = logging.getLogger(__name__)

# A hidden switch for `moss bench --model` (app.devtools.bench_model), which starts `moss` as a child process with
# it set: the app then loads no model, prints one JSON line on stdout once its window is first painted
# ({"shown_at": time.time() at that moment, "rss_mb": its resident memory}) and quits. The parent knows when it
# started the process, so start-up is measured from outside, Python's own start included.
STARTUP_PROBE_ENV = "MOSS_STARTUP_PROBE"


def create_application(argv: list[str] | None = None) -> QApplication:
    existing = QApplication.instance()
    if isinstance(existing, QApplication):
        return existing
    app = QApplication(argv if argv is not None else sys.argv[:1])
    app.setApplicationName(APP_NAME)
    app.setApplicationVersion(__version__)
    app.setWindowIcon(app_icon())
    return app


def build_main_window(
    paths: AppPaths,
    settings: SettingsController | Settings,
    controller: EngineController,
    models: ModelsController | None = None,
) -> MainWindow:
    """The main window over the history in ``paths`` (raises HistoryError for a history from a newer Moss).

    ``settings``: their owner, shared with ``models``; or plain Settings to start from, which the window's own
    owner saves to the settings file in ``paths`` (tests and tools that need no model manager)."""
    if isinstance(settings, Settings):
        settings = SettingsController(paths.settings_file, settings)
    starter = starter_model_path()
    store = HistoryStore.open(paths.history_file)
    store.purge_deleted()  # what was deleted in an earlier session (Undo lasts as long as the window)
    return MainWindow(controller, store, settings, str(starter) if starter else None, paths, models)


def build_models_controller(
    paths: AppPaths, settings: SettingsController, controller: EngineController
) -> ModelsController:
    """The model manager, started: installed models listed and unfinished downloads shown (in the background)."""
    models = ModelsController(paths, settings, open_secret_store(), engine=controller)
    models.start()
    return models


def first_model(settings: Settings) -> str | None:
    """The model to open at start: the last one used if it is still there, else the starter model."""
    if settings.last_model_path and Path(settings.last_model_path).is_file():
        return settings.last_model_path
    starter = starter_model_path()
    return str(starter) if starter else None


def _log_unhandled(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
    """A bug in a slot must not vanish on stderr (or kill the app): it goes to the log file."""
    log.critical("unhandled exception", exc_info=(kind, value, tb))


class FileOpenHandler(QObject):
    """ "Open with Moss" on macOS: Finder sends the file as an event, not on the command line. A .gguf that
    arrives before the window exists (the app was started by it) is kept and loaded once it does."""

    def __init__(self, app: QApplication) -> None:
        super().__init__(app)
        self.window: MainWindow | None = None
        self.pending: str | None = None
        app.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.FileOpen and isinstance(event, QFileOpenEvent):
            path = event.file()
            if path.lower().endswith(".gguf"):
                if self.window is not None:
                    self.window.load_model(path)
                else:
                    self.pending = path
                return True
        return super().eventFilter(watched, event)


class StartupProbe(QObject):
    """Reports the first paint of ``window`` and quits the app (see STARTUP_PROBE_ENV)."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self._reported = False
        window.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint and not self._reported:
            self._reported = True
            QTimer.singleShot(0, self._report)  # after this paint and its children's
        return super().eventFilter(watched, event)

    @Slot()
    def _report(self) -> None:
        import psutil

        rss_mb = psutil.Process().memory_info().rss / 2**20
        shown = {"shown_at": time.time(), "rss_mb": round(rss_mb, 1), "platform": QGuiApplication.platformName()}
        print(json.dumps(shown), flush=True)
        QApplication.quit()


def run_gui(paths: AppPaths, *, model_path: str | None = None) -> int:
    sys.excepthook = _log_unhandled
    window_system = check_window_system()  # before Qt, which would abort with nothing said on a missing library
    if window_system.problem:
        log.error("the window cannot open: %s", window_system.problem)
        if sys.stderr is not None:
            print(window_system.problem, file=sys.stderr)
        return EXIT_USER_ERROR
    install_qt_log_bridge()
    app = create_application()
    opened = FileOpenHandler(app)
    settings = SettingsController(paths.settings_file)  # the one owner of the settings while the app runs
    look = settings.settings
    apply_theme(app, look.theme, font_size=look.font_size, compact=look.compact)
    # The window's one engine (app.engine.protocol); model files llama.cpp has read safely are remembered.
    controller = EngineController(LlamaEngine(checked_models=paths.cache / CHECKED_MODELS))
    app.aboutToQuit.connect(controller.shutdown)
    models = build_models_controller(paths, settings, controller)
    app.aboutToQuit.connect(models.shutdown)  # pauses a running download: it continues next time
    try:
        window = build_main_window(paths, settings, controller, models)
    except UserError as exc:  # a history written by a newer Moss: say so and leave the file alone
        QMessageBox.critical(None, APP_NAME, exc.message)
        controller.shutdown()
        models.shutdown()
        return 2
    app.aboutToQuit.connect(window.store.close)

    def follow_the_system(_scheme: object) -> None:  # the computer switched between light and dark
        s = settings.settings
        if s.theme == "system":
            apply_theme(app, s.theme, font_size=s.font_size, compact=s.compact)

    QGuiApplication.styleHints().colorSchemeChanged.connect(follow_the_system)
    probing = bool(os.environ.get(STARTUP_PROBE_ENV))
    if probing:
        StartupProbe(window)
    window.show()
    opened.window = window
    initial = model_path or opened.pending or first_model(settings.settings)
    if initial and not probing:
        window.load_model(initial)
    return int(app.exec())
