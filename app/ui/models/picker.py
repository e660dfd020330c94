"""The model selector: the starter model, recently used models, and "Open a model file…"."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QPaintEvent
from PySide6.QtWidgets import QComboBox, QFileDialog, QStyle, QStyleOptionComboBox, QStylePainter, QWidget

from app.hub.starter import STARTER_LABEL, is_starter_model

_OPEN_FILE = "__open__"
# Its width in characters of the current font, so that it grows with the text size: at least a short name,
# at most a long file name (the rest of the composer's row needs room too; the tooltip has the full path).
MIN_CHARS = 12
MAX_CHARS = 32


def model_label(path: str) -> str:
    return STARTER_LABEL if is_starter_model(path) else Path(path).name


class ModelPicker(QComboBox):
    """Signals: model_chosen(path) when the person picks a model (from the list or a file dialog).

    As wide as the model's name needs, within MIN_CHARS..MAX_CHARS of the current font; its list opens wide
    enough for the longest name whatever the picker's own width."""

    model_chosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("modelPicker")
        self.setMinimumContentsLength(MIN_CHARS)
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
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
        self._fit_to_font()

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.FontChange:
            self._fit_to_font()

    def paintEvent(self, _event: QPaintEvent) -> None:
        """As QComboBox paints itself, with the name cut short by "…" where the picker is narrower than it (Qt
        clips it mid-letter)."""
        painter = QStylePainter(self)
        option = QStyleOptionComboBox()
        self.initStyleOption(option)
        field = self.style().subControlRect(
            QStyle.ComplexControl.CC_ComboBox, option, QStyle.SubControl.SC_ComboBoxEditField, self
        )
        option.currentText = self.fontMetrics().elidedText(
            option.currentText,
            Qt.TextElideMode.ElideRight,
            field.width() - 2,  # the label's inset
        )
        painter.drawComplexControl(QStyle.ComplexControl.CC_ComboBox, option)
        painter.drawControl(QStyle.ControlElement.CE_ComboBoxLabel, option)

    def _fit_to_font(self) -> None:
        """The widest the picker may be, and the width of its list, for the current font and names."""
        metrics = self.fontMetrics()
        self.setMaximumWidth(self.minimumSizeHint().width() + metrics.averageCharWidth() * (MAX_CHARS - MIN_CHARS))
        view = self.view()
        longest = max((metrics.horizontalAdvance(self.itemText(i)) for i in range(self.count())), default=0)
        view.setMinimumWidth(longest + 2 * metrics.height() + view.frameWidth() * 2)

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
