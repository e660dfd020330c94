"""The line above the chat: its title, the Models… and Settings… buttons, and how the model runs here, in words
(the plan's first reason; all of them in its tooltip)."""

from __future__ import annotations

from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSizePolicy, QVBoxLayout, QWidget


class ChatHeader(QWidget):
    def __init__(self, *, show_models: bool) -> None:
        super().__init__()
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        top = QHBoxLayout()
        self.title_label = QLabel()
        self.title_label.setObjectName("chatTitle")
        self.title_label.setAccessibleName("Conversation title")
        self.title_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)  # long titles clip
        top.addWidget(self.title_label, 1)
        self.models_button = QPushButton("Models…")
        self.models_button.setToolTip("Download, import and manage models")
        self.models_button.setVisible(show_models)
        top.addWidget(self.models_button)
        self.settings_button = QPushButton("Settings…")
        shortcut = QKeySequence("Ctrl+,").toString(QKeySequence.SequenceFormat.NativeText)
        self.settings_button.setToolTip(f"Inference, chat, appearance and privacy settings ({shortcut})")
        top.addWidget(self.settings_button)
        column.addLayout(top)
        self.plan_label = QLabel()
        self.plan_label.setObjectName("hintLabel")
        self.plan_label.setWordWrap(True)
        self.plan_label.hide()
        column.addWidget(self.plan_label)

    def show_plan(self, plan: tuple[str, ...]) -> None:
        self.plan_label.setText(plan[0] if plan else "")
        self.plan_label.setToolTip("\n".join(plan))
        self.plan_label.setVisible(bool(plan))
