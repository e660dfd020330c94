"""Settings → Chat: the instructions every new chat starts with (and presets of them), and how reasoning is shown
and how hard a reasoning model thinks by default."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.core.settings import BUILTIN_PRESETS, Settings
from app.core.types import ReasoningEffort
from app.qt.settings_controller import SettingsController
from app.ui.settings.common import Card, SettingsSection, fit_width

AskName = Callable[[str, str], str | None]  # (question, suggested name) -> the name typed, None if cancelled
_TYPING_PAUSE_MS = 600  # the prompt is saved once typing pauses, not on every key
_DISPLAYS = (
    ("auto", "Open while thinking, then folded"),
    ("shown", "Always shown"),
    ("hidden", "Hidden"),
)
_BUILTIN = "builtin"
_MINE = "mine"


class ChatPane(SettingsSection):
    """Submits each change at once, except the instructions: once typing pauses (see ``flush``)."""

    FIELDS = ("system_prompt", "system_prompt_presets", "reasoning_display", "reasoning_effort")

    def __init__(self, owner: SettingsController, parent: QWidget | None = None) -> None:
        super().__init__("Chat", "How new chats start, and how reasoning models think and show it.", owner, parent)
        self.ask_name: AskName = self._input_dialog  # tests answer it instead
        self._quiet = False
        self._typing = QTimer(self)
        self._typing.setSingleShot(True)
        self._typing.setInterval(_TYPING_PAUSE_MS)
        self._build()
        self.show_settings(owner.settings)
        self._typing.timeout.connect(self.flush)
        self.prompt.textChanged.connect(self._on_prompt_edited)
        self.presets.activated.connect(self._on_preset_chosen)
        self.presets.currentIndexChanged.connect(self._update_buttons)
        self.save_preset_button.clicked.connect(self.save_preset)
        self.delete_preset_button.clicked.connect(self.delete_preset)
        self.display.activated.connect(lambda _i: self._submit(reasoning_display=self.display.currentData()))
        self.effort.activated.connect(lambda _i: self._submit(reasoning_effort=self.effort.currentData()))

    def _build(self) -> None:
        card = self.add_card(Card("New chats"))
        row = QHBoxLayout()
        row.setSpacing(8)
        self.presets = QComboBox()
        self.presets.setAccessibleName("Presets")
        self.presets.setPlaceholderText("Choose a preset…")
        self.presets.setMinimumWidth(220)
        self.save_preset_button = QPushButton("Save as preset…")
        self.save_preset_button.setAccessibleName("Save these instructions as a preset")
        self.delete_preset_button = QPushButton("Delete preset")
        self.delete_preset_button.setAccessibleName("Delete the chosen preset")
        row.addWidget(self.presets, 1)
        row.addWidget(self.save_preset_button)
        row.addWidget(self.delete_preset_button)
        self.status = QLabel()  # what Save or Delete did (or why it did not)
        self.status.setWordWrap(True)
        self.status.hide()
        field = QVBoxLayout()
        field.setSpacing(3)
        field.addLayout(row)
        field.addWidget(self.status)
        card.add_row("Presets", field, "Choose one to fill in the instructions below, or keep your own as a preset.")
        self.prompt = QPlainTextEdit()
        self.prompt.setAccessibleName("Instructions for new chats")
        self.prompt.setTabChangesFocus(True)
        self.prompt.setMinimumHeight(120)
        self.prompt.setMaximumHeight(200)
        card.add_row(
            "Instructions",
            self.prompt,
            "Sent at the start of every new chat: who the assistant is and how it answers. Chats already "
            "started keep their own.",
        )

        reasoning = self.add_card(Card("Reasoning"))
        self.display = QComboBox()
        self.display.setAccessibleName("Reasoning display")
        for value, label in _DISPLAYS:
            self.display.addItem(label, value)
        fit_width(self.display, 280)
        reasoning.add_row(
            "Show reasoning",
            self.display,
            "How a reasoning model's thinking appears above its answer. It is kept with the chat and never sent "
            "back to the model.",
        )
        self.effort = QComboBox()
        self.effort.setAccessibleName("Default reasoning effort")
        for effort in ReasoningEffort:
            self.effort.addItem(effort.value.capitalize(), effort.value)
        fit_width(self.effort)
        reasoning.add_row(
            "Reasoning effort",
            self.effort,
            "How long gpt-oss thinks before it answers, for new chats. High is slower and more careful; each "
            "chat can change it beside the message box.",
        )
        self.finish()

    # -- showing ------------------------------------------------------------------------------------------

    def show_settings(self, settings: Settings) -> None:
        """Put ``settings`` on screen without submitting anything."""
        self._typing.stop()
        self._quiet = True
        try:
            self._fill_presets(settings.system_prompt_presets)
            if self.prompt.toPlainText() != settings.system_prompt:
                self.prompt.setPlainText(settings.system_prompt)
            self._select_matching_preset()
            self.display.setCurrentIndex(max(0, self.display.findData(settings.reasoning_display)))
            self.effort.setCurrentIndex(max(0, self.effort.findData(settings.reasoning_effort)))
        finally:
            self._quiet = False
        self._update_buttons()

    def _fill_presets(self, mine: tuple[tuple[str, str], ...]) -> None:
        self.presets.clear()
        for name, text in BUILTIN_PRESETS:
            self.presets.addItem(name, (_BUILTIN, name, text))
        if mine:
            self.presets.insertSeparator(self.presets.count())
        for name, text in mine:
            self.presets.addItem(name, (_MINE, name, text))
        self.presets.setCurrentIndex(-1)

    def _select_matching_preset(self) -> None:
        """The preset these instructions are, if any (so Delete knows what it would delete)."""
        text = self.prompt.toPlainText()
        for index in range(self.presets.count()):
            data = self.presets.itemData(index)
            if data and data[2] == text:
                self.presets.setCurrentIndex(index)
                return
        self.presets.setCurrentIndex(-1)

    def _update_buttons(self, *_args: object) -> None:
        data = self.presets.currentData()
        mine = bool(data) and data[0] == _MINE
        self.delete_preset_button.setEnabled(mine)
        self.delete_preset_button.setToolTip(
            "" if mine or not data else "Presets that come with Moss cannot be deleted."
        )
        self.save_preset_button.setEnabled(bool(self.prompt.toPlainText().strip()))

    # -- choosing -----------------------------------------------------------------------------------------

    def _submit(self, **changes: Any) -> None:
        if not self._quiet:
            self.submit(**changes)

    def _on_prompt_edited(self) -> None:
        if self._quiet:
            return
        self._typing.start()
        self.presets.blockSignals(True)
        self._select_matching_preset()
        self.presets.blockSignals(False)
        self._update_buttons()

    def flush(self) -> None:
        """Save the instructions now if they were edited (the window calls it when it closes)."""
        self._typing.stop()
        text = self.prompt.toPlainText()
        if text != self.settings.system_prompt:
            self._submit(system_prompt=text)

    def _on_preset_chosen(self, index: int) -> None:
        data = self.presets.itemData(index)
        if not data:
            return
        self._quiet = True
        try:
            self.prompt.setPlainText(data[2])
        finally:
            self._quiet = False
        self._update_buttons()
        self.flush()
        self._say("")

    def save_preset(self) -> None:
        """Keep the instructions as a preset under a name asked for (the same name replaces it)."""
        text = self.prompt.toPlainText().strip()
        if not text:
            return
        current = self.presets.currentData()
        name = self.ask_name("A name for this preset:", current[1] if current and current[0] == _MINE else "")
        name = " ".join((name or "").split())
        if not name:
            return
        if any(name.casefold() == builtin.casefold() for builtin, _ in BUILTIN_PRESETS):
            self._say(f"“{name}” is the name of a preset that comes with Moss. Choose another name.")
            return
        mine = [(n, t) for n, t in self.settings.system_prompt_presets if n.casefold() != name.casefold()]
        mine.append((name, text))
        self._commit_presets(tuple(sorted(mine, key=lambda pair: pair[0].casefold())), text)
        self._say(f"Saved as “{name}”.")

    def delete_preset(self) -> None:
        data = self.presets.currentData()
        if not data or data[0] != _MINE:
            return
        mine = tuple((n, t) for n, t in self.settings.system_prompt_presets if n != data[1])
        self._commit_presets(mine, self.prompt.toPlainText())
        self._say(f"Deleted “{data[1]}”. The instructions above stay as they are.")

    def _commit_presets(self, presets: tuple[tuple[str, str], ...], prompt: str) -> None:
        self._typing.stop()
        self._submit(system_prompt_presets=presets, system_prompt=prompt)
        self._quiet = True
        try:
            self._fill_presets(presets)
            self._select_matching_preset()
        finally:
            self._quiet = False
        self._update_buttons()

    def _say(self, text: str) -> None:
        self.status.setText(text)
        self.status.setVisible(bool(text))

    def _input_dialog(self, question: str, suggested: str) -> str | None:
        name, ok = QInputDialog.getText(self, "Save preset", question, text=suggested)
        return name if ok else None
