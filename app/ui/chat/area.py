"""The middle of the window: the chat, or, when there is nothing to chat with, the first-run welcome.

The welcome (app.ui.first_run.panel) needs to know the machine, and probing it loads llama.cpp's device list, so
the probe runs on the task pool and only a turn after the welcome was first wanted: at start the last model
is usually about to load, and then neither the welcome nor the probe is needed.

Signals: model_chosen(path) and open_file_requested(), from the welcome.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QStackedWidget, QWidget

from app.engine.hardware import Machine, probe_machine
from app.qt.models_controller import ModelsController
from app.qt.task_runner import TaskRunner
from app.ui.chat.view import ChatView
from app.ui.first_run.panel import FirstRunPanel

log = logging.getLogger(__name__)


class ChatArea(QStackedWidget):
    model_chosen = Signal(str)
    open_file_requested = Signal()

    def __init__(
        self, chat_view: ChatView, tasks: TaskRunner, models: ModelsController | None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.chat_view = chat_view
        self.first_run: FirstRunPanel | None = None
        self._tasks = tasks
        self._models = models
        self._welcome_wanted = False
        self._probing = False
        self.addWidget(chat_view)

    def show_welcome(self, wanted: bool) -> None:
        """The welcome when ``wanted`` (no model loaded or loading, no chat open), else the chat."""
        self._welcome_wanted = wanted
        if self.first_run is not None:
            self.setCurrentWidget(self.first_run if wanted else self.chat_view)
        elif wanted and not self._probing:
            QTimer.singleShot(0, self, self._probe)

    def _probe(self) -> None:
        if self._probing or self.first_run is not None or not self._welcome_wanted:
            return
        self._probing = True
        probe = self._models.machine_now if self._models is not None else probe_machine  # probed once per app
        self._tasks.run(probe, self._on_probed, self._on_probe_failed, name="probe machine")

    def _on_probed(self, machine: object) -> None:
        assert isinstance(machine, Machine)
        panel = FirstRunPanel(machine, self._models)
        panel.model_chosen.connect(self.model_chosen)
        panel.open_file_requested.connect(self.open_file_requested)
        self.first_run = panel
        self.addWidget(panel)
        self.show_welcome(self._welcome_wanted)

    def _on_probe_failed(self, message: str) -> None:
        log.warning("could not describe this computer for the welcome: %s", message)
