"""The model selector: the starter model, recently used models, and "Open a model file…"."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QFileDialog, QWidget

from app.hub.starter import STARTER_LABEL, is_starter_model

_OPEN_FILE = "__open__"


def model_label(path: str) -> str:
    return STARTER_LABEL if is_starter_model(path) else Path(path).name


class ModelPicker(QComboBox):
    """Signals: model_chosen(path) when the person picks a model (from the list or a file dialog)."""

    model_chosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("modelPicker")
        self.setMinimumContentsLength(28)
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setToolTip("The model Moss chats with")
        self.activated.connect(self._on_activated)
        self._current = ""
        self.set_models([], "")

    def set_models(self, paths: list[str], current: str) -> None:
        """List ``paths`` (duplicates and missing files dropped) and show ``current`` as selected."""
        self.blockSignals(True)
        self.clear()
        if not current:
            self.addItem("No model loaded", "")
        seen: set[str] = set()
        for path in [current, *paths]:
            if path and path not in seen and Path(path).is_file():
                seen.add(path)
                self.addItem(model_label(path), path)
                self.setItemData(self.count() - 1, path, role=3)  # tooltip: the full path
        self.insertSeparator(self.count())
        self.addItem("Open a model file…", _OPEN_FILE)
        self._current = current
        index = self.findData(current) if current else 0
        self.setCurrentIndex(max(index, 0))
        self.blockSignals(False)

    def open_file_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self.window(), "Open a GGUF model", str(Path.home()), "GGUF models (*.gguf);;All files (*)"
        )
        if path:
            self.model_chosen.emit(path)

    def _on_activated(self, index: int) -> None:
        data = self.itemData(index)
        if data == _OPEN_FILE:
            self._restore_selection()
            self.open_file_dialog()
        elif data and data != self._current:
            self.model_chosen.emit(data)

    def _restore_selection(self) -> None:
        index = self.findData(self._current) if self._current else 0
        self.setCurrentIndex(max(index, 0))
