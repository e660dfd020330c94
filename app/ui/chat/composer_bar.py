"""The message box with what shapes the next reply: the model, its run settings, the reasoning effort, how
much of the context the chat uses, and Send (or Stop while a reply is written)."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.core.types import ReasoningEffort
from app.ui.chat.composer import Composer
from app.ui.chat.context_meter import ContextMeter
from app.ui.models.picker import ModelPicker


class ComposerBar(QFrame):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("composerFrame")
        self.composer = Composer()
        self.model_picker = ModelPicker()
        self.model_picker.setAccessibleName("Model")  # its width follows the text size (ModelPicker)
        self.run_settings = QToolButton()
        self.run_settings.setObjectName("composerTool")
        self.run_settings.setText("⚙")
        self.run_settings.setToolTip("How the model runs on this computer: context, GPU layers, sampling")
        self.run_settings.setAccessibleName("Run settings")
        self.effort_picker = QComboBox()
        self.effort_picker.setObjectName("effortPicker")
        self.effort_picker.setAccessibleName("Reasoning effort")
        for effort in ReasoningEffort:
            self.effort_picker.addItem(f"Reasoning: {effort.value}", effort)
        self.context_meter = ContextMeter()
        self.send_button = QPushButton("Send")
        self.send_button.setObjectName("primaryButton")
        self.send_button.setToolTip("Send (Enter)")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop the reply (Esc)")

        column = QVBoxLayout(self)
        column.setContentsMargins(10, 6, 8, 6)
        column.setSpacing(4)
        column.addWidget(self.composer)
        row = QHBoxLayout()
        row.setSpacing(6)
        tools: tuple[QWidget, ...] = (self.model_picker, self.run_settings, self.effort_picker)
        for widget in tools:
            row.addWidget(widget)
        row.addStretch(1)
        row.addWidget(self.context_meter)
        # Send and Stop take turns in one place that fits the larger of the two, so the message box above does
        # not move when one replaces the other (the primary button's style makes Send a few pixels taller), and
        # both fill that place, so Stop is as large as the Send it replaces.
        swap = QGridLayout()
        swap.setContentsMargins(0, 0, 0, 0)
        for button in (self.stop_button, self.send_button):
            policy = button.sizePolicy()
            policy.setRetainSizeWhenHidden(True)
            policy.setVerticalPolicy(QSizePolicy.Policy.Preferred)
            button.setSizePolicy(policy)
            swap.addWidget(button, 0, 0)
        self.stop_button.hide()
        row.addLayout(swap)
        column.addLayout(row)
        # Tab goes from the text to Send, then to the choices that shape the reply.
        QWidget.setTabOrder(self.composer, self.send_button)
        QWidget.setTabOrder(self.send_button, self.model_picker)
        QWidget.setTabOrder(self.model_picker, self.run_settings)
        QWidget.setTabOrder(self.run_settings, self.effort_picker)
