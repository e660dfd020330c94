"""Settings → Inference: how the model runs (the plan in words, and overrides for each of its choices) and how
replies are sampled.

Loading choices take effect when the model loads again ("Apply and reload"); automatic (the planner sizes each
load to this computer) unless the person chooses them, and "Reset to automatic" goes back. Sampling and the
reply length apply from the next reply, as soon as they change.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QWidget,
)

from app.core.settings import KV_TYPES, Settings
from app.core.types import ModelInfo
from app.qt.settings_controller import SettingsController
from app.ui.models.picker import model_label
from app.ui.settings.common import Card, SettingsSection, fit_width, hint

LOAD_FIELDS = (
    "manual_load",
    "context_length",
    "gpu_layers",
    "cpu_moe",
    "kv_type",
    "flash_attn",
    "n_threads",
    "n_batch",
)
SAMPLING_FIELDS = ("sampling_custom", "temperature", "top_p", "top_k", "min_p", "repeat_penalty", "max_tokens")
_KV_LABELS = {"f16": "f16 (full precision)", "q8_0": "q8_0 (half the memory)"}


def _spin(low: int, high: int, step: int, name: str, *, special: str = "") -> QSpinBox:
    box = QSpinBox()
    box.setRange(low, high)
    box.setSingleStep(step)
    box.setAccessibleName(name)
    box.setKeyboardTracking(False)  # one change when typing ends, not one per digit
    box.setGroupSeparatorShown(True)
    if special:
        box.setSpecialValueText(special)  # shown at the minimum
    fit_width(box)
    return box


def _real(low: float, high: float, step: float, name: str) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(low, high)
    box.setSingleStep(step)
    box.setDecimals(2)
    box.setAccessibleName(name)
    box.setKeyboardTracking(False)
    box.setStepType(QAbstractSpinBox.StepType.DefaultStepType)
    fit_width(box)
    return box


_SAMPLERS = ("temperature", "top_p", "top_k", "min_p", "repeat_penalty")


class InferencePane(SettingsSection):
    """Sampling changes are submitted as soon as one is made; the loading fields by "Apply and reload" and "Reset
    to automatic", after which it emits apply_requested() (the model is to load again with them)."""

    FIELDS = LOAD_FIELDS + SAMPLING_FIELDS
    apply_requested = Signal()

    def __init__(self, owner: SettingsController, parent: QWidget | None = None) -> None:
        summary = "How the model runs on this computer, and how it chooses its words."
        super().__init__("Inference", summary, owner, parent)
        self._model: ModelInfo | None = None
        self._quiet = False  # while values are being shown, not chosen
        self._shown_load: dict[str, Any] = {}  # the loading values as last put on screen
        self._build_plan()
        self._build_loading()
        self._build_sampling()
        self.finish()
        self.set_model(None)  # shows the settings too
        self.manual.toggled.connect(self._update_enabled)
        self.recommended.toggled.connect(self._on_recommended_toggled)
        for box in (self.temperature, self.top_p, self.min_p, self.repeat_penalty):
            box.valueChanged.connect(self._on_sampling_edited)
        for spin in (self.top_k, self.max_tokens):
            spin.valueChanged.connect(self._on_sampling_edited)
        for control in (self.manual, self.flash_attn):
            control.toggled.connect(self._update_pending)
        for spin in (self.context, self.gpu_layers, self.cpu_moe, self.threads, self.batch):
            spin.valueChanged.connect(self._update_pending)
        self.kv_type.currentIndexChanged.connect(self._update_pending)
        self.apply_button.clicked.connect(self.apply)
        self.reset_button.clicked.connect(self.reset_to_automatic)

    # -- construction -------------------------------------------------------------------------------------

    def _build_plan(self) -> None:
        card = self.add_card(Card("The model now"))
        self.model_name = QLabel()
        self.model_name.setObjectName("rowTitle")
        self.plan = hint("")
        self.plan.setAccessibleName("How the model is loaded")
        card.add_wide(self.model_name)
        card.add_wide(self.plan)

    def _build_loading(self) -> None:
        card = self.add_card(Card("Loading"))
        self.manual = QCheckBox("Choose these myself")
        self.manual.setAccessibleName("Choose the loading settings myself")
        card.add_wide(
            self.manual,
            "Otherwise Moss sizes each model to this computer's memory when it loads, and explains its choice above.",
        )
        self.context = _spin(0, 1 << 20, 1024, "Context length in tokens", special="Automatic")
        card.add_row(
            "Context length",
            self.context,
            "How much of the chat the model sees at once, in tokens. Longer takes more memory. Automatic: as "
            "long as fits, up to 32,768.",
        )
        self.gpu_layers = _spin(-1, 999, 1, "Layers on the GPU", special="All")
        card.add_row(
            "Layers on the GPU", self.gpu_layers, "More layers on the GPU is faster and takes more video memory."
        )
        self.cpu_moe = _spin(0, 999, 1, "Layers with experts in RAM")
        card.add_row(
            "Layers with experts in RAM",
            self.cpu_moe,
            "For mixture-of-experts models such as gpt-oss: these layers keep their experts in system memory, "
            "so a large model fits a small GPU, at some cost in speed.",
        )
        self.kv_type = QComboBox()
        self.kv_type.setAccessibleName("KV cache type")
        for kind in KV_TYPES:
            self.kv_type.addItem(_KV_LABELS[kind], kind)
        fit_width(self.kv_type)
        card.add_row(
            "KV cache", self.kv_type, "The memory that holds the chat. q8_0 needs half as much, and flash attention."
        )
        self.flash_attn = QCheckBox("Use flash attention")
        self.flash_attn.setAccessibleName("Use flash attention")
        card.add_row("", self.flash_attn, "Faster and leaner attention; a q8_0 cache needs it.")
        self.threads = _spin(0, max(64, os.cpu_count() or 1), 1, "CPU threads", special="Automatic")
        card.add_row("CPU threads", self.threads, "Processor threads for the model. Automatic suits most computers.")
        self.batch = _spin(0, 8192, 64, "Batch size in tokens", special="Automatic")
        card.add_row(
            "Batch size",
            self.batch,
            "Prompt tokens read per step. Larger reads long prompts faster and takes more memory.",
        )
        buttons = QHBoxLayout()
        self.reset_button = QPushButton("Reset to automatic")
        self.reset_button.setAccessibleName("Reset the loading settings to automatic and reload")
        self.pending_note = QLabel("Not applied yet.")
        self.pending_note.setObjectName("hintLabel")
        self.apply_button = QPushButton("Apply and reload")
        self.apply_button.setObjectName("primaryButton")
        self.apply_button.setAccessibleName("Apply the loading settings and reload the model")
        self.apply_button.setToolTip("Saves these settings and loads the model again with them")
        buttons.addWidget(self.reset_button)
        buttons.addStretch(1)
        buttons.addWidget(self.pending_note)
        buttons.addWidget(self.apply_button)
        card.add_wide(buttons)

    def _build_sampling(self) -> None:
        card = self.add_card(Card("Replies"))
        self.recommended = QCheckBox("Use the model's recommended sampling")
        self.recommended.setAccessibleName("Use the model's recommended sampling")
        card.add_wide(
            self.recommended,
            "Each model's makers recommend values: gpt-oss uses temperature 1 and top-p 1, with no other filter. "
            "Turn this off to choose your own. Changes apply from the next reply.",
        )
        self.temperature = _real(0.0, 2.0, 0.05, "Temperature")
        card.add_row("Temperature", self.temperature, "Higher gives more varied wording; lower, steadier answers.")
        self.top_p = _real(0.0, 1.0, 0.01, "Top-p")
        card.add_row(
            "Top-p", self.top_p, "Picks only among the likeliest words that together reach this share. 1: off."
        )
        self.top_k = _spin(0, 1000, 5, "Top-k", special="Off")
        card.add_row("Top-k", self.top_k, "Picks only among this many likeliest words.")
        self.min_p = _real(0.0, 1.0, 0.01, "Min-p")
        card.add_row("Min-p", self.min_p, "Leaves out words less likely than this share of the likeliest one. 0: off.")
        self.repeat_penalty = _real(1.0, 2.0, 0.05, "Repeat penalty")
        card.add_row("Repeat penalty", self.repeat_penalty, "Discourages repeating words. 1: off.")
        self.max_tokens = _spin(256, 131_072, 256, "Reply length limit in tokens")
        card.add_row(
            "Reply length limit",
            self.max_tokens,
            "The longest a reply may be, in tokens (about ¾ of a word each), reasoning included.",
        )

    # -- showing ------------------------------------------------------------------------------------------

    def set_model(self, info: ModelInfo | None) -> None:
        """Show how ``info`` was loaded (None: no model) and, unless the person chose values, start from them."""
        self._model = info
        if info is None:
            self.model_name.setText("No model is loaded.")
            self.plan.setText("Load a model to see how it runs on this computer.")
        else:
            self.model_name.setText(model_label(info.path))
            self.plan.setText("\n".join(info.plan) or "Loaded with default settings.")
        self.show_settings(self.settings)

    def show_settings(self, settings: Settings) -> None:
        """Put ``settings`` on screen without submitting anything (they are what is saved)."""
        self._quiet = True
        try:
            shown = settings
            loaded = self._model.load_params if self._model is not None else None
            self.manual.setChecked(settings.manual_load)
            self.context.setValue(settings.context_length)
            # The manual values if they are in use, else what the model was loaded with: a place to start.
            if loaded is not None and not settings.manual_load:
                gpu, moe, kv, flash = loaded.n_gpu_layers, loaded.n_cpu_moe, loaded.type_k, loaded.flash_attn
            else:
                gpu, moe, kv, flash = shown.gpu_layers, shown.cpu_moe, shown.kv_type, shown.flash_attn
            self.gpu_layers.setValue(gpu)
            self.cpu_moe.setValue(moe)
            self.kv_type.setCurrentIndex(max(0, self.kv_type.findData(kv)))
            self.flash_attn.setChecked(flash)
            self.threads.setValue(settings.n_threads)
            self.batch.setValue(settings.n_batch)
            self.recommended.setChecked(not settings.sampling_custom)
            self._show_sampling(settings)
            self.max_tokens.setValue(settings.max_tokens)
        finally:
            self._quiet = False
        self._update_enabled()
        self._shown_load = self.load_values()  # what "not applied yet" compares with
        self._update_pending()

    def _show_sampling(self, settings: Settings) -> None:
        """The person's values when they chose their own; otherwise the model's (greyed), which is what runs."""
        values: Any = settings
        if not settings.sampling_custom and self._model is not None:
            values = self._model.default_params
        self.temperature.setValue(values.temperature)
        self.top_p.setValue(values.top_p)
        self.top_k.setValue(values.top_k)
        self.min_p.setValue(values.min_p)
        self.repeat_penalty.setValue(values.repeat_penalty)

    def _update_enabled(self) -> None:
        manual = self.manual.isChecked()
        custom = not self.recommended.isChecked()
        for widget in (self.gpu_layers, self.cpu_moe, self.kv_type, self.flash_attn):
            widget.setEnabled(manual)
        for sampler in (self.temperature, self.top_p, self.top_k, self.min_p, self.repeat_penalty):
            sampler.setEnabled(custom)

    def _update_pending(self) -> None:
        # Against what was put on screen, not the saved values: in automatic mode the controls show what the
        # model was loaded with, which differs from the saved defaults without anything being changed.
        self.pending_note.setVisible(bool(self._shown_load) and self.load_values() != self._shown_load)

    # -- choosing -----------------------------------------------------------------------------------------

    def load_values(self) -> dict[str, Any]:
        """The loading fields as shown."""
        return {
            "manual_load": self.manual.isChecked(),
            "context_length": self.context.value(),
            "gpu_layers": self.gpu_layers.value(),
            "cpu_moe": self.cpu_moe.value(),
            "kv_type": str(self.kv_type.currentData()),
            "flash_attn": self.flash_attn.isChecked(),
            "n_threads": self.threads.value(),
            "n_batch": self.batch.value(),
        }

    def sampling_values(self) -> dict[str, Any]:
        """The sampling fields as shown (the numbers are kept even while the model's own are used)."""
        values: dict[str, Any] = {
            "sampling_custom": not self.recommended.isChecked(),
            "max_tokens": self.max_tokens.value(),
        }
        if values["sampling_custom"]:
            values.update(
                temperature=round(self.temperature.value(), 2),
                top_p=round(self.top_p.value(), 2),
                top_k=self.top_k.value(),
                min_p=round(self.min_p.value(), 2),
                repeat_penalty=round(self.repeat_penalty.value(), 2),
            )
        return values

    def apply(self) -> None:
        """Submit the loading fields as shown, then ask for the model to load again with them."""
        self.submit(**self.load_values())
        self.show_settings(self.settings)
        self.apply_requested.emit()

    def reset_to_automatic(self) -> None:
        """Back to the planner's choices (and automatic threads and batch), applied at once."""
        self._quiet = True
        try:
            self.manual.setChecked(False)
            self.context.setValue(0)
            self.threads.setValue(0)
            self.batch.setValue(0)
        finally:
            self._quiet = False
        self.apply()

    def _on_recommended_toggled(self, recommended: bool) -> None:
        self._update_enabled()
        if self._quiet:
            return
        # Ticked: show what will run (the model's values). Unticked: show the person's own saved numbers
        # again, so that choosing them does not overwrite them with the model's.
        self._quiet = True
        try:
            shown = self._settings_without_custom() if recommended else self._settings_with_custom()
            self._show_sampling(shown)
        finally:
            self._quiet = False
        self._on_sampling_edited()

    def _settings_with_custom(self) -> Settings:
        """Sampling of one's own: the numbers chosen before, or (never chosen) the model's as a start."""
        own = dataclasses.replace(self.settings, sampling_custom=True)
        untouched = all(getattr(own, name) == getattr(Settings(), name) for name in _SAMPLERS)
        if untouched and self._model is not None:
            model = self._model.default_params
            own = dataclasses.replace(own, **{name: getattr(model, name) for name in _SAMPLERS})
        return own

    def _settings_without_custom(self) -> Settings:
        return dataclasses.replace(self.settings, sampling_custom=False)

    def _on_sampling_edited(self, *_args: object) -> None:
        if not self._quiet:
            self.submit(**self.sampling_values())
