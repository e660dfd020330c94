"""The collapsible "Thinking" block above an answer: the model's reasoning, streamed live.

It opens while the model thinks and folds away when the answer starts ("Thought for 12 s"), unless the
person chose to always show or always hide reasoning. The reasoning is for reading only: it is never sent
back to the model.
"""

from __future__ import annotations

import time

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QSizePolicy, QToolButton, QVBoxLayout, QWidget

AUTO, SHOWN, HIDDEN = "auto", "shown", "hidden"


class ThinkingBlock(QWidget):
    def __init__(self, display: str = AUTO, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("thinkingBlock")
        self._display = display
        self._started: float | None = None
        self._text = ""
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 4)
        layout.setSpacing(2)
        self.toggle = QToolButton()
        self.toggle.setObjectName("thinkingToggle")
        self.toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.toggle.setAutoRaise(True)
        self.toggle.setCheckable(True)
        self.toggle.toggled.connect(self._on_toggled)
        self.body = QLabel()
        self.body.setObjectName("thinkingText")
        self.body.setWordWrap(True)
        self.body.setTextFormat(Qt.TextFormat.PlainText)
        self.body.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.body.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        layout.addWidget(self.toggle, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.body)
        self._set_title("Thinking…")
        self.toggle.setChecked(display != HIDDEN)
        self._on_toggled(self.toggle.isChecked())
        self.hide()

    @property
    def text(self) -> str:
        return self._text

    @property
    def expanded(self) -> bool:
        return self.body.isVisibleTo(self)

    def append(self, text: str) -> None:
        """Stream more reasoning in; the first piece starts the clock and shows the block."""
        if self._started is None:
            self._started = time.monotonic()
        self._text += text
        self.body.setText(self._text.strip())
        if self._display != HIDDEN:
            self.show()

    def answer_started(self) -> None:
        """The answer began: stop the clock and, in auto mode, fold the reasoning away."""
        if self._started is None:
            return
        seconds = round(time.monotonic() - self._started)
        self._set_title(f"Thought for {seconds} s" if seconds >= 1 else "Thought for a moment")
        self._started = None
        if self._display == AUTO:
            self.toggle.setChecked(False)

    def set_finished_text(self, text: str) -> None:
        """Show stored reasoning of an earlier message, folded (or open when always shown)."""
        self._text = text
        self.body.setText(text.strip())
        self._set_title("Thoughts")
        self.toggle.setChecked(self._display == SHOWN)
        self.setVisible(bool(text.strip()) and self._display != HIDDEN)

    def _set_title(self, title: str) -> None:
        self.toggle.setText(title)

    def _on_toggled(self, checked: bool) -> None:
        self.toggle.setArrowType(Qt.ArrowType.DownArrow if checked else Qt.ArrowType.RightArrow)
        self.body.setVisible(checked)
