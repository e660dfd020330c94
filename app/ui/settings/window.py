"""The settings window: one window, sections on the left (Models, Inference, Chat, Appearance, Privacy, About).

The sections edit the settings through their one owner (app.qt.settings_controller), which saves and announces
each change; whoever shows a setting follows its ``changed`` signal. Loading choices wait for "Apply and reload"
(``reload_requested`` follows the change); the rest applies at once.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QHideEvent, QKeyEvent, QShowEvent
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QPushButton,
    QStackedWidget,
    QWidget,
)

from app.core.types import ModelInfo
from app.hub.session import models_folder
from app.platform.paths import AppPaths
from app.qt.engine_worker import EngineController
from app.qt.models_controller import ModelsController
from app.qt.settings_controller import SettingsController
from app.qt.task_runner import TaskRunner
from app.storage.history import HistoryStore
from app.ui.models.pane import ModelsPane
from app.ui.settings.about import AboutPane
from app.ui.settings.appearance import AppearancePane
from app.ui.settings.chat import ChatPane
from app.ui.settings.common import Card, SectionList, SettingsPage, hint
from app.ui.settings.inference import InferencePane
from app.ui.settings.privacy import PrivacyPane


def _models_elsewhere() -> SettingsPage:
    """The Models section where no model manager was given (tests, the screenshot tool)."""
    page = SettingsPage("Models", "")
    card = page.add_card(Card())
    card.add_wide(hint("Models are managed in Moss's own window: this one was opened without its model manager."))
    page.finish()
    return page


class SettingsWindow(QDialog):
    """Signals: reload_requested() after "Apply and reload" (once its settings are saved); data_deleted() when
    "Delete all data" has finished; history_erased() as soon as the history was erased in place, before the
    settings are reset and files deleted."""

    SECTIONS = ("Models", "Inference", "Chat", "Appearance", "Privacy", "About")
    reload_requested = Signal()
    data_deleted = Signal()
    history_erased = Signal()

    def __init__(
        self,
        settings: SettingsController,
        paths: AppPaths,
        store: HistoryStore,
        models: ModelsController | None = None,
        engine: EngineController | None = None,
        parent: QWidget | None = None,
    ) -> None:
        """``engine``: the model thread whose loaded model the Inference section follows (None: no model)."""
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setObjectName("settingsWindow")
        self.setWindowFlag(Qt.WindowType.WindowContextHelpButtonHint, False)
        self.resize(980, 720)
        # Small enough for a 1024x600 netbook screen, large enough that a pane shows a heading and a card or two
        # (its content scrolls below that).
        self.setMinimumSize(720, 460)
        self._settings = settings
        self.tasks = TaskRunner(self)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        self.sections = SectionList()
        self.sections.setObjectName("settingsSections")
        self.sections.setAccessibleName("Settings sections")
        self.sections.addItems(self.SECTIONS)
        self.sections.fit()  # rows and width for the text size
        self.stack = QStackedWidget()
        self.stack.setObjectName("settingsStack")
        self.models_pane = ModelsPane(models) if models is not None else None
        models_dir = models.library.models_dir if models is not None else models_folder(paths, settings.settings)
        self.inference_pane = InferencePane(settings)
        self.chat_pane = ChatPane(settings)
        self.appearance_pane = AppearancePane(settings)
        self.privacy_pane = PrivacyPane(paths, store, models, self.tasks)
        self.about_pane = AboutPane(paths, models_dir, self.tasks)
        pages = (
            self.models_pane or _models_elsewhere(),
            self.inference_pane,
            self.chat_pane,
            self.appearance_pane,
            self.privacy_pane,
            self.about_pane,
        )
        for page in pages:
            self.stack.addWidget(page)
        for button in self.findChildren(QPushButton):
            button.setAutoDefault(False)  # Enter in a field must not press a button (Reset, Delete all data)
        layout.addWidget(self.sections)
        layout.addWidget(self.stack, 1)
        self.sections.currentRowChanged.connect(self._on_section_changed)
        self.sections.setCurrentRow(0)
        self.inference_pane.apply_requested.connect(self.reload_requested)
        self.privacy_pane.settings_reset.connect(self._on_settings_reset)
        self.privacy_pane.erased.connect(self.data_deleted)
        self.privacy_pane.history_erased.connect(self.history_erased)
        if models is not None:
            models.folder_moved.connect(self.about_pane.set_models_folder)
        if engine is not None:
            engine.model_loaded.connect(self.set_model)
            engine.model_unloaded.connect(self.clear_model)
            self.set_model(engine.model)

    # -- the main window's interface ----------------------------------------------------------------------

    def open_at(self, section: str) -> None:
        """Show the window at ``section``, in front (it may be open behind the main window)."""
        self.show_section(section)
        if self.isVisible():
            self.raise_()
        self.show()
        self.activateWindow()

    @Slot(object)
    def set_model(self, info: ModelInfo | None) -> None:
        """The Inference section follows the loaded model (None: none is loaded)."""
        self.inference_pane.set_model(info)

    @Slot()
    def clear_model(self) -> None:
        self.set_model(None)

    def show_section(self, name: str) -> None:
        self.sections.setCurrentRow(self.SECTIONS.index(name))

    @Slot()
    def _on_settings_reset(self) -> None:
        """Delete all data: every preference back to its default (the sections follow, the look too)."""
        self._settings.submit(self._settings.settings.with_defaults())

    def _on_section_changed(self, row: int) -> None:
        self.chat_pane.flush()  # instructions typed just before switching are kept
        self.stack.setCurrentIndex(row)

    def hideEvent(self, event: QHideEvent) -> None:
        self.chat_pane.flush()
        super().hideEvent(event)
        parent = self.parentWidget()
        if parent is not None and parent.isVisible():  # back to the chat, ready to type (not left to the desktop)
            parent.activateWindow()

    # A dialog presses its default button when Enter is typed in any field, and makes a button the default by
    # itself ("Open folder" in Models): Enter in the Hub search then also opened a file manager. In Settings,
    # Enter belongs to the field it is typed in (a search runs, a token is saved, a number is taken); a button
    # is pressed only when it has the focus (Space, or Enter on the button itself).

    def showEvent(self, event: QShowEvent) -> None:
        for button in self.findChildren(QPushButton):
            button.setAutoDefault(False)
            button.setDefault(False)
        super().showEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            focused = self.focusWidget()
            if isinstance(focused, QPushButton):
                focused.click()
            event.accept()
            return
        super().keyPressEvent(event)
