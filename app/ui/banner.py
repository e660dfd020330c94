"""A dismissable strip above the chat for notices (the demo model) and errors (a model that won't load)."""

from __future__ import annotations

from collections.abc import Collection

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QWidget


class Banner(QFrame):
    """Signals: link_activated(href) for links in the text, action_triggered(name) for its buttons.

    An action is always shown, or, added as ``optional``, only with the messages that offer it (Retry after a
    load that may work next time, not after every error the same banner shows)."""

    link_activated = Signal(str)
    action_triggered = Signal(str)

    def __init__(self, object_name: str, parent: QWidget | None = None, *, closable: bool = True) -> None:
        super().__init__(parent)
        self.setObjectName(object_name)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 8, 8, 8)
        self._label = QLabel()
        self._label.setWordWrap(True)
        self._label.setTextFormat(Qt.TextFormat.RichText)
        self._label.setOpenExternalLinks(False)
        self._label.linkActivated.connect(self.link_activated)
        self._label.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse | Qt.TextInteractionFlag.LinksAccessibleByMouse
        )
        layout.addWidget(self._label, 1)
        self._buttons = QHBoxLayout()
        layout.addLayout(self._buttons)
        self._actions: dict[str, QPushButton] = {}
        self._optional: set[str] = set()
        self.close_button = QPushButton("✕")
        self.close_button.setFlat(True)
        self.close_button.setToolTip("Dismiss")
        self.close_button.setAccessibleName("Dismiss")
        self.close_button.setFixedWidth(28)
        self.close_button.clicked.connect(self.hide)
        self.close_button.setVisible(closable)
        layout.addWidget(self.close_button, 0, Qt.AlignmentFlag.AlignTop)
        self.hide()

    @property
    def text(self) -> str:
        return self._label.text()

    def add_action(self, name: str, label: str, *, optional: bool = False) -> QPushButton:
        button = QPushButton(label)
        button.clicked.connect(lambda: self.action_triggered.emit(name))
        self._buttons.addWidget(button)
        self._actions[name] = button
        if optional:
            self._optional.add(name)
            button.hide()
        return button

    def action_button(self, name: str) -> QPushButton:
        return self._actions[name]

    def show_message(self, html: str, offer: Collection[str] = ()) -> None:
        """Show ``html``, with the optional actions named in ``offer`` (the others hidden)."""
        self._label.setText(html)
        for name in self._optional:
            self._actions[name].setVisible(name in offer)
        self.show()
