"""Opening the main window and chatting in it, for the window tests: one way, one argument order.

The window is the real one (``build_main_window``) over a real data folder and a real model thread; with the
scripted engine (tests/helpers/scripted.py) a test says what the model answers before it sends a message.
"""

from __future__ import annotations

from pathlib import Path

from pytestqt.qtbot import QtBot

from app.core.settings import Settings
from app.platform.paths import AppPaths
from app.qt.engine_worker import EngineController
from app.qt.settings_controller import SettingsController
from app.ui.app import build_main_window
from app.ui.main_window import MainWindow
from tests.helpers.scripted import ScriptedEngine

TIMEOUT_MS = 60_000
# A small context keeps the real-model tests fast; room enough for the longest scripted reply.
SETTINGS = Settings(context_length=2048, max_tokens=400)
# A laptop-sized window, so that what a test clicks is laid out the same on every machine.
WINDOW_SIZE = (1000, 760)


def open_window(
    qtbot: QtBot,
    paths: AppPaths,
    controller: EngineController,
    model: Path | None = None,
    settings: Settings | SettingsController = SETTINGS,
    *,
    size: tuple[int, int] | None = WINDOW_SIZE,
) -> MainWindow:
    """Build and show the window over ``paths``; with ``model``, load it (unless the model thread already has a
    model) and return once it is loaded. ``settings``: plain Settings to start from, or their owner (as the app
    starts: read from the settings file). ``size=None`` keeps the size the settings restore."""
    window = build_main_window(paths, settings, controller)
    qtbot.addWidget(window)
    if size is not None:
        window.resize(*size)
    window.show()
    if model is not None and controller.model is None:
        with qtbot.waitSignal(controller.model_loaded, timeout=TIMEOUT_MS):
            window.load_model(str(model))
    return window


def say(
    qtbot: QtBot, window: MainWindow, controller: EngineController, engine: ScriptedEngine, text: str, reply: str
) -> None:
    """Send ``text`` as a person would, with ``reply`` as the model's next answer; return when it is finished."""
    engine.script.append(reply)
    with qtbot.waitSignal(controller.reply_finished, timeout=TIMEOUT_MS):
        window.send_message(text)
