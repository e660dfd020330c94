"""The main window: conversations on the left, the chat in the middle, the model and its state around it."""

from __future__ import annotations

import html
from collections.abc import Callable

from PySide6.QtCore import QByteArray, Qt, QUrl, Slot
from PySide6.QtGui import QCloseEvent, QDesktopServices, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QMainWindow,
    QMessageBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from app.core.settings import Settings, load_options
from app.core.types import GenerationResult, ModelInfo, ReasoningEffort, Role
from app.hub.starter import is_starter_model
from app.platform.paths import AppPaths
from app.qt.engine_worker import EngineController
from app.qt.models_controller import ModelsController
from app.qt.settings_controller import SettingsController
from app.qt.task_runner import TaskRunner
from app.storage.history import HistoryStore
from app.ui.banner import Banner
from app.ui.chat.area import ChatArea
from app.ui.chat.composer_bar import ComposerBar
from app.ui.chat.header import ChatHeader
from app.ui.chat.history import HistoryController
from app.ui.chat.session import ChatSession
from app.ui.chat.view import ChatView
from app.ui.first_run.panel import FirstRunPanel
from app.ui.models.demo_banner import DemoBanner
from app.ui.models.picker import model_label
from app.ui.models.status_bar import ModelStatusBar
from app.ui.settings.window import SettingsWindow
from app.ui.sidebar import Sidebar

# The chat keeps room for a few messages (lines of ~80 characters) however small the window is made: the window's
# minimum is then about 720×420 at 9 pt (more with larger text), and 800×500 fits with a notice above the chat.
MIN_CHAT_SIZE = (550, 240)


class MainWindow(QMainWindow):
    def __init__(
        self,
        controller: EngineController,
        store: HistoryStore,
        settings: SettingsController,
        starter_model: str | None,
        paths: AppPaths,
        models: ModelsController | None = None,
    ) -> None:
        super().__init__()
        self._paths = paths
        self._controller = controller
        self._models = models
        self._settings_window: SettingsWindow | None = None
        self._store = store
        self._settings = settings  # their one owner: read when needed, changed through it
        self._starter_model = starter_model
        self._context_used = 0  # tokens the model saw in this chat's last turn (prompt and reply)
        self._failed_load = ""  # the model whose load failed last: what the error banner's Retry loads
        self._draft_effort = self._default_effort()
        self._tasks = TaskRunner(self)
        self.setWindowTitle("Moss")
        self.resize(1100, 740)
        self._build()
        self._restore_layout()
        self.history = HistoryController(store, self.sidebar, self.chat_view, self.undo_banner, self._tasks, self)
        self.session = ChatSession(
            controller,
            self.history,
            self.composer,
            self.edit_hint,
            lambda: self._settings.settings,
            lambda: self._draft_effort,
            lambda title, text, accept: self.confirm(title, text, accept),  # looked up late: tests replace it
            self,
        )
        self._connect()
        self._refresh_models()
        self.new_conversation()
        self._update_state()
        self.history.show_notices(self.history_banner)  # damage found and recovered, an upgrade's backup

    # -- construction -------------------------------------------------------------------------------------

    def _build(self) -> None:
        self.sidebar = Sidebar()
        self.new_chat_button = self.sidebar.new_chat_button
        self.conversation_list = self.sidebar.conversation_list

        self.header = ChatHeader(show_models=self._models is not None)
        self.title_label, self.plan_label = self.header.title_label, self.header.plan_label
        self.models_button, self.settings_button = self.header.models_button, self.header.settings_button
        self.demo_banner = DemoBanner(can_download=self._models is not None)
        self.error_banner = Banner("errorBanner")
        self.error_banner.add_action("retry", "Retry", optional=True)  # a load refused for memory in use now
        self.history_banner = Banner("errorBanner")  # notices about the history (HistoryController.show_notices)
        self.undo_banner = Banner("banner")
        self.notice_banner = Banner("banner")
        self.context_banner = Banner("banner")
        self.context_banner.add_action("new", "New chat")
        self.edit_hint = Banner("banner")
        self.edit_hint.add_action("cancel", "Cancel edit")
        self.chat_view = ChatView()
        self.chat_view.reasoning_display = self._settings.settings.reasoning_display

        main = QWidget()
        column = QVBoxLayout(main)
        column.setContentsMargins(16, 10, 16, 12)
        column.addWidget(self.header)
        for banner in (self.demo_banner, self.history_banner, self.error_banner, self.undo_banner, self.notice_banner):
            column.addWidget(banner)
        self.chat_area = ChatArea(self.chat_view, self._tasks, self._models)
        self.chat_area.setMinimumSize(*MIN_CHAT_SIZE)  # the window's minimum follows from it
        column.addWidget(self.chat_area, 1)
        column.addWidget(self.context_banner)
        column.addWidget(self.edit_hint)
        bar = ComposerBar()
        self.composer, self.model_picker, self.run_settings_button = bar.composer, bar.model_picker, bar.run_settings
        self.effort_picker, self.context_meter = bar.effort_picker, bar.context_meter
        self.send_button, self.stop_button = bar.send_button, bar.stop_button
        column.addWidget(bar)

        splitter = QSplitter()
        splitter.setObjectName("mainSplitter")
        splitter.addWidget(self.sidebar)
        splitter.addWidget(main)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([250, 850])
        splitter.setChildrenCollapsible(False)
        self.splitter = splitter
        self.setCentralWidget(splitter)

        status = self.status = ModelStatusBar(self._controller)
        self.setStatusBar(status)
        self.state_label, self.progress, self.speed_label = status.state_label, status.progress, status.speed_label
        QWidget.setTabOrder(self.sidebar.search_field, self.conversation_list)
        QWidget.setTabOrder(self.conversation_list, self.chat_view)
        QWidget.setTabOrder(self.chat_view, self.composer)

    def _connect(self) -> None:
        c = self._controller
        c.loading_started.connect(self._on_loading_started)
        c.model_loaded.connect(self._on_model_loaded)
        c.model_load_failed.connect(self._on_model_load_failed)
        c.busy_changed.connect(self._update_state)
        self.model_picker.model_chosen.connect(self.load_model)
        self.chat_area.model_chosen.connect(self.load_model)
        self.chat_area.open_file_requested.connect(self.model_picker.open_file_dialog)
        self.run_settings_button.clicked.connect(self.open_run_settings)
        self.demo_banner.action_triggered.connect(self._on_banner_action)
        self.error_banner.action_triggered.connect(lambda _name: self.load_model(self._failed_load))
        self.demo_banner.link_activated.connect(self._open_link)
        self.demo_banner.dismissed.connect(lambda: self._settings.update(demo_notice_dismissed=True))
        self.composer.submitted.connect(self.send_message)
        self.effort_picker.activated.connect(self._on_effort_chosen)
        self.composer.stop_requested.connect(self._on_escape)
        self.composer.textChanged.connect(self._update_state)
        self.send_button.clicked.connect(self.composer.submit)
        self.stop_button.clicked.connect(self._controller.stop)
        self.sidebar.new_chat_requested.connect(self.new_conversation)
        self.history.shown.connect(self._on_conversation_shown)
        self.history.notice.connect(self.show_notice)
        self.history.problem.connect(self.show_error)
        session = self.session
        self.chat_view.sibling_requested.connect(session.switch_version)
        self.chat_view.edit_requested.connect(session.edit)
        self.chat_view.regenerate_requested.connect(session.regenerate)
        self.chat_view.delete_requested.connect(session.delete)
        self.composer.edit_last_requested.connect(session.edit_last)
        session.problem.connect(self.show_error)
        session.problem_cleared.connect(self.error_banner.hide)
        session.changed.connect(self._on_session_changed)
        session.reply_done.connect(self._on_reply_done)
        self.composer.problem.connect(self.show_error)
        self.edit_hint.action_triggered.connect(lambda _name: session.cancel_edit())
        self.context_banner.action_triggered.connect(lambda _name: self.new_conversation())
        self.models_button.clicked.connect(lambda: self.open_settings("Models"))
        self.settings_button.clicked.connect(lambda: self.open_settings())
        # Native shortcuts: Ctrl on Windows and Linux, Cmd on macOS (Qt maps Ctrl to Cmd there).
        shortcuts: list[tuple[QKeySequence | QKeySequence.StandardKey, Callable[[], object]]] = [
            (QKeySequence.StandardKey.New, self.new_conversation),
            (QKeySequence("Ctrl+K"), self.sidebar.focus_search),
            (QKeySequence.StandardKey.Find, self.sidebar.focus_search),
            (QKeySequence.StandardKey.Open, self.model_picker.open_file_dialog),
            (QKeySequence("Ctrl+,"), lambda: self.open_settings()),
            (QKeySequence.StandardKey.Close, self.close),
            (QKeySequence("Ctrl+L"), self.focus_composer),
            (QKeySequence("Ctrl+Shift+R"), session.regenerate_last),
            (QKeySequence("Ctrl+Shift+C"), session.copy_last_reply),
        ]
        for sequence, slot in shortcuts:
            QShortcut(sequence, self, slot)
        # Esc stops a reply wherever the focus is; only while one is written, so Esc keeps its other meanings.
        self._stop_key = QShortcut(QKeySequence(Qt.Key.Key_Escape), self, self._controller.stop)
        self._settings.changed.connect(self._on_settings_changed)
        self._settings.save_failed.connect(self.show_error)
        if self._models is not None:
            self._models.installed_changed.connect(self._refresh_models)

    # -- models -------------------------------------------------------------------------------------------

    def load_model(self, path: str) -> None:
        self.error_banner.hide()
        self._controller.load_model(path, load_options(self._settings.settings))

    def open_run_settings(self) -> SettingsWindow:
        """Open the settings window at Inference ("Apply and reload" there reloads the model); returns it."""
        return self.open_settings("Inference")

    @Slot()
    def _apply_run_settings(self) -> None:
        """Load the current model again with the run settings just saved (after the reply being written)."""
        model = self._controller.model
        if model is None:
            return
        if self._controller.generating:
            self.show_notice("The new run settings apply the next time the model loads (a reply is being written).")
            return
        self.load_model(model.path)

    def open_settings(self, section: str = "Models") -> SettingsWindow:
        """Open (or raise) the settings window at ``section``; returns it (tests drive it)."""
        window = self._settings_window
        if window is None:
            window = SettingsWindow(self._settings, self._paths, self._store, self._models, self._controller, self)
            if window.models_pane is not None:
                window.models_pane.use_model.connect(self.load_model)
            window.reload_requested.connect(self._apply_run_settings)
            window.history_erased.connect(self._on_history_erased)
            self._settings_window = window
        window.open_at(section)
        return window

    @Slot()
    def _on_history_erased(self) -> None:
        """ "Delete all data" erased the history: nothing shown or kept from it may be used again (the settings,
        the list of models used with them, are reset next)."""
        self._controller.stop()
        self.session.drop()  # its message is gone: what is still streaming is dropped, not saved
        self.history.forget_all()

    @Slot(object, object)
    def _on_settings_changed(self, settings: Settings, before: Settings) -> None:
        """GUI thread: apply what changed (saving is the owner's)."""
        self.chat_view.reasoning_display = settings.reasoning_display  # for replies from now on
        if settings.reasoning_effort != before.reasoning_effort and self.history.current_id is None:
            self._draft_effort = settings.effort  # a new chat not yet started takes the new default
            self.effort_picker.setCurrentIndex(self.effort_picker.findData(self._draft_effort))
        if settings.recent_models != before.recent_models:
            self._refresh_models()

    def _refresh_models(self) -> None:
        current = self._controller.model.path if self._controller.model else ""
        installed = [str(row.model.path) for row in self._models.rows if not row.problem] if self._models else []
        recent = list(self._settings.settings.recent_models)
        paths = ([self._starter_model] if self._starter_model else []) + installed + recent
        self.model_picker.set_models(paths, current)

    @Slot(str)
    def _on_loading_started(self, _path: str) -> None:
        self.plan_label.hide()
        self.demo_banner.hide()

    @Slot(object)
    def _on_model_loaded(self, info: ModelInfo) -> None:
        self.header.show_plan(info.plan)
        self._settings.submit(self._settings.settings.with_recent_model(info.path))
        self._refresh_models()
        if is_starter_model(info.path) and not self._settings.settings.demo_notice_dismissed:
            self.demo_banner.offer(info.path)
        self._update_state()

    @Slot(str, str)
    def _on_model_load_failed(self, path: str, message: str) -> None:
        self._failed_load = path
        self.error_banner.show_message(html.escape(message), ["retry"] if self._controller.load_retryable else [])
        self._refresh_models()
        self._update_state()

    def _on_banner_action(self, name: str) -> None:
        if name == "open":
            self.model_picker.open_file_dialog()
        elif name == "get":
            window = self.open_settings("Models")
            if window.models_pane is not None:
                window.models_pane.tabs.setCurrentIndex(1)
                window.models_pane.run_search()

    def _open_link(self, href: str) -> None:
        QDesktopServices.openUrl(QUrl(href))

    def show_error(self, message: str) -> None:
        self.error_banner.show_message(html.escape(message))

    # -- conversations ------------------------------------------------------------------------------------

    @property
    def store(self) -> HistoryStore:
        return self._store

    @property
    def current_id(self) -> int | None:
        return self.history.current_id

    def new_conversation(self) -> None:
        """An empty chat; it is added to the history when its first message is sent."""
        self.session.cancel_edit()
        if self.history.current_id is not None or not self.chat_view.items:
            self._draft_effort = self._default_effort()
            self.history.new_draft()
        self.composer.setFocus()

    def open_conversation(self, conversation_id: int, scroll_to: int | None = None) -> None:
        self.history.open(conversation_id, scroll_to)

    @Slot()
    def _on_conversation_shown(self) -> None:
        """After the chat view was rebuilt: the effort of this chat, and the reply still streaming into it."""
        self.session.cancel_edit()
        info = self.history.current
        effort = info.reasoning_effort if info else self._draft_effort
        self.effort_picker.setCurrentIndex(self.effort_picker.findData(effort))
        self.session.reattach()
        self.chat_view.set_actions_enabled(not self._controller.busy)
        self._show_last_reply()
        self._update_title()
        self._update_state()

    def _show_last_reply(self) -> None:
        """The context meter and the speed for the last reply of the chat shown (the version chosen), as stored."""
        self._context_used, speed = 0, None
        for item in reversed(self.chat_view.items):
            if item.role == Role.ASSISTANT and item.message_id is not None:
                facts = self._store.message(item.message_id).facts
                self._context_used = (facts.prompt_tokens or 0) + (facts.completion_tokens or 0)
                speed = facts.tokens_per_second
                break
        self.status.show_speed(speed)

    def _update_title(self) -> None:
        info = self.history.current
        self.title_label.setText(info.title if info is not None else "New chat")

    def _default_effort(self) -> ReasoningEffort:
        return self._settings.settings.effort

    def _on_effort_chosen(self, index: int) -> None:
        """The effort is per conversation and applies from its next turn."""
        effort = ReasoningEffort(self.effort_picker.itemData(index))
        if self.history.current_id is None:
            self._draft_effort = effort
        else:
            self._store.update_settings(self.history.current_id, reasoning_effort=effort)

    def _update_empty_hint(self) -> None:
        model = self._controller.model
        if model is not None:
            hint = f"Ask {model_label(model.path)} anything."
        elif self._controller.loading_path:
            hint = "Loading the model…"
        else:
            hint = "Pick a model below, or open a .gguf file (Ctrl+O), to start chatting."
        self.chat_view.set_empty_hint(hint)

    # -- chatting (app.ui.chat.session does the work) ---------------------------------------------------

    def confirm(self, title: str, text: str, accept: str) -> bool:
        """Ask a yes/no question (tests replace this)."""
        box = QMessageBox(QMessageBox.Icon.Question, title, text, QMessageBox.StandardButton.Cancel, self)
        button = box.addButton(accept, QMessageBox.ButtonRole.DestructiveRole)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        return box.clickedButton() is button

    def focus_composer(self) -> None:
        self.composer.setFocus()

    @Slot()
    def _on_escape(self) -> None:
        if self._controller.generating:
            self._controller.stop()
        else:
            self.session.cancel_edit()

    @Slot()
    def _on_session_changed(self) -> None:
        self._update_title()
        self._update_state()

    @Slot(object)
    def _on_reply_done(self, result: GenerationResult) -> None:
        self.status.show_speed(result.stats.tokens_per_second)
        self._context_used = result.stats.prompt_tokens + result.stats.completion_tokens

    def send_message(self, text: str) -> None:
        self.session.send(text)

    def show_notice(self, text: str) -> None:
        self.notice_banner.show_message(html.escape(text))

    # -- state --------------------------------------------------------------------------------------------

    @Slot()
    def _update_state(self) -> None:
        c = self._controller
        model = c.model
        loading = c.loading_path is not None
        self._stop_key.setEnabled(c.generating)
        self.model_picker.setEnabled(not loading)
        effort_ok = model is not None and model.supports_reasoning_effort
        self.effort_picker.setEnabled(effort_ok)
        self.effort_picker.setVisible(effort_ok or model is None)  # a model that cannot use it: not offered at all
        self.effort_picker.setToolTip("How long the model thinks before answering; applies from the next message.")
        self.send_button.setEnabled(model is not None and not c.busy and bool(self.composer.toPlainText().strip()))
        self.chat_view.set_actions_enabled(not c.busy)  # Regenerate says so itself when there is no model
        self.stop_button.setVisible(c.generating)
        self.send_button.setVisible(not c.generating)
        self.status.refresh()
        self._update_empty_hint()
        self._update_context()
        self._update_first_run()

    def _update_first_run(self) -> None:
        """With nothing to chat with (a fresh install, or a model that failed to load) a new chat shows the
        welcome: this computer, the gpt-oss model that fits it, and the models already on disk."""
        c = self._controller
        self.chat_area.show_welcome(c.model is None and c.loading_path is None and self.history.current_id is None)

    @property
    def first_run(self) -> FirstRunPanel | None:
        return self.chat_area.first_run

    def _update_context(self) -> None:
        """The context meter, and a warning with a way out before the context is full."""
        model = self._controller.model
        used = self._context_used if self.history.current_id is not None else 0
        self.context_meter.set_usage(used, model.n_ctx if model else 0)
        level = self.context_meter.level if model else "ok"
        if level == "ok":
            self.context_banner.hide()
            return
        percent = round(self.context_meter.fraction * 100)
        self.context_banner.show_message(
            f"This chat fills {percent}% of the model's context. Once it is full, the oldest messages are left "
            "out of what the model sees; a new chat starts fresh."
        )

    def _restore_layout(self) -> None:
        """The window's size, place and sidebar width as the person left them."""
        s = self._settings.settings
        if s.window_geometry:
            self.restoreGeometry(QByteArray.fromBase64(s.window_geometry.encode()))
        if s.window_state:
            self.splitter.restoreState(QByteArray.fromBase64(s.window_state.encode()))

    def _save_layout(self) -> None:
        geometry = bytes(self.saveGeometry().toBase64().data()).decode()
        state = bytes(self.splitter.saveState().toBase64().data()).decode()
        self._settings.update(window_geometry=geometry, window_state=state)  # saved only if it moved

    def closeEvent(self, event: QCloseEvent) -> None:
        self._save_layout()
        self._controller.stop()
        self.session.end()  # the window goes before the model thread answers: keep what arrived
        self._tasks.wait()
        self.history.write(self._store.purge_deleted)  # Undo ends with the window: deleted chats go for good
        if self._settings_window is not None:
            self._settings_window.close()
        super().closeEvent(event)
