"""The conversation: one bubble per message, the newest reply growing as it streams.

Only the growing bubble changes while a reply streams. The view follows the bottom unless the person has
scrolled up to read. (Issue 7 replaces this with a virtualized, Markdown-rendering view.)
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QScrollArea, QSizePolicy, QVBoxLayout, QWidget

from app.core.types import Message, Role
from app.ui.thinking_block import AUTO, ThinkingBlock

_FOLLOW_SLACK_PX = 40  # "at the bottom" tolerance for auto-follow
_MAX_TEXT_WIDTH = 760


class MessageBubble(QFrame):
    """One message: who said it, the text, and a line of details (speed, why it ended)."""

    def __init__(
        self, role: Role, text: str = "", parent: QWidget | None = None, *, reasoning_display: str = AUTO
    ) -> None:
        super().__init__(parent)
        self.role = role
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
        self._meta.hide()
        layout.addWidget(self._role_label)
        self.thinking = ThinkingBlock(reasoning_display)
        layout.addWidget(self.thinking)
        layout.addWidget(self._text)
        layout.addWidget(self._meta)
        self._content = ""
        self.set_text(text)

    @property
    def text(self) -> str:
        return self._content

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


class ChatView(QScrollArea):
    """A scrolling column of :class:`MessageBubble`, with an empty-state hint when there are none."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("chatScroll")
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        canvas = QWidget()
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
        self._bubbles: list[MessageBubble] = []
        self._follow = True
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

    def show_messages(self, messages: list[Message]) -> None:
        for bubble in self._bubbles:
            bubble.deleteLater()
        self._bubbles = []
        for message in messages:
            if message.role != Role.SYSTEM:
                bubble = self.add_bubble(message.role, message.content)
                if message.reasoning:
                    bubble.thinking.set_finished_text(message.reasoning)
        self._empty.setVisible(not self._bubbles and bool(self._empty.text()))
        self._follow = True  # the range change that the new bubbles cause scrolls to the bottom

    def add_bubble(self, role: Role, text: str = "") -> MessageBubble:
        bubble = MessageBubble(role, text, reasoning_display=self.reasoning_display)
        self._layout.insertWidget(self._layout.count() - 1, bubble)
        self._bubbles.append(bubble)
        self._empty.hide()
        self._follow = True
        return bubble

    def scroll_to_bottom(self) -> None:
        bar = self.verticalScrollBar()
        bar.setValue(bar.maximum())

    def _on_scrolled(self, value: int) -> None:
        bar = self.verticalScrollBar()
        self._follow = value >= bar.maximum() - _FOLLOW_SLACK_PX

    def _on_range_changed(self, _minimum: int, maximum: int) -> None:
        if self._follow:
            self.verticalScrollBar().setValue(maximum)
