"""Building blocks shared by the settings window's sections: a scrolling page with a title, cards of labelled
rows, and the short hints under technical values, so every section looks and reads the same; and a section
that edits settings through their one owner (``SettingsSection``)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QEvent, QSize, Qt, Slot
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QLabel,
    QLayout,
    QListWidget,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from app.core.settings import Settings
from app.qt.settings_controller import SettingsController

LABEL_WIDTH = 170  # the left column of every card, so the controls of all cards line up


def hint(text: str) -> QLabel:
    """A muted explanation under a control: what the value does, in a sentence."""
    label = QLabel(text)
    label.setObjectName("hintLabel")
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.NoTextInteraction)
    return label


class SettingsPage(QScrollArea):
    """A section's page: a title and a one-line summary, then cards, scrolling when the window is short."""

    def __init__(self, title: str, summary: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("settingsPage")
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        canvas = QWidget()
        canvas.setObjectName("settingsCanvas")
        self.column = QVBoxLayout(canvas)
        self.column.setContentsMargins(28, 22, 28, 22)
        self.column.setSpacing(14)
        heading = QLabel(title)
        heading.setObjectName("paneTitle")
        heading.setAccessibleName(f"{title} settings")
        self.column.addWidget(heading)
        if summary:
            self.column.addWidget(hint(summary))
        self.column.addSpacing(2)
        self.setWidget(canvas)

    def add_card(self, card: Card) -> Card:
        self.column.addWidget(card)
        return card

    def finish(self) -> None:
        """After the last card: the rest of the page stays empty."""
        self.column.addStretch(1)


class SettingsSection(SettingsPage):
    """A page whose controls edit some of the settings (``FIELDS``). It keeps no copy: it reads the owner's
    settings, submits its edits there, and redraws (``show_settings``) only when one of its fields changes
    elsewhere (Delete all data resets them), never for its own edit: that would disturb what is being typed
    or chosen, such as loading values not applied yet."""

    FIELDS: tuple[str, ...] = ()

    def __init__(self, title: str, summary: str, owner: SettingsController, parent: QWidget | None = None) -> None:
        super().__init__(title, summary, parent)
        self.owner = owner
        self._submitting = False
        owner.changed.connect(self._on_settings_changed)

    @property
    def settings(self) -> Settings:
        return self.owner.settings

    def show_settings(self, settings: Settings) -> None:
        """Put ``settings`` on screen without submitting anything."""
        raise NotImplementedError

    def submit(self, **changes: Any) -> None:
        """The settings with ``changes``, saved and announced by the owner."""
        self._submitting = True
        try:
            self.owner.update(**changes)
        finally:
            self._submitting = False

    def changed_elsewhere(self, settings: Settings) -> None:
        """Some of this page's fields were changed by someone else: show them."""
        self.show_settings(settings)

    @Slot(object, object)
    def _on_settings_changed(self, settings: Settings, before: Settings) -> None:
        if not self._submitting and any(getattr(settings, n) != getattr(before, n) for n in self.FIELDS):
            self.changed_elsewhere(settings)


class Card(QFrame):
    """A titled group of rows: a label on the left, the control with its hint on the right."""

    def __init__(self, title: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("settingsCard")
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        self.grid = QGridLayout(self)
        self.grid.setContentsMargins(18, 14, 18, 16)
        self.grid.setHorizontalSpacing(18)
        self.grid.setVerticalSpacing(10)
        self.grid.setColumnMinimumWidth(0, LABEL_WIDTH)
        self.grid.setColumnStretch(1, 1)
        self._row = 0
        if title:
            heading = QLabel(title)
            heading.setObjectName("cardTitle")
            self.grid.addWidget(heading, 0, 0, 1, 2)
            self._row = 1

    def add_row(self, label: str, control: QWidget | QLayout, explanation: str = "") -> QLabel | None:
        """A labelled row; ``explanation`` goes under the control. Returns the hint label, if any."""
        name = QLabel(label)
        name.setObjectName("rowLabel")
        name.setWordWrap(True)
        name.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        name.setContentsMargins(0, 5, 0, 0)  # level with the control's text
        if isinstance(control, QWidget):
            name.setBuddy(control)
        self.grid.addWidget(name, self._row, 0)
        return self._add_field(control, explanation, column=1, span=1)

    def add_wide(self, control: QWidget | QLayout, explanation: str = "") -> QLabel | None:
        """A row across the whole card (a check box that says what it does, a paragraph)."""
        return self._add_field(control, explanation, column=0, span=2)

    def _add_field(self, control: QWidget | QLayout, explanation: str, *, column: int, span: int) -> QLabel | None:
        box = QVBoxLayout()
        box.setSpacing(3)
        if isinstance(control, QWidget):
            box.addWidget(control)
        else:
            box.addLayout(control)
        note = hint(explanation) if explanation else None
        if note is not None:
            box.addWidget(note)
        self.grid.addLayout(box, self._row, column, 1, span)
        self._row += 1
        return note


class SectionList(QListWidget):
    """The settings window's list of sections, its rows and width following the text size so that no name is
    cut off (call ``fit`` once the names are in; a font change fits it again)."""

    MIN_WIDTH = 180  # at 9 pt: every name fits with room to spare
    ROW_PADDING = 20  # a row's height beyond its line of text: 34 px at 9 pt
    CHROME = 56  # the rows' and the list's padding (theme.py), its border, and room for a scroll bar

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.FontChange:
            self.fit()

    def fit(self) -> None:
        metrics = self.fontMetrics()
        longest = max((metrics.horizontalAdvance(self.item(row).text()) for row in range(self.count())), default=0)
        row_size = QSize(longest, metrics.height() + self.ROW_PADDING)
        for row in range(self.count()):
            self.item(row).setSizeHint(row_size)
        self.setFixedWidth(max(self.MIN_WIDTH, longest + self.CHROME))


def fit_width(widget: QWidget, width: int = 220) -> QWidget:
    """Spin boxes and lists of choices at a readable width rather than stretched across the card."""
    widget.setMaximumWidth(width)
    widget.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
    return widget
