"""Settings → Appearance: light or dark (or as the system is), the text size, and compact spacing. Every change
restyles the running app at once (app.ui.theme.apply_theme)."""

from __future__ import annotations

import dataclasses
from typing import Any

from PySide6.QtWidgets import QApplication, QButtonGroup, QCheckBox, QComboBox, QHBoxLayout, QRadioButton, QWidget

from app.core.settings import FONT_SIZES, THEMES, Settings
from app.qt.settings_controller import SettingsController
from app.ui.settings.common import Card, SettingsSection, fit_width
from app.ui.theme import apply_theme

_THEME_LABELS = {"system": "Follow the system", "light": "Light", "dark": "Dark"}


class AppearancePane(SettingsSection):
    """Each change restyles the app, then is submitted; a change made elsewhere (a reset) restyles it too."""

    FIELDS = ("theme", "font_size", "compact")

    def __init__(self, owner: SettingsController, parent: QWidget | None = None) -> None:
        super().__init__("Appearance", "How Moss looks. Changes show at once.", owner, parent)
        self._quiet = False
        card = self.add_card(Card())
        row = QHBoxLayout()
        row.setSpacing(18)
        self.theme_group = QButtonGroup(self)
        self.theme_buttons: dict[str, QRadioButton] = {}
        for index, theme in enumerate(THEMES):
            button = QRadioButton(_THEME_LABELS[theme])
            button.setAccessibleName(f"Theme: {_THEME_LABELS[theme]}")
            self.theme_group.addButton(button, index)
            self.theme_buttons[theme] = button
            row.addWidget(button)
        row.addStretch(1)
        card.add_row("Theme", row, "“Follow the system” switches with your computer's light or dark setting.")
        self.font_size = QComboBox()
        self.font_size.setAccessibleName("Text size")
        self.font_size.addItem("System default", 0)
        for points in FONT_SIZES:
            self.font_size.addItem(f"{points} pt", points)
        fit_width(self.font_size)
        card.add_row("Text size", self.font_size, "The size of text everywhere in Moss.")
        self.compact = QCheckBox("Compact mode")
        self.compact.setAccessibleName("Compact mode")
        card.add_row("", self.compact, "Tighter spacing, so more of a chat and of the lists fits on the screen.")
        self.finish()
        self.show_settings(owner.settings)
        self.theme_group.idToggled.connect(self._on_theme_toggled)
        self.font_size.activated.connect(lambda _i: self._choose(font_size=int(self.font_size.currentData())))
        self.compact.toggled.connect(lambda on: self._choose(compact=on))

    def show_settings(self, settings: Settings) -> None:
        """Put ``settings`` on screen without submitting anything (the look itself: ``apply_look``)."""
        self._quiet = True
        try:
            self.theme_buttons.get(settings.theme, self.theme_buttons["system"]).setChecked(True)
            self.font_size.setCurrentIndex(max(0, self.font_size.findData(settings.font_size)))
            self.compact.setChecked(settings.compact)
        finally:
            self._quiet = False

    def changed_elsewhere(self, settings: Settings) -> None:
        self.show_settings(settings)
        self.apply_look(settings)

    def apply_look(self, settings: Settings | None = None) -> None:
        """Restyle the running app for ``settings`` (the ones saved, if None)."""
        s = settings or self.settings
        app = QApplication.instance()
        if isinstance(app, QApplication):
            apply_theme(app, s.theme, font_size=s.font_size, compact=s.compact)

    def _on_theme_toggled(self, index: int, checked: bool) -> None:
        if checked:
            self._choose(theme=THEMES[index])

    def _choose(self, **changes: Any) -> None:
        if self._quiet:
            return
        self.apply_look(dataclasses.replace(self.settings, **changes))
        self.submit(**changes)
