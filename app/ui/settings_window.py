"""The settings window: one window, sections on the left. For now: Models and Privacy (the Hugging Face
token); the other sections join it as they are built."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app.qt.models_controller import ModelsController
from app.ui.models_pane import ModelsPane


class PrivacyPane(QWidget):
    """The Hugging Face token (only in the system keychain) and what leaves the machine."""

    def __init__(self, controller: ModelsController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 14, 16, 14)
        title = QLabel("Hugging Face token")
        title.setObjectName("sectionTitle")
        layout.addWidget(title)
        explain = QLabel(
            "Needed only for gated or private repositories. Create a read token at huggingface.co/settings/tokens. "
            "It is kept in the system keychain, sent only to the Hugging Face Hub, and never written to a file "
            "or a log."
        )
        explain.setWordWrap(True)
        explain.setObjectName("hintLabel")
        layout.addWidget(explain)
        row = QHBoxLayout()
        self.token_edit = QLineEdit()
        self.token_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.token_edit.setPlaceholderText("hf_…")
        self.token_edit.setAccessibleName("Hugging Face token")
        self.save_button = QPushButton("Save token")
        self.clear_button = QPushButton("Remove token")
        row.addWidget(self.token_edit, 1)
        row.addWidget(self.save_button)
        row.addWidget(self.clear_button)
        layout.addLayout(row)
        self.status = QLabel()
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        leaves = QLabel(
            "What leaves this computer: nothing but the Hugging Face requests you start (search, model lists, "
            "downloads). Conversations and models stay here."
        )
        leaves.setWordWrap(True)
        leaves.setObjectName("hintLabel")
        layout.addSpacing(12)
        layout.addWidget(leaves)
        layout.addStretch(1)
        self.save_button.clicked.connect(self.save)
        self.clear_button.clicked.connect(lambda: self.controller.set_token(""))
        self.token_edit.returnPressed.connect(self.save)
        controller.token_changed.connect(self._update)
        self._update()

    def save(self) -> None:
        if self.token_edit.text().strip():
            self.controller.set_token(self.token_edit.text())
            self.token_edit.clear()

    def _update(self) -> None:
        c = self.controller
        where = c.token_storage
        text = f"A token is saved ({where})." if c.has_token else "No token saved."
        if not c.token_persistent:
            text += f" Note: {where}; Moss will forget it when it closes."
        self.status.setText(text)
        self.clear_button.setEnabled(c.has_token)


class SettingsWindow(QDialog):
    SECTIONS = ("Models", "Privacy")

    def __init__(self, models: ModelsController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setObjectName("settingsWindow")
        self.resize(980, 640)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        self.sections = QListWidget()
        self.sections.setObjectName("settingsSections")
        self.sections.setAccessibleName("Settings sections")
        self.sections.setFixedWidth(170)
        for name in self.SECTIONS:
            item = QListWidgetItem(name)
            item.setSizeHint(QSize(150, 34))
            self.sections.addItem(item)
        self.stack = QStackedWidget()
        self.models_pane = ModelsPane(models)
        self.privacy_pane = PrivacyPane(models)
        self.stack.addWidget(self.models_pane)
        self.stack.addWidget(self.privacy_pane)
        layout.addWidget(self.sections)
        layout.addWidget(self.stack, 1)
        self.sections.currentRowChanged.connect(self.stack.setCurrentIndex)
        self.sections.setCurrentRow(0)
        self.setWindowFlag(Qt.WindowType.WindowContextHelpButtonHint, False)

    def show_section(self, name: str) -> None:
        self.sections.setCurrentRow(self.SECTIONS.index(name))
