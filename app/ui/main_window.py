"""The main window: conversations on the left, the chat in the middle, the model and its state around it."""

from __future__ import annotations

import dataclasses
import html
import logging
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import Qt, QUrl, Slot
from PySide6.QtGui import QCloseEvent, QDesktopServices, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QProgressBar,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from app.core.settings import Settings
from app.core.types import (
    FinishReason,
    GenerationResult,
    LoadParams,
    Message,
    ModelInfo,
    ReasoningEffort,
    Role,
)
from app.hub.starter import GPT_OSS_20B_REPO, GPT_OSS_20B_SIZE_GB, GPT_OSS_20B_URL, is_starter_model
from app.qt.engine_worker import EngineController
from app.qt.models_controller import ModelsController
from app.storage.memory import MemoryConversationStore
from app.ui.banner import Banner
from app.ui.chat_view import ChatView, MessageBubble
from app.ui.composer import Composer
from app.ui.inference_dialog import InferenceDialog
from app.ui.model_picker import ModelPicker, model_label
from app.ui.settings_window import SettingsWindow

log = logging.getLogger(__name__)
SettingsSaver = Callable[[Settings], None]


@dataclass
class _PendingReply:
    """The reply being streamed: where it belongs and what has arrived so far."""

    request_id: str
    conversation_id: str
    text: str = ""
    reasoning: str = ""
    bubble: MessageBubble | None = None


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
        store: MemoryConversationStore,
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
        self._pending: _PendingReply | None = None
        self._current_id = ""
        self.setWindowTitle("Moss")
        self.resize(1100, 740)
        self._build()
        self._connect()
        self._refresh_models()
        self.new_conversation()
        self._update_state()

    # -- construction -------------------------------------------------------------------------------------

    def _build(self) -> None:
        sidebar = QWidget()
        sidebar.setObjectName("sidebar")
        side = QVBoxLayout(sidebar)
        side.setContentsMargins(10, 12, 10, 12)
        self.new_chat_button = QPushButton("New chat")
        self.new_chat_button.setToolTip("Start a new conversation (Ctrl+N)")
        self.conversation_list = QListWidget()
        self.conversation_list.setObjectName("conversationList")
        self.conversation_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.conversation_list.setTextElideMode(Qt.TextElideMode.ElideRight)
        side.addWidget(self.new_chat_button)
        side.addWidget(self.conversation_list, 1)

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
        column.addWidget(self.chat_view, 1)
        column.addWidget(composer_frame)

        splitter = QSplitter()
        splitter.addWidget(sidebar)
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
        self.composer.stop_requested.connect(self._controller.stop)
        self.composer.textChanged.connect(self._update_state)
        self.send_button.clicked.connect(self.composer.submit)
        self.stop_button.clicked.connect(self._controller.stop)
        self.new_chat_button.clicked.connect(self.new_conversation)
        self.conversation_list.currentItemChanged.connect(self._on_conversation_selected)
        QShortcut(QKeySequence.StandardKey.New, self, self.new_conversation)
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

    def new_conversation(self) -> None:
        current = self._store.get(self._current_id) if self._current_id else None
        if current is not None and not current.messages:
            self.composer.setFocus()
            return  # the current chat is still empty: reuse it
        conversation = self._store.create(
            system_prompt=self._settings.system_prompt, reasoning_effort=self._default_effort()
        )
        self._current_id = conversation.id
        self._refresh_conversation_list()
        self._show_conversation()
        self.composer.setFocus()

    def _refresh_conversation_list(self) -> None:
        self.conversation_list.blockSignals(True)
        self.conversation_list.clear()
        for conversation in self._store.list():
            item = QListWidgetItem(conversation.title)
            item.setData(Qt.ItemDataRole.UserRole, conversation.id)
            item.setToolTip(conversation.title)
            self.conversation_list.addItem(item)
            if conversation.id == self._current_id:
                self.conversation_list.setCurrentItem(item)
        self.conversation_list.blockSignals(False)

    def _on_conversation_selected(self, item: QListWidgetItem | None, _previous: QListWidgetItem | None) -> None:
        if item is None:
            return
        self._current_id = item.data(Qt.ItemDataRole.UserRole)
        self._show_conversation()

    def _show_conversation(self) -> None:
        conversation = self._store.get(self._current_id)
        self.effort_picker.setCurrentIndex(self.effort_picker.findData(conversation.reasoning_effort))
        self.chat_view.show_messages(conversation.messages)
        pending = self._pending
        if pending is not None:
            pending.bubble = None
            if pending.conversation_id == self._current_id:
                pending.bubble = self.chat_view.add_bubble(Role.ASSISTANT, pending.text)
                if pending.reasoning:
                    pending.bubble.append_reasoning(pending.reasoning)
        self._update_empty_hint()

    def _default_effort(self) -> ReasoningEffort:
        try:
            return ReasoningEffort(self._settings.reasoning_effort)
        except ValueError:
            return ReasoningEffort.MEDIUM

    def _on_effort_chosen(self, index: int) -> None:
        """The effort is per conversation and applies from its next turn."""
        self._store.get(self._current_id).reasoning_effort = ReasoningEffort(self.effort_picker.itemData(index))

    def _update_empty_hint(self) -> None:
        model = self._controller.model
        if model is not None:
            hint = f"Ask {model_label(model.path)} anything."
        elif self._controller.loading_path:
            hint = "Loading the model…"
        else:
            hint = "Pick a model above, or open a .gguf file (Ctrl+O), to start chatting."
        self.chat_view.set_empty_hint(hint)

    # -- chatting -----------------------------------------------------------------------------------------

    def send_message(self, text: str) -> None:
        if self._controller.busy:
            return
        model = self._controller.model
        if model is None:
            self.show_error("No model is loaded yet. Pick a model above, or open a .gguf file.")
            return
        self.error_banner.hide()
        conversation = self._store.append(self._current_id, Message(Role.USER, text))
        self.chat_view.add_bubble(Role.USER, text)
        params = dataclasses.replace(
            model.default_params,  # the sampling the model's makers recommend
            max_tokens=self._settings.max_tokens,
            reasoning_effort=conversation.reasoning_effort,
        )
        request_id = self._controller.send(conversation.snapshot(), params)
        bubble = self.chat_view.add_bubble(Role.ASSISTANT)
        self._pending = _PendingReply(request_id, conversation.id, bubble=bubble)
        self.composer.clear()
        self._refresh_conversation_list()
        self._update_state()

    @Slot(str, str, str)
    def _on_reply_chunk(self, request_id: str, kind: str, text: str) -> None:
        pending = self._pending
        if pending is None or pending.request_id != request_id:
            return
        if kind == "reasoning":
            pending.reasoning += text
            if pending.bubble is not None:
                pending.bubble.append_reasoning(text)
        elif kind == "content":
            pending.text += text
            if pending.bubble is not None:
                pending.bubble.append_text(text)

    @Slot(str, object)
    def _on_reply_finished(self, request_id: str, result: GenerationResult) -> None:
        pending = self._pending
        if pending is None or pending.request_id != request_id:
            return
        self._pending = None
        if result.content or result.finish_reason != FinishReason.CANCELLED:
            self._store.append(pending.conversation_id, Message(Role.ASSISTANT, result.content, result.reasoning))
        if pending.bubble is not None:
            pending.bubble.set_text(result.content)
            pending.bubble.set_meta(describe_result(result))
        tps = result.stats.tokens_per_second
        self.speed_label.setText(f"{tps:.1f} tokens/s" if tps else "")
        self._update_state()

    @Slot(str, str)
    def _on_reply_failed(self, request_id: str, message: str) -> None:
        pending = self._pending
        if pending is None or pending.request_id != request_id:
            return
        self._pending = None
        if pending.bubble is not None:
            pending.bubble.set_meta("No reply: " + message)
        self.show_error(message)
        self._update_state()

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
        if self._settings_window is not None:
            self._settings_window.close()
        super().closeEvent(event)
