"""Run settings: the offload plan in words, and overrides for each of its choices.

Automatic (the planner sizes every load to the machine) unless the person chooses the values; "Reset to
automatic" goes back. Applying reloads the model.
"""

from __future__ import annotations

import dataclasses

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.core.settings import Settings
from app.core.types import LoadParams, ModelInfo

_RESET = "Reset to automatic"


class InferenceDialog(QDialog):
    def __init__(self, settings: Settings, model: ModelInfo | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Run settings")
        self._settings = settings
        layout = QVBoxLayout(self)
        plan = QLabel("\n".join(model.plan) if model else "No model is loaded.")
        plan.setObjectName("hintLabel")
        plan.setWordWrap(True)
        layout.addWidget(plan)
        self.manual = QCheckBox("Choose these myself (otherwise Moss sizes each model to this computer)")
        layout.addWidget(self.manual)
        form = QFormLayout()
        current = model.load_params if model else None
        self.context = QSpinBox()
        self.context.setRange(0, 1 << 20)
        self.context.setSingleStep(1024)
        self.context.setSpecialValueText("automatic")
        self.gpu_layers = QSpinBox()
        self.gpu_layers.setRange(-1, 1000)
        self.gpu_layers.setSpecialValueText("all")
        self.cpu_moe = QSpinBox()
        self.cpu_moe.setRange(0, 1000)
        self.kv_type = QComboBox()
        self.kv_type.addItems(["f16", "q8_0"])
        self.flash_attn = QCheckBox("Flash attention (needed for a q8_0 cache; less memory)")
        form.addRow("Context length (tokens)", self.context)
        form.addRow("Layers on the GPU", self.gpu_layers)
        form.addRow("Layers with experts in RAM", self.cpu_moe)
        form.addRow("KV cache type", self.kv_type)
        form.addRow("", self.flash_attn)
        layout.addLayout(form)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.reset_button = buttons.addButton(_RESET, QDialogButtonBox.ButtonRole.ResetRole)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.reset_button.clicked.connect(self.reset_to_automatic)
        layout.addWidget(buttons)
        self.manual.toggled.connect(self._on_manual_toggled)
        self._show(settings, current)

    def _show(self, settings: Settings, current: LoadParams | None) -> None:
        """The manual values if they are in use, else what the current model was loaded with (a start)."""
        self.manual.setChecked(settings.manual_load)
        self.context.setValue(settings.context_length)
        if current is not None and not settings.manual_load:
            settings = dataclasses.replace(
                settings,
                gpu_layers=current.n_gpu_layers,
                cpu_moe=current.n_cpu_moe,
                kv_type=current.type_k,
                flash_attn=current.flash_attn,
            )
        self.gpu_layers.setValue(settings.gpu_layers)
        self.cpu_moe.setValue(settings.cpu_moe)
        self.kv_type.setCurrentText(settings.kv_type)
        self.flash_attn.setChecked(settings.flash_attn)
        self._on_manual_toggled(self.manual.isChecked())

    def _on_manual_toggled(self, manual: bool) -> None:
        for widget in (self.gpu_layers, self.cpu_moe, self.kv_type, self.flash_attn):
            widget.setEnabled(manual)

    def reset_to_automatic(self) -> None:
        self.manual.setChecked(False)
        self.context.setValue(0)
        self.accept()

    def result_settings(self) -> Settings:
        """The settings with what the dialog shows."""
        return dataclasses.replace(
            self._settings,
            manual_load=self.manual.isChecked(),
            context_length=self.context.value(),
            gpu_layers=self.gpu_layers.value(),
            cpu_moe=self.cpu_moe.value(),
            kv_type=self.kv_type.currentText(),
            flash_attn=self.flash_attn.isChecked(),
        )
