"""The conversation: one bubble per message, the newest reply growing as it streams.

Only the growing bubble changes while a reply streams. The view follows the bottom unless the person has
scrolled up to read. A long conversation shows only its latest messages ("Show earlier messages" reads
more), so opening a 5,000-message chat builds a few dozen bubbles. (Issue 7 replaces this with a
virtualized, Markdown-rendering view.)

Each stored message's bubble has "‹ 2/3 ›" when it has alternatives (edits, regenerated replies), Edit on
the person's messages and Regenerate on replies.

Signals: sibling_requested(message_id, step), edit_requested(message_id), regenerate_requested(message_id),
earlier_requested().
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.core.history import MessageStatus, StoredMessage
from app.core.types import Role
from app.ui.thinking_block import AUTO, ThinkingBlock

_FOLLOW_SLACK_PX = 40  # "at the bottom" tolerance for auto-follow
_MAX_TEXT_WIDTH = 760
_FOUND_MS = 2500  # how long a search hit stays marked


def describe_stored(message: StoredMessage) -> str:
    """The line under a stored reply: speed, length, and why it ended when it did not simply finish."""
    if message.role != Role.ASSISTANT:
        return ""
    parts = []
    if message.tokens_per_second:
        parts.append(f"{message.tokens_per_second:.1f} tokens/s")
    if message.completion_tokens:
        parts.append(f"{message.completion_tokens} tokens")
    reason = {
        "cancelled": "stopped",
        "length": "reached the length limit",
        "context": "the context is full",
        "error": "failed before it finished",
    }.get(message.finish_reason or "")
    if message.status == MessageStatus.INTERRUPTED:
        reason = "interrupted: Moss closed before the reply finished"
    if reason:
        parts.append(reason)
    return " · ".join(parts)


class MessageBubble(QFrame):
    """One message: who said it, the text, its alternatives and actions, and a line of details."""

    def __init__(
        self, role: Role, text: str = "", parent: QWidget | None = None, *, reasoning_display: str = AUTO
    ) -> None:
        super().__init__(parent)
        self.role = role
        self.message_id: int | None = None
        self.setObjectName("userBubble" if role == Role.USER else "assistantBubble")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(14, 10, 14, 10)
        layout.setSpacing(4)
        self._role_label = QLabel("You" if role == Role.USER else "Assistant")
        self._role_label.setObjectName("roleLabel")
        self._text = QLabel()
        self._text.setObjectName("messageText")
        self._text.setWordWrap(True)
        self._text.setTextFormat(Qt.TextFormat.PlainText)
        self._text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._text.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        self._meta = QLabel()
        self._meta.setObjectName("metaLabel")
        self._meta.setWordWrap(True)
        self._meta.hide()
        layout.addWidget(self._role_label)
        self.thinking = ThinkingBlock(reasoning_display)
        layout.addWidget(self.thinking)
        layout.addWidget(self._text)
        layout.addWidget(self._meta)

        self.footer = QWidget()
        row = QHBoxLayout(self.footer)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(2)
        self.previous_button = _tool("‹", "Previous version")
        self.position_label = QLabel()
        self.position_label.setObjectName("metaLabel")
        self.next_button = _tool("›", "Next version")
        self.action_button = _tool(
            "Edit" if role == Role.USER else "Regenerate",
            "Edit and resend (keeps this version)" if role == Role.USER else "Write another reply (keeps this one)",
        )
        for widget in (self.previous_button, self.position_label, self.next_button):
            row.addWidget(widget)
        row.addSpacing(6)
        row.addWidget(self.action_button)
        row.addStretch(1)
        self.footer.hide()
        layout.addWidget(self.footer)
        self._content = ""
        self.set_text(text)

    @property
    def text(self) -> str:
        return self._content

    def bind(self, message: StoredMessage) -> None:
        """Tie the bubble to its stored message: alternatives ("2/3") and the actions on it."""
        self.message_id = message.id
        many = message.sibling_count > 1
        for widget in (self.previous_button, self.position_label, self.next_button):
            widget.setVisible(many)
        self.position_label.setText(f"{message.sibling_index + 1}/{message.sibling_count}")
        self.position_label.setAccessibleName(f"version {message.sibling_index + 1} of {message.sibling_count}")
        self.previous_button.setEnabled(message.sibling_index > 0)
        self.next_button.setEnabled(message.sibling_index < message.sibling_count - 1)
        self.footer.show()

    def set_text(self, text: str) -> None:
        self._content = text
        self._text.setText(text or "…")
        # While the model is still thinking there is no answer yet: show the thinking block alone.
        self._text.setVisible(bool(text) or not self.thinking.isVisibleTo(self))

    def append_text(self, text: str) -> None:
        if not self._content:
            self.thinking.answer_started()
        self.set_text(self._content + text)

    def append_reasoning(self, text: str) -> None:
        self.thinking.append(text)
        self._text.setVisible(bool(self._content))

    def set_meta(self, text: str) -> None:
        self._meta.setText(text)
        self._meta.setVisible(bool(text))

    @property
    def meta(self) -> str:
        return self._meta.text() if self._meta.isVisibleTo(self) else ""

    def set_found(self, found: bool) -> None:
        """Mark the bubble as the one a search led to."""
        self.setProperty("found", found)
        self.style().unpolish(self)
        self.style().polish(self)


class _Canvas(QWidget):
    """The scrolled column's parent. Its minimum height is the height its wrapped text really takes at
    its current width: Qt's default guesses each label's height at a narrow width, which left blank
    space under the last message and scrolled the first one out of view."""

    def minimumSizeHint(self) -> QSize:
        layout = self.layout()
        if layout is None or not layout.hasHeightForWidth() or self.width() <= 0:
            return super().minimumSizeHint()
        return QSize(super().minimumSizeHint().width(), layout.totalHeightForWidth(self.width()))


def _tool(text: str, tip: str) -> QToolButton:
    button = QToolButton()
    button.setObjectName("bubbleAction")
    button.setText(text)
    button.setToolTip(tip)
    button.setAccessibleName(tip)
    button.setAutoRaise(True)
    return button


class ChatView(QScrollArea):
    """A scrolling column of :class:`MessageBubble`, with an empty-state hint when there are none."""

    sibling_requested = Signal(int, int)
    edit_requested = Signal(int)
    regenerate_requested = Signal(int)
    earlier_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("chatScroll")
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        canvas = _Canvas()
        canvas.setObjectName("chatCanvas")
        # A centred column that grows with the window up to a readable line length.
        outer = QHBoxLayout(canvas)
        outer.setContentsMargins(24, 16, 24, 16)
        self._column = QWidget()
        self._column.setMaximumWidth(_MAX_TEXT_WIDTH)
        self._column.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self._layout = QVBoxLayout(self._column)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(12)
        self._layout.addStretch(1)
        outer.addStretch(1)
        outer.addWidget(self._column, 100)
        outer.addStretch(1)
        self.setWidget(canvas)
        self._empty = QLabel()
        self._empty.setObjectName("hintLabel")
        self._empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._empty.setWordWrap(True)
        self._layout.insertWidget(0, self._empty)
        self.earlier_button = QPushButton()
        self.earlier_button.setObjectName("earlierButton")
        self.earlier_button.clicked.connect(self.earlier_requested)
        self.earlier_button.hide()
        self._layout.insertWidget(1, self.earlier_button, 0, Qt.AlignmentFlag.AlignHCenter)
        self._bubbles: list[MessageBubble] = []
        self._follow = True
        self._actions_enabled = True
        self.reasoning_display = AUTO
        self.verticalScrollBar().valueChanged.connect(self._on_scrolled)
        self.verticalScrollBar().rangeChanged.connect(self._on_range_changed)
        self.set_empty_hint("")

    @property
    def bubbles(self) -> list[MessageBubble]:
        return list(self._bubbles)

    def set_empty_hint(self, text: str) -> None:
        self._empty.setText(text)
        self._empty.setVisible(not self._bubbles and bool(text))

    def show_messages(self, messages: Sequence[StoredMessage], *, earlier: int = 0) -> None:
        """Show ``messages`` (the latest part of the active path); ``earlier`` more are not shown yet."""
        for bubble in self._bubbles:
            bubble.deleteLater()
        self._bubbles = []
        for message in messages:
            if message.role == Role.SYSTEM:
                continue
            bubble = self.add_bubble(message.role, message.content)
            if message.reasoning:
                bubble.thinking.set_finished_text(message.reasoning)
            bubble.set_meta(describe_stored(message))
            self.bind(bubble, message)
        self.earlier_button.setText(f"Show earlier messages ({earlier:,})")
        self.earlier_button.setVisible(earlier > 0)
        self._empty.setVisible(not self._bubbles and bool(self._empty.text()))
        self._follow = True  # the range change that the new bubbles cause scrolls to the bottom

    def add_bubble(self, role: Role, text: str = "") -> MessageBubble:
        bubble = MessageBubble(role, text, reasoning_display=self.reasoning_display)
        self._layout.insertWidget(self._layout.count() - 1, bubble)
        self._bubbles.append(bubble)
        self._empty.hide()
        self._follow = True
        return bubble

    def bind(self, bubble: MessageBubble, message: StoredMessage) -> None:
        """Connect a bubble to its stored message and wire its buttons to this view's signals."""
        first_bind = bubble.message_id is None
        bubble.bind(message)
        bubble.action_button.setEnabled(self._actions_enabled)
        bubble.previous_button.setEnabled(self._actions_enabled and message.sibling_index > 0)
        bubble.next_button.setEnabled(self._actions_enabled and message.sibling_index < message.sibling_count - 1)
        if not first_bind:
            return
        ident = message.id
        bubble.previous_button.clicked.connect(self._emitter(lambda: self.sibling_requested.emit(ident, -1)))
        bubble.next_button.clicked.connect(self._emitter(lambda: self.sibling_requested.emit(ident, +1)))
        if bubble.role == Role.USER:
            bubble.action_button.clicked.connect(self._emitter(lambda: self.edit_requested.emit(ident)))
        else:
            bubble.action_button.clicked.connect(self._emitter(lambda: self.regenerate_requested.emit(ident)))

    @staticmethod
    def _emitter(emit: Callable[[], None]) -> Callable[[], None]:
        return lambda *_: emit()

    def set_actions_enabled(self, enabled: bool) -> None:
        """Edit, Regenerate and the version arrows wait while a reply is being written."""
        self._actions_enabled = enabled
        for bubble in self._bubbles:
            bubble.action_button.setEnabled(enabled)
            if not enabled:
                bubble.previous_button.setEnabled(False)
                bubble.next_button.setEnabled(False)
            elif bubble.position_label.text():
                index, count = (int(n) for n in bubble.position_label.text().split("/"))
                bubble.previous_button.setEnabled(index > 1)
                bubble.next_button.setEnabled(index < count)

    def bubble_for(self, message_id: int) -> MessageBubble | None:
        return next((b for b in self._bubbles if b.message_id == message_id), None)

    def scroll_to_message(self, message_id: int, *, mark: bool = True) -> bool:
        """Scroll to a message's bubble (marked for a moment, when ``mark``); False when it is not shown."""
        bubble = self.bubble_for(message_id)
        if bubble is None:
            return False
        self._follow = False
        self._layout.activate()
        canvas = self.widget()
        if canvas is not None and canvas.layout() is not None:
            canvas.layout().activate()  # type: ignore[union-attr]
        self.ensureWidgetVisible(bubble, 0, 60)
        if mark:
            bubble.set_found(True)
            QTimer.singleShot(_FOUND_MS, lambda: _unmark(bubble))
        return True

    def scroll_to_bottom(self) -> None:
        bar = self.verticalScrollBar()
        bar.setValue(bar.maximum())

    def _on_scrolled(self, value: int) -> None:
        bar = self.verticalScrollBar()
        self._follow = value >= bar.maximum() - _FOLLOW_SLACK_PX

    def _on_range_changed(self, _minimum: int, maximum: int) -> None:
        if self._follow:
            self.verticalScrollBar().setValue(maximum)


def _unmark(bubble: MessageBubble) -> None:
    with contextlib.suppress(RuntimeError):  # the bubble was deleted meanwhile (another chat was opened)
        bubble.set_found(False)
