"""The two small widgets that float over the chat view: "Jump to latest" and the short-lived "Copied" note.

Both place themselves at the bottom centre of the view they belong to; the theme styles them by object name
(``jumpButton``, ``toast``).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QLabel, QToolButton, QWidget

_TOAST_MS = 1500  # how long "Copied" shows
_JUMP_MARGIN_PX = 12  # from the bottom of the view
_TOAST_MARGIN_PX = 56  # above where the jump button would be


class JumpButton(QToolButton):
    """Shown while the reader is scrolled up from a chat's end; clicking it goes back to the latest message."""

    def __init__(self, view: QWidget) -> None:
        super().__init__(view)
        self._view = view
        self.setObjectName("jumpButton")
        self.setText("Jump to latest ↓")
        self.setAccessibleName("Jump to the latest message")
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.hide()

    def place(self) -> None:
        """At the bottom centre of the view (called when the view is resized or the button shown)."""
        view = self._view
        hint = self.sizeHint()
        self.resize(hint)
        self.move((view.width() - hint.width()) // 2, view.height() - hint.height() - _JUMP_MARGIN_PX)


class Toast(QLabel):
    """A short note that something happened ("Code copied"), gone after a moment by itself."""

    def __init__(self, view: QWidget) -> None:
        super().__init__(view)
        self._view = view
        self.setObjectName("toast")
        self.hide()
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(_TOAST_MS)
        self._timer.timeout.connect(self.hide)

    def say(self, text: str) -> None:
        view = self._view
        self.setText(text)
        self.adjustSize()
        self.move((view.width() - self.width()) // 2, view.height() - self.height() - _TOAST_MARGIN_PX)
        self.show()
        self.raise_()
        self._timer.start()
