"""The main window: conversations on the left, the chat in the middle, the model and its state around it."""

from __future__ import annotations

import dataclasses
import html
import logging
from collections.abc import Callable

from PySide6.QtCore import QUrl, Slot
from PySide6.QtGui import QCloseEvent, QDesktopServices, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QProgressBar,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from app.core.history import MessageStatus
from app.core.settings import Settings
from app.core.types import (
    FinishReason,
    GenerationResult,
    LoadParams,
    ModelInfo,
    ReasoningEffort,
    Role,
)
from app.hub.starter import GPT_OSS_20B_REPO, GPT_OSS_20B_SIZE_GB, GPT_OSS_20B_URL, is_starter_model
from app.qt.engine_worker import EngineController
from app.qt.models_controller import ModelsController
from app.qt.task_runner import TaskRunner
from app.storage.history import HistoryStore
from app.ui.banner import Banner
from app.ui.chat_view import ChatView
from app.ui.composer import Composer
from app.ui.history_panel import HistoryPanel
from app.ui.inference_dialog import InferenceDialog
from app.ui.model_picker import ModelPicker, model_label
from app.ui.settings_window import SettingsWindow
from app.ui.sidebar import Sidebar
from app.ui.streaming_reply import StreamingReply

log = logging.getLogger(__name__)
SettingsSaver = Callable[[Settings], None]


def describe_result(result: GenerationResult) -> str:
    """The line under a reply: speed, length and, when it did not simply end, why it stopped."""
    parts = []
    stats = result.stats
    if stats.tokens_per_second:
        parts.append(f"{stats.tokens_per_second:.1f} tokens/s")
    parts.append(f"{stats.completion_tokens} tokens")
    if result.dropped_messages:
        parts.append(f"{result.dropped_messages} earlier messages left out to fit the context")
    if result.tool_calls:
        parts.append("tried to use a tool, which Moss does not offer yet: " + ", ".join(result.tool_calls))
    reason = {
        FinishReason.CANCELLED: "stopped",
        FinishReason.LENGTH: "reached the length limit",
        FinishReason.CONTEXT: "the context is full",
    }.get(result.finish_reason)
    if reason:
        parts.append(reason)
    return " · ".join(parts)


class MainWindow(QMainWindow):
    def __init__(
        self,
        controller: EngineController,
        store: HistoryStore,
        settings: Settings,
        save_settings: SettingsSaver,
        starter_model: str | None,
        models: ModelsController | None = None,
    ) -> None:
        super().__init__()
        self._controller = controller
        self._models = models
        self._settings_window: SettingsWindow | None = None
        self._store = store
        self._settings = settings
        self._save_settings = save_settings
        self._starter_model = starter_model
        self._pending: StreamingReply | None = None
        self._editing: int | None = None  # the user message being edited (its new version will be a sibling)
        self._draft_effort = self._default_effort()
        self._tasks = TaskRunner(self)
        self.setWindowTitle("Moss")
        self.resize(1100, 740)
        self._build()
        self.history = HistoryPanel(store, self.sidebar, self.chat_view, self.undo_banner, self._tasks, self)
        self._connect()
        self._refresh_models()
        self.new_conversation()
        self._update_state()
        for notice in store.notices:  # a damaged history set aside, an upgrade with its backup
            self.show_error(notice)

    # -- construction -------------------------------------------------------------------------------------

    def _build(self) -> None:
        self.sidebar = Sidebar()
        self.new_chat_button = self.sidebar.new_chat_button
        self.conversation_list = self.sidebar.conversation_list

        top = QHBoxLayout()
        self.model_picker = ModelPicker()
        top.addWidget(QLabel("Model"))
        top.addWidget(self.model_picker, 1)
        self.run_settings_button = QPushButton("Run settings…")
        self.run_settings_button.setToolTip("How the model runs on this computer: context, GPU layers, KV cache")
        top.addWidget(self.run_settings_button)
        self.models_button = QPushButton("Models…")
        self.models_button.setToolTip("Download, import and manage models (Ctrl+,)")
        self.models_button.setVisible(self._models is not None)
        top.addWidget(self.models_button)
        self.demo_banner = Banner("banner")
        if self._models is not None:
            self.demo_banner.add_action("get", "Get gpt-oss…")
        self.demo_banner.add_action("open", "Open a model file…")
        self.error_banner = Banner("errorBanner")
        self.undo_banner = Banner("banner")
        self.notice_banner = Banner("banner")
        self.edit_hint = Banner("banner")
        self.edit_hint.add_action("cancel", "Cancel edit")
        self.chat_view = ChatView()
        self.chat_view.reasoning_display = self._settings.reasoning_display
        self.composer = Composer()
        self.send_button = QPushButton("Send")
        self.send_button.setObjectName("primaryButton")
        self.send_button.setToolTip("Send (Enter)")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop the reply (Esc)")
        composer_frame = QFrame()
        composer_frame.setObjectName("composerFrame")
        row = QHBoxLayout(composer_frame)
        row.setContentsMargins(10, 6, 8, 6)
        row.addWidget(self.composer, 1)
        buttons = QVBoxLayout()
        buttons.addStretch(1)
        self.effort_picker = QComboBox()
        self.effort_picker.setObjectName("effortPicker")
        for effort in ReasoningEffort:
            self.effort_picker.addItem(f"Reasoning: {effort.value}", effort)
        buttons.addWidget(self.effort_picker)
        send_row = QHBoxLayout()
        send_row.addStretch(1)
        send_row.addWidget(self.stop_button)
        send_row.addWidget(self.send_button)
        buttons.addLayout(send_row)
        row.addLayout(buttons)

        main = QWidget()
        column = QVBoxLayout(main)
        column.setContentsMargins(16, 12, 16, 12)
        column.addLayout(top)
        # How the model runs on this machine, in words, right under where it is chosen.
        self.plan_label = QLabel()
        self.plan_label.setObjectName("hintLabel")
        self.plan_label.setWordWrap(True)
        self.plan_label.hide()
        column.addWidget(self.plan_label)
        column.addWidget(self.demo_banner)
        column.addWidget(self.error_banner)
        column.addWidget(self.undo_banner)
        column.addWidget(self.notice_banner)
        column.addWidget(self.chat_view, 1)
        column.addWidget(self.edit_hint)
        column.addWidget(composer_frame)

        splitter = QSplitter()
        splitter.addWidget(self.sidebar)
        splitter.addWidget(main)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([240, 860])
        splitter.setChildrenCollapsible(False)
        self.setCentralWidget(splitter)

        self.state_label = QLabel()
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)  # busy indicator: llama.cpp loads without a percent in v1
        self.progress.setMaximumWidth(140)
        self.progress.setTextVisible(False)
        self.speed_label = QLabel()
        self.statusBar().addWidget(self.state_label, 1)
        self.statusBar().addPermanentWidget(self.progress)
        self.statusBar().addPermanentWidget(self.speed_label)

    def _connect(self) -> None:
        c = self._controller
        c.loading_started.connect(self._on_loading_started)
        c.model_loaded.connect(self._on_model_loaded)
        c.model_load_failed.connect(self._on_model_load_failed)
        c.reply_chunk.connect(self._on_reply_chunk)
        c.reply_finished.connect(self._on_reply_finished)
        c.reply_failed.connect(self._on_reply_failed)
        c.busy_changed.connect(self._update_state)
        self.model_picker.model_chosen.connect(self.load_model)
        self.run_settings_button.clicked.connect(self.open_run_settings)
        self.demo_banner.action_triggered.connect(self._on_banner_action)
        self.demo_banner.link_activated.connect(self._open_link)
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
        self.chat_view.sibling_requested.connect(self.switch_version)
        self.chat_view.edit_requested.connect(self.edit_message)
        self.chat_view.regenerate_requested.connect(self.regenerate)
        self.edit_hint.action_triggered.connect(lambda _name: self.cancel_edit())
        QShortcut(QKeySequence.StandardKey.New, self, self.new_conversation)
        QShortcut(QKeySequence("Ctrl+K"), self, self.sidebar.focus_search)  # Cmd+K on macOS
        QShortcut(QKeySequence.StandardKey.Open, self, self.model_picker.open_file_dialog)
        self.models_button.clicked.connect(lambda: self.open_settings("Models"))
        QShortcut(QKeySequence("Ctrl+,"), self, lambda: self.open_settings("Models"))  # Cmd+, on macOS
        if self._models is not None:
            self._models.installed_changed.connect(self._refresh_models)
            self._models.folder_moved.connect(self._on_models_folder_moved)

    # -- models -------------------------------------------------------------------------------------------

    def load_model(self, path: str) -> None:
        self.error_banner.hide()
        s = self._settings
        if s.manual_load:
            params = LoadParams(
                n_ctx=s.context_length or LoadParams().n_ctx,
                n_gpu_layers=s.gpu_layers,
                n_cpu_moe=s.cpu_moe,
                type_k=s.kv_type,
                type_v=s.kv_type,
                flash_attn=s.flash_attn or s.kv_type != "f16",  # a quantized V cache needs flash attention
            )
            self._controller.load_model(path, params)
        else:
            self._controller.load_model(path, wanted_ctx=s.context_length or None)

    def open_run_settings(self) -> InferenceDialog:
        """Open the run settings; applying them reloads the model. Returns the dialog (tests drive it)."""
        dialog = InferenceDialog(self._settings, self._controller.model, self)
        dialog.accepted.connect(lambda: self._apply_run_settings(dialog.result_settings()))
        dialog.open()
        return dialog

    def _apply_run_settings(self, settings: Settings) -> None:
        self._settings = settings
        self._persist_settings()
        model = self._controller.model
        if model is not None and not self._controller.generating:
            self.load_model(model.path)

    def open_settings(self, section: str = "Models") -> SettingsWindow | None:
        """Open (or raise) the settings window at ``section``; returns it (tests drive it)."""
        if self._models is None:
            return None
        if self._settings_window is None:
            self._settings_window = SettingsWindow(self._models, self)
            self._settings_window.models_pane.use_model.connect(self.load_model)
        self._settings_window.show_section(section)
        self._settings_window.show()
        self._settings_window.raise_()
        self._settings_window.activateWindow()
        return self._settings_window

    @Slot(str)
    def _on_models_folder_moved(self, folder: str) -> None:
        self._settings = dataclasses.replace(self._settings, models_dir=folder)
        self._persist_settings()

    def _refresh_models(self) -> None:
        current = self._controller.model.path if self._controller.model else ""
        installed = [str(row.model.path) for row in self._models.rows if not row.problem] if self._models else []
        paths = ([self._starter_model] if self._starter_model else []) + installed + list(self._settings.recent_models)
        self.model_picker.set_models(paths, current)

    @Slot(str)
    def _on_loading_started(self, path: str) -> None:
        self.plan_label.hide()
        self.state_label.setText(f"Loading {model_label(path)}…")
        self.demo_banner.hide()

    @Slot(object)
    def _on_model_loaded(self, info: ModelInfo) -> None:
        self.plan_label.setText(info.plan[0] if info.plan else "")
        self.plan_label.setToolTip("\n".join(info.plan))
        self.plan_label.setVisible(bool(info.plan))
        self._settings = self._settings.with_recent_model(info.path)
        self._persist_settings()
        self._refresh_models()
        if is_starter_model(info.path):
            self.demo_banner.show_message(
                f"<b>{html.escape(model_label(info.path))}</b> is a tiny model for trying Moss out: quick, but "
                f"often wrong. Moss is made for <b>gpt-oss-20b</b>: "
                f"<a href='{GPT_OSS_20B_URL}'>get it from {GPT_OSS_20B_REPO}</a> "
                f"({GPT_OSS_20B_SIZE_GB:.1f} GB)"
                + (" with Get gpt-oss…" if self._models is not None else ", then open the .gguf file here.")
            )
        self._update_state()

    @Slot(str, str)
    def _on_model_load_failed(self, path: str, message: str) -> None:
        self.show_error(message)
        self._refresh_models()
        self._update_state()

    def _on_banner_action(self, name: str) -> None:
        if name == "open":
            self.model_picker.open_file_dialog()
        elif name == "get":
            window = self.open_settings("Models")
            if window is not None:
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
        self.cancel_edit()
        if self.history.current_id is not None or not self.chat_view.bubbles:
            self._draft_effort = self._default_effort()
            self.history.new_draft()
        self.composer.setFocus()

    def open_conversation(self, conversation_id: int, scroll_to: int | None = None) -> None:
        self.history.open(conversation_id, scroll_to)

    @Slot()
    def _on_conversation_shown(self) -> None:
        """After the chat view was rebuilt: the effort of this chat, and the reply still streaming into it."""
        self.cancel_edit()
        info = self.history.current
        effort = info.reasoning_effort if info else self._draft_effort
        self.effort_picker.setCurrentIndex(self.effort_picker.findData(effort))
        pending = self._pending
        if pending is not None:
            pending.bubble = None
            if pending.conversation_id == self.history.current_id:
                bubble = self.chat_view.bubble_for(pending.message_id)
                if bubble is not None:
                    # The store has the text of the last save; the screen gets all of it.
                    bubble.set_text(pending.text)
                    if pending.reasoning:
                        bubble.thinking.set_finished_text("")
                        bubble.append_reasoning(pending.reasoning)
                    pending.bubble = bubble
        self.chat_view.set_actions_enabled(not self._controller.busy)
        self._update_empty_hint()

    def _default_effort(self) -> ReasoningEffort:
        try:
            return ReasoningEffort(self._settings.reasoning_effort)
        except ValueError:
            return ReasoningEffort.MEDIUM

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
            hint = "Pick a model above, or open a .gguf file (Ctrl+O), to start chatting."
        self.chat_view.set_empty_hint(hint)

    # -- versions: edit, regenerate, switch -----------------------------------------------------------------

    def switch_version(self, message_id: int, step: int) -> None:
        """ "<" or ">" on a message: show its previous or next alternative and the branch below it."""
        if self._controller.busy:
            return
        self._store.switch_sibling(message_id, step)
        self.history.show_current()

    def edit_message(self, message_id: int) -> None:
        """Put a sent message back in the composer; sending it adds a new version beside the old one."""
        if self._controller.busy:
            return
        self._editing = message_id
        self.composer.setPlainText(self._store.message(message_id).content)
        self.composer.moveCursor(self.composer.textCursor().MoveOperation.End)
        self.edit_hint.show_message(
            "Editing a message: Enter sends it as a new version (the old one is kept). Esc cancels."
        )
        self.composer.setFocus()

    def cancel_edit(self) -> None:
        if self._editing is None:
            return
        self._editing = None
        self.edit_hint.hide()
        self.composer.clear()

    def regenerate(self, message_id: int) -> None:
        """Write another reply to the same question, kept beside the earlier one(s)."""
        if self._controller.busy or self._controller.model is None:
            return
        reply = self._store.message(message_id)
        if reply.parent_id is None:
            return
        self.error_banner.hide()
        self._start_reply(reply.conversation_id, reply.parent_id, redraw=True)

    @Slot()
    def _on_escape(self) -> None:
        if self._controller.generating:
            self._controller.stop()
        else:
            self.cancel_edit()

    # -- chatting -----------------------------------------------------------------------------------------

    def send_message(self, text: str) -> None:
        if self._controller.busy:
            return
        if self._controller.model is None:
            self.show_error("No model is loaded yet. Pick a model above, or open a .gguf file.")
            return
        self.error_banner.hide()
        conversation_id = self.history.current_id
        if conversation_id is None:
            info = self._store.create_conversation(
                system_prompt=self._settings.system_prompt,
                reasoning_effort=self._draft_effort,
                model=model_label(self._controller.model.path),
            )
            conversation_id = self.history.current_id = info.id
        editing, self._editing = self._editing, None
        self.edit_hint.hide()
        if editing is not None:
            parent = self._store.message(editing).parent_id
        else:
            parent = self._store.conversation(conversation_id).current_leaf_id
        user = self._store.add_message(conversation_id, parent, Role.USER, text)
        if editing is None:
            bubble = self.chat_view.add_bubble(Role.USER, text)
            self.chat_view.bind(bubble, user)
        self.composer.clear()
        self._start_reply(conversation_id, user.id, redraw=editing is not None)

    def _start_reply(self, conversation_id: int, parent_id: int, *, redraw: bool) -> None:
        """Ask the model for a reply to the path ending at ``parent_id``, stored as it streams."""
        model = self._controller.model
        assert model is not None
        info = self._store.conversation(conversation_id)
        snapshot = self._store.snapshot(conversation_id, through=parent_id)
        params = dataclasses.replace(
            model.default_params,  # the sampling the model's makers recommend
            max_tokens=self._settings.max_tokens,
            reasoning_effort=info.reasoning_effort,
        )
        reply = self._store.add_message(
            conversation_id, parent_id, Role.ASSISTANT, model=model_label(model.path), status=MessageStatus.STREAMING
        )
        request_id = self._controller.send(snapshot, params)
        self._pending = StreamingReply(self._store, self.history.write, request_id, conversation_id, reply.id)
        if redraw:
            self.history.show_current()  # the new branch replaces what was shown below the edit
        else:
            self._pending.bubble = self.chat_view.add_bubble(Role.ASSISTANT)
            self.chat_view.bind(self._pending.bubble, reply)
        self.history.refresh_list()
        self._update_state()

    @Slot(str, str, str)
    def _on_reply_chunk(self, request_id: str, kind: str, text: str) -> None:
        pending = self._pending
        if pending is not None and pending.request_id == request_id:
            pending.add(kind, text)

    @Slot(str, object)
    def _on_reply_finished(self, request_id: str, result: GenerationResult) -> None:
        pending = self._pending
        if pending is None or pending.request_id != request_id:
            return
        self._pending = None
        if not pending.finish(result):  # stopped before a word: gone, and the branch is as it was
            if pending.conversation_id == self.history.current_id:
                self.history.show_current()
        elif pending.bubble is not None:
            pending.bubble.set_text(result.content)
            pending.bubble.set_meta(describe_result(result))
        tps = result.stats.tokens_per_second
        self.speed_label.setText(f"{tps:.1f} tokens/s" if tps else "")
        self.history.refresh_list()  # the first reply may have improved the title
        self._update_state()

    @Slot(str, str)
    def _on_reply_failed(self, request_id: str, message: str) -> None:
        pending = self._pending
        if pending is None or pending.request_id != request_id:
            return
        self._pending = None
        pending.end("error")
        if pending.bubble is not None:
            pending.bubble.set_meta("No reply: " + message)
        self.show_error(message)
        self._update_state()

    def show_notice(self, text: str) -> None:
        self.notice_banner.show_message(html.escape(text))

    # -- state --------------------------------------------------------------------------------------------

    @Slot()
    def _update_state(self) -> None:
        c = self._controller
        model = c.model
        loading = c.loading_path is not None
        self.progress.setVisible(loading)
        self.model_picker.setEnabled(not loading)
        effort_ok = model is not None and model.supports_reasoning_effort
        self.effort_picker.setEnabled(effort_ok)
        self.effort_picker.setToolTip(
            "How long the model thinks before answering; applies from the next message."
            if effort_ok
            else "Only reasoning models such as gpt-oss have a reasoning effort."
        )
        self.send_button.setEnabled(model is not None and not c.busy and bool(self.composer.toPlainText().strip()))
        self.chat_view.set_actions_enabled(not c.busy and model is not None)
        self.stop_button.setVisible(c.generating)
        self.send_button.setVisible(not c.generating)
        if loading:
            self.state_label.setText(f"Loading {model_label(c.loading_path or '')}…")
        elif model is None:
            self.state_label.setText("No model loaded")
        else:
            state = "Answering…" if c.generating else "Ready"
            self.state_label.setText(f"{state} · {model_label(model.path)} · context {model.n_ctx:,} tokens")
        self._update_empty_hint()

    def _persist_settings(self) -> None:
        try:
            self._save_settings(self._settings)
        except Exception as exc:  # a full disk must not stop the chat
            log.warning("could not save settings: %s", exc)
            self.show_error(str(exc))

    @property
    def settings(self) -> Settings:
        return self._settings

    def closeEvent(self, event: QCloseEvent) -> None:
        self._controller.stop()
        pending, self._pending = self._pending, None
        if pending is not None:  # the window goes before the model thread answers: keep what arrived
            pending.end("cancelled")
        self._tasks.wait()
        self.history.write(self._store.purge_deleted)  # Undo ends with the window: deleted chats go for good
        if self._settings_window is not None:
            self._settings_window.close()
        super().closeEvent(event)
